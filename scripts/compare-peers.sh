#!/usr/bin/env bash
# Side-by-side benchmarks of WebRaft against the peers in ../shared/peers (etcd's raft,
# hashicorp/raft, etcd server), interleaved ours/peer/ours/peer/… in one run, release builds.
#
#   scripts/compare-peers.sh [--pairs 3] [--only core,runtime,tcp,kv,failover,restart]
#
# Prints one line per comparison, `ratio NAME OURS PEER RATIO` (higher RATIO is better for us;
# for latencies the ratio is peer/ours so that above 1 still means we are faster), then a summary.
# Each side's figure is the median of its runs. Peers are installed with ../shared/peers/setup.sh
# when missing.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
peers_dir=${PEERS_DIR:-$(cd "$here/../shared/peers" 2>/dev/null && pwd || true)}
peer_bin=${PEERS_BIN:-/tmp/raft-peers/bin}
pairs=3
only="core,runtime,tcp,kv,failover,restart"
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) pairs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
wanted() { [[ ",$only," == *",$1,"* ]]; }
log() { printf '%s\n' "$*" >&2; }

if [ ! -x "$peer_bin/rawbench" ] || [ ! -x "$peer_bin/hcbench" ] || [ ! -x "$peer_bin/etcdputbench" ]; then
  [ -n "$peers_dir" ] || { echo "peers not found: set PEERS_DIR to shared/peers" >&2; exit 1; }
  log "installing peers with $peers_dir/setup.sh (about 2 minutes)"
  bash "$peers_dir/setup.sh" >&2
fi

bench_dir="$here/Benchmarks"
scratch="$bench_dir/.build-compare"
log "building benchmarks in release"
(cd "$bench_dir" && swift build -c release --scratch-path "$scratch" >&2)
bin="$scratch/release"

# median of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }
# first number before a unit in a line of text: extract "<number> commits/s"
number_before() { grep -oE "[0-9]+(\.[0-9]+)? *$1" | head -n 1 | grep -oE "^[0-9]+(\.[0-9]+)?"; }

results=()
report() { # name ours peer higher|lower
  local name=$1 ours=$2 peer=$3 sense=$4 ratio
  if [ "$sense" = higher ]; then
    ratio=$(awk -v o="$ours" -v p="$peer" 'BEGIN { if (p > 0) printf "%.2f", o / p; else print "nan" }')
  else
    ratio=$(awk -v o="$ours" -v p="$peer" 'BEGIN { if (o > 0) printf "%.2f", p / o; else print "nan" }')
  fi
  printf 'ratio %s %s %s %s\n' "$name" "$ours" "$peer" "$ratio"
  results+=("$name $ratio")
}

# compare NAME UNIT OURS_COMMAND PEER_COMMAND: interleaved pairs, medians of "<n> UNIT".
compare() {
  local name=$1 unit=$2 ours_cmd=$3 peer_cmd=$4 ours=() peer=() out value
  for _ in $(seq "$pairs"); do
    out=$(eval "$ours_cmd" 2>&1) || { log "$name: ours failed: $out"; return 0; }
    value=$(printf '%s\n' "$out" | number_before "$unit") || true
    ours+=("${value:-0}")
    out=$(eval "$peer_cmd" 2>&1) || { log "$name: peer failed: $out"; return 0; }
    value=$(printf '%s\n' "$out" | number_before "$unit") || true
    peer+=("${value:-0}")
  done
  report "$name" "$(printf '%s\n' "${ours[@]}" | median)" "$(printf '%s\n' "${peer[@]}" | median)" higher
}

# compare_kv CLIENTS: interleaved kv-bench runs; throughput (higher is better) and p99 latency
# (lower is better, reported as peer/ours) as two ratio lines.
compare_kv() {
  local clients=$1 ours=() peer=() ours_p99=() peer_p99=() out
  for _ in $(seq "$pairs"); do
    out=$(bash "$here/scripts/kv-bench.sh" raftkv "$clients" 2>/dev/null | tail -n 1) || { log "kv-c$clients: ours failed"; return 0; }
    ours+=("$(printf '%s\n' "$out" | number_before "req/s" || echo 0)")
    ours_p99+=("$(printf '%s\n' "$out" | grep -oE "p99=[0-9.]+" | grep -oE "[0-9.]+$" || echo 0)")
    out=$(bash "$here/scripts/kv-bench.sh" etcd "$clients" 2>/dev/null | tail -n 1) || { log "kv-c$clients: etcd failed"; return 0; }
    peer+=("$(printf '%s\n' "$out" | number_before "req/s" || echo 0)")
    peer_p99+=("$(printf '%s\n' "$out" | grep -oE "p99=[0-9.]+" | grep -oE "[0-9.]+$" || echo 0)")
  done
  report "kv-c$clients" "$(printf '%s\n' "${ours[@]}" | median)" "$(printf '%s\n' "${peer[@]}" | median)" higher
  report "kv-c$clients-p99" "$(printf '%s\n' "${ours_p99[@]}" | median)" "$(printf '%s\n' "${peer_p99[@]}" | median)" lower
}

