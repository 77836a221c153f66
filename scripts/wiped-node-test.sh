#!/usr/bin/env bash
# A node restarted on a wiped data directory under its old ID: three raftkv servers on 127.0.0.1;
# a follower is SIGKILLed, its directory deleted, and it is started again with its old command.
# It must exit with a non-zero status within a bounded time and name the remedy, while the
# cluster keeps serving; then the remedy is followed (remove the member, empty the directory,
# start it with --join) and the node rejoins and holds every write.
#
#   scripts/wiped-node-test.sh                   # uses .build (builds raftkv if needed)
#   SCRATCH_PATH=.build-kv scripts/wiped-node-test.sh
#
# It stops every process it started (by PID) and removes its directory, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${SCRATCH_PATH:-.build}"
swift build --product raftkv --scratch-path "$scratch" >/dev/null
bin=$(swift build --show-bin-path --scratch-path "$scratch")
work=$(mktemp -d /tmp/raftkv-wiped-XXXXXX)
raft_base=28040
http_base=28140
# shellcheck source=scripts/raftkv-test-lib.sh
source scripts/raftkv-test-lib.sh
trap cleanup EXIT

peers="n1=127.0.0.1:$(raft_port n1),n2=127.0.0.1:$(raft_port n2),n3=127.0.0.1:$(raft_port n3)"
peers_http="n1=127.0.0.1:$(http_port n1),n2=127.0.0.1:$(http_port n2),n3=127.0.0.1:$(http_port n3)"
for id in n1 n2 n3; do start_node "$id" --peers "$peers" --peers-http "$peers_http"; done
leader=$(wait_leader n1 n2 n3) || fail "no leader among n1 n2 n3"
for i in $(seq 1 10); do put_key "$leader" "k$i" "v$i" || fail "write k$i"; done
wiped=n3
[ "$leader" = n3 ] && wiped=n2
other=n1
[ "$leader" = n1 ] && other=n2
[ "$other" = "$wiped" ] && other=n1
wait_caught_up "$wiped" "$leader" || fail "$wiped did not catch up"

echo "== $wiped: SIGKILL, directory deleted, started again with its old command"
kill_node "$wiped"
rm -rf "${work:?}/$wiped"
start_node "$wiped" --peers "$peers" --peers-http "$peers_http"
pid=$(cat "$work/$wiped.pid")
exited=""
for _ in $(seq 1 60); do
  if ! kill -0 "$pid" 2>/dev/null; then
    exited=yes
    break
  fi
  sleep 0.5
done
[ -n "$exited" ] || fail "$wiped still runs 30 seconds after it started on a wiped directory"
status=0
wait "$pid" || status=$?
[ "$status" -ne 0 ] || fail "$wiped exited with status 0"
grep -q "raftkv members remove $wiped" "$work/$wiped.log" || fail "$wiped did not name the remedy"
grep -q -- "--join" "$work/$wiped.log" || fail "$wiped did not say to start with --join"
echo "$wiped exited with status $status and the remedy:"
grep -A4 "To bring the node back" "$work/$wiped.log" | sed 's/^/  | /'

echo "== the cluster keeps serving"
put_key "$leader" k11 v11 || fail "the cluster stopped serving writes"
expect_value "$other" k11 v11

echo "== the remedy: remove $wiped, empty its directory, start it with --join"
"$bin/raftkv" members remove "$wiped" --url "$(url_of "$leader")"
rm -rf "${work:?}/$wiped"
start_node "$wiped" --join "$(url_of "$leader")"
for _ in $(seq 1 120); do
  "$bin/raftkv" members --url "$(url_of "$leader")" 2>/dev/null | grep -q -E "^$wiped	voter	" && break
  sleep 0.5
done
"$bin/raftkv" members --url "$(url_of "$leader")" | grep -q -E "^$wiped	voter	" || fail "$wiped did not become a voter again"
wait_caught_up "$wiped" "$leader" || fail "$wiped did not catch up"
[ "$(status_field "$wiped" keys)" = 11 ] || fail "$wiped holds $(status_field "$wiped" keys) keys, expected 11"
kill -0 "$(cat "$work/$wiped.pid")" 2>/dev/null || fail "the rejoined $wiped exited"

echo "== the leader goes; the rejoined node serves every write"
kill_node "$leader"
wait_leader "$wiped" "$other" >/dev/null || fail "no leader among $wiped $other"
for i in $(seq 1 11); do expect_value "$wiped" "k$i" "v$i"; done
echo "wiped-node test passed"
