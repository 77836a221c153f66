#!/usr/bin/env bash
# raftkv on a real faulty network: three `raftkv serve` processes, each in a network namespace of
# its own (a veth pair to a bridge this script makes, an address of its own), every link shaped
# with `tc netem` (delay with jitter, loss, duplication, reordering). The test
# (RaftKVTests.NetnsTests) runs clients from outside the namespaces doing reads, writes and
# compare-and-sets while it cuts links, pauses and kills nodes; afterwards every acknowledged
# write must be on every node and the history linearizable.
#
# Usage: scripts/netns-test.sh [--seconds 60] [--seed 1] [--require-netem]
# Needs root and iproute2 (ip, tc). It removes every namespace, link and directory it made, also
# when the test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
seed=1
require_netem=no
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --require-netem) require_netem=yes; shift ;;
    *) echo "usage: $0 [--seconds N] [--seed N] [--require-netem]" >&2; exit 2 ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then echo "netns-test: needs root (network namespaces)" >&2; exit 1; fi
for tool in ip tc; do
  command -v "$tool" >/dev/null || { echo "netns-test: $tool is missing: apt-get install iproute2" >&2; exit 1; }
done

scratch="${SCRATCH_PATH:-.build}"
swift build --build-tests --scratch-path "$scratch"

# Names carry this run's PID, so that two runs never meet.
tag="wr$$"
bridge="${tag}br"
work=$(mktemp -d /tmp/raftkv-netns-XXXXXX)
made_namespaces=()
made_links=()
cleanup() {
  for pid_ns in "${made_namespaces[@]}"; do
    # Whatever still runs in the namespace: resume it (a paused node ignores SIGTERM), then stop it.
    for pid in $(ip netns pids "$pid_ns" 2>/dev/null); do kill -CONT "$pid" 2>/dev/null || true; done
    for pid in $(ip netns pids "$pid_ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns delete "$pid_ns" 2>/dev/null || true
  done
  for link in "${made_links[@]}"; do ip link delete "$link" 2>/dev/null || true; done
  ip link delete "$bridge" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Some kernels (minimal VM kernels among them) have no netem qdisc: the links then stay unshaped
# and the faults are link cuts, pauses and kills only. --require-netem makes that an error.
netem=yes
ip netns add "${tag}probe"
if ! ip netns exec "${tag}probe" tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
  netem=no
fi
ip netns delete "${tag}probe"
if [ "$netem" = no ]; then
  if [ "$require_netem" = yes ]; then
    echo "netns-test: this kernel has no netem qdisc (sch_netem); cannot shape the links" >&2
    exit 1
  fi
  echo "netns-test: NOTE: this kernel has no netem qdisc (sch_netem): links are NOT shaped (no delay," \
    "loss, duplication or reordering); the faults are link cuts, pauses and kills only" >&2
fi

ip link add "$bridge" type bridge
ip addr add 10.77.0.1/24 dev "$bridge"
ip link set "$bridge" up
hosts=""
for n in 1 2 3; do
  ns="${tag}n$n"
  host_side="${tag}v$n"
  ip netns add "$ns"
  made_namespaces+=("$ns")
  ip link add "$host_side" type veth peer name eth0 netns "$ns"
  made_links+=("$host_side")
  ip link set "$host_side" master "$bridge" up
  ip -n "$ns" addr add "10.77.0.1$n/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  if [ "$netem" = yes ]; then
    # Each node's outgoing traffic: 5 ms ± 3 ms, 1 % loss, 1 % duplicates, 5 % sent out of order.
    ip netns exec "$ns" tc qdisc add dev eth0 root netem delay 5ms 3ms distribution normal \
      loss 1% duplicate 1% reorder 5% 50%
    # And the traffic towards it, on the bridge side.
    tc qdisc add dev "$host_side" root netem delay 5ms 3ms distribution normal loss 1%
  fi
  hosts="${hosts:+$hosts,}n$n@$ns@$host_side@10.77.0.1$n"
done
echo "netns-test: namespaces ${made_namespaces[*]} on bridge $bridge; $seconds s, seed $seed, netem $netem"

status=0
RAFTKV_NETNS=1 RAFTKV_NETNS_HOSTS="$hosts" RAFTKV_NETNS_SECONDS="$seconds" RAFTKV_NETNS_SEED="$seed" \
  RAFTKV_NETNS_WORK="$work" timeout $((seconds + 300)) \
  swift test --skip-build --scratch-path "$scratch" --filter 'RaftKVTests.NetnsTests' || status=$?
if [ "$status" -ne 0 ]; then
  for log in "$work"/*.log; do
    [ -f "$log" ] && { echo "== $log (last 20 lines)"; tail -n 20 "$log"; }
  done
fi
exit "$status"
