#!/usr/bin/env bash
# One kv-c<N> measurement: a fresh 3-member cluster on loopback with its disk log and fsync,
# 8-byte keys, 256-byte values, N concurrent clients doing puts against the leader.
#
#   scripts/kv-bench.sh raftkv|etcd CLIENTS
#
# Prints the load generator's own summary, then one line "<throughput> req/s p99=<ms>ms".
# raftkv: release build (.build-compare/release/raftkv), `raftkv bench` for 10 s.
# etcd:   ../shared/peers/etcd-start3.sh and etcdputbench (20 s worth of puts at most).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
peers_dir=${PEERS_DIR:-$(cd "$here/../shared/peers" && pwd)}
peer_bin=${PEERS_BIN:-/tmp/raft-peers/bin}
which=$1
clients=$2
work=$(mktemp -d /tmp/kv-bench-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

case "$which" in
  raftkv)
    bin="$here/.build-compare/release/raftkv"
    [ -x "$bin" ] || (cd "$here" && swift build -c release --product raftkv --scratch-path "$here/.build-compare" >&2)
    peers="n1=127.0.0.1:28101,n2=127.0.0.1:28102,n3=127.0.0.1:28103"
    peers_http="n1=127.0.0.1:28201,n2=127.0.0.1:28202,n3=127.0.0.1:28203"
    for i in 1 2 3; do
      "$bin" serve --id "n$i" --raft "127.0.0.1:2810$i" --http "127.0.0.1:2820$i" --peers "$peers" \
        --peers-http "$peers_http" --data-dir "$work/n$i" --log-level error > "$work/n$i.log" 2>&1 &
      pids+=($!)
    done
    leader=""
    for _ in $(seq 1 100); do
      for i in 1 2 3; do
        if "$bin" status --json --url "http://127.0.0.1:2820$i" 2>/dev/null | grep -q '"role" *: *"leader"'; then
          leader="http://127.0.0.1:2820$i"
        fi
      done
      [ -n "$leader" ] && break
      sleep 0.1
    done
    [ -n "$leader" ] || { echo "no raftkv leader" >&2; exit 1; }
    out=$("$bin" bench --url "$leader" --clients "$clients" --duration 10s --value-size 256 2>/dev/null)
    printf '%s\n' "$out" >&2
    throughput=$(printf '%s\n' "$out" | grep -oE "throughput: *[0-9.]+" | grep -oE "[0-9.]+$")
    p99=$(printf '%s\n' "$out" | grep -oE "p99[^0-9]*[0-9.]+" | head -n 1 | grep -oE "[0-9.]+$" || echo nan)
    echo "$throughput req/s p99=${p99}ms"
    ;;
  etcd)
    bash "$peers_dir/etcd-start3.sh" "$work" >&2
    for i in 1 2 3; do pids+=("$(cat "$work/m$i.pid")"); done
    for _ in $(seq 1 100); do
      ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:12379 put warmup x > /dev/null 2>&1 && break
      sleep 0.1
    done
    leader=$(ETCDCTL_API=3 etcdctl --endpoints 127.0.0.1:12379,127.0.0.1:22379,127.0.0.1:32379 \
      endpoint status -w json 2>/dev/null | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    if s["Status"]["leader"] == s["Status"]["header"]["member_id"]:
        print(s["Endpoint"])' | head -n 1)
    total=$((clients * 400))
    [ "$total" -lt 2000 ] && total=2000
    out=$("$peer_bin/etcdputbench" -endpoints "${leader:-127.0.0.1:12379}" -conns "$(( clients < 10 ? clients : 10 ))" \
      -clients "$clients" -total "$total" -key-size 8 -val-size 256 2>&1)
    printf '%s\n' "$out" >&2
    throughput=$(printf '%s\n' "$out" | grep -oE "[0-9.]+ req/s" | grep -oE "^[0-9.]+")
    p99=$(printf '%s\n' "$out" | grep -oE "p99=[0-9.]+" | grep -oE "[0-9.]+$")
    echo "$throughput req/s p99=${p99}ms"
    ;;
  *)
    echo "usage: $0 raftkv|etcd CLIENTS" >&2
    exit 2
    ;;
esac