if wanted core; then
  for batch in 1 64 1000; do
    compare "core-batch$batch" "commits/s" \
      "$bin/CoreBenchmark --batch $batch --count 200000 --size 16" \
      "$peer_bin/rawbench -batch $batch -n 200000 -size 16"
  done
fi

if wanted runtime; then
  for writers in 1 256; do
    compare "runtime-w$writers" "commits/s" \
      "$bin/RuntimeBenchmark --writers $writers --count 20000 --size 16" \
      "$peer_bin/hcbench -transport inmem -w $writers -n 20000 -size 16"
    # Swift's default executor above; for reference, the same with every task on one NIO event
    # loop (nodes of one process that never switch threads).
    log "runtime-w$writers on one event loop: $("$bin/RuntimeBenchmark" --writers "$writers" --count 20000 --size 16 --nio-executor 1 --shared-loops 1 | number_before "commits/s") commits/s"
  done
fi

if wanted tcp; then
  if [ -x "$bin/TCPBenchmark" ]; then
    # The kernel's share of a commit over loopback TCP, in C without Raft: the least any
    # implementation's tcp-w1 round can take on this machine (BENCHMARKS.md, "tcp-w1").
    "$bin/LoopbackFloor" --rounds 50000 >&2 || log "LoopbackFloor failed"
    # Swift concurrency on NIO's event loops, as raftkv runs it (WebRaftNIO's "Latency" notes);
    # the figure with Swift's default executor is printed for reference.
    for writers in 1 256; do
      compare "tcp-w$writers" "commits/s" \
        "$bin/TCPBenchmark --writers $writers --count 20000 --size 16 --nio-executor 1" \
        "$peer_bin/hcbench -transport tcp -w $writers -n 20000 -size 16"
      log "tcp-w$writers with the default executor: $("$bin/TCPBenchmark" --writers "$writers" --count 20000 --size 16 | number_before "commits/s") commits/s"
    done
  else
    log "skip tcp: no TCPBenchmark in Benchmarks/"
  fi
fi

if wanted kv; then
  if [ -x "$here/scripts/kv-bench.sh" ]; then
    # kv-bench.sh builds raftkv only when it is missing: build it here so that a stale binary from
    # an earlier commit is never measured.
    log "building raftkv in release for the kv comparison"
    (cd "$here" && swift build -c release --product raftkv --scratch-path "$here/.build-compare" >&2)
    for clients in 1 10 100; do
      compare_kv "$clients"
    done
  else
    log "skip kv: scripts/kv-bench.sh is missing"
  fi
fi

if wanted failover; then
  log "building raftkv in release for the failover comparison"
  (cd "$here" && swift build -c release --product raftkv --scratch-path "$here/.build-compare" >&2)
  trials=${FAILOVER_TRIALS:-20}
  ours_out=$(python3 "$here/scripts/failover.py" --trials "$trials" --binary "$here/.build-compare/release/raftkv" 2>&1 || true)
  peer_out=$(python3 "$peers_dir/etcd_failover.py" --trials "$trials" 2>&1 || true)
  printf '%s\n' "$ours_out" | tail -n 1 >&2
  printf '%s\n' "$peer_out" | tail -n 2 >&2
  ours=$(printf '%s\n' "$ours_out" | number_before "ms median") || true
  peer=$(printf '%s\n' "$peer_out" | grep -oiE "median[^0-9]*[0-9]+(\.[0-9]+)?" | grep -oE "[0-9]+(\.[0-9]+)?$" | head -n 1) || true
  report failover "${ours:-0}" "${peer:-0}" lower
fi

if wanted restart; then
  if [ -x "$bin/StorageBenchmark" ]; then
    out=$("$bin/StorageBenchmark" --skip-appends 2>&1 || true)
    printf '%s\n' "$out" | grep -iE "restart|round" || true
  fi
fi

echo
echo "summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $pairs interleaved pairs per comparison):"
for line in "${results[@]}"; do
  set -- $line
  verdict=$(awk -v r="$2" 'BEGIN { print (r >= 1) ? "faster" : "slower" }')
  printf '  %-16s %6sx  (%s)\n' "$1" "$2" "$verdict"
done
