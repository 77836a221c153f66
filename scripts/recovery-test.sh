#!/usr/bin/env bash
# Recovery from a lost quorum with `raftkv recover`: three raftkv servers on 127.0.0.1, writes,
# two servers SIGKILLed for good and their directories deleted; the survivor cannot serve; it is
# stopped, recovered, restarted with its old command and leads a one-voter cluster; it takes
# writes; two fresh nodes (reusing the lost IDs, new directories) join with `serve --join` and
# hold every acknowledged write, which they still serve once the survivor is gone too.
#
#   scripts/recovery-test.sh                     # uses .build (builds raftkv if needed)
#   SCRATCH_PATH=.build-kv scripts/recovery-test.sh
#
# It stops every process it started (by PID) and removes its directory, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${SCRATCH_PATH:-.build}"
swift build --product raftkv --scratch-path "$scratch" >/dev/null
bin=$(swift build --show-bin-path --scratch-path "$scratch")
work=$(mktemp -d /tmp/raftkv-recovery-XXXXXX)
raft_base=27840
http_base=27940
# shellcheck source=scripts/raftkv-test-lib.sh
source scripts/raftkv-test-lib.sh
trap cleanup EXIT

peers="n1=127.0.0.1:$(raft_port n1),n2=127.0.0.1:$(raft_port n2),n3=127.0.0.1:$(raft_port n3)"
peers_http="n1=127.0.0.1:$(http_port n1),n2=127.0.0.1:$(http_port n2),n3=127.0.0.1:$(http_port n3)"
for id in n1 n2 n3; do start_node "$id" --peers "$peers" --peers-http "$peers_http"; done
leader=$(wait_leader n1 n2 n3) || fail "no leader among n1 n2 n3"
echo "== leader $leader; writing k1..k20"
for i in $(seq 1 20); do put_key "$leader" "k$i" "v$i" || fail "write k$i"; done

# The survivor is a follower that holds every acknowledged write (recovery keeps what it holds).
survivor=n3
[ "$leader" = n3 ] && survivor=n2
wait_caught_up "$survivor" "$leader" || fail "$survivor did not catch up"
for id in n1 n2 n3; do
  if [ "$id" != "$survivor" ]; then
    kill_node "$id"
    rm -rf "${work:?}/$id"
  fi
done
echo "== killed every node but $survivor and deleted their directories"
if "$bin/raftkv" put --timeout 3 --url "$(url_of "$survivor")" lost yes >/dev/null 2>&1; then
  fail "$survivor accepted a write without a quorum"
fi

echo "== raftkv recover refuses while $survivor runs"
if "$bin/raftkv" recover --data-dir "$work/$survivor" --id "$survivor" >"$work/recover-running.out" 2>&1; then
  fail "recover ran on a directory a server holds"
fi
grep -q "in use by a running node" "$work/recover-running.out" || fail "unexpected refusal: $(cat "$work/recover-running.out")"

kill_node "$survivor" TERM
"$bin/raftkv" recover --data-dir "$work/$survivor" --id "$survivor" | tee "$work/recover.out"
grep -q "configuration now: voters $survivor " "$work/recover.out" || fail "recover did not report the new voters"
grep -q "WARNING" "$work/recover.out" || fail "recover printed no warning"

echo "== $survivor restarted with its old command"
start_node "$survivor" --peers "$peers" --peers-http "$peers_http"
[ "$(wait_leader "$survivor")" = "$survivor" ] || fail "$survivor did not become leader"
for i in $(seq 21 25); do put_key "$survivor" "k$i" "v$i" || fail "write k$i after recovery"; done
for i in $(seq 1 25); do expect_value "$survivor" "k$i" "v$i"; done

# Fresh nodes under the lost IDs, with new directories, join the recovered cluster.
fresh=()
for id in n1 n2 n3; do [ "$id" != "$survivor" ] && fresh+=("$id"); done
for id in "${fresh[@]}"; do
  echo "== $id joins with a new directory"
  start_node "$id" --join "$(url_of "$survivor")"
done
for _ in $(seq 1 120); do
  voters=$("$bin/raftkv" members --url "$(url_of "$survivor")" 2>/dev/null | grep -c -E "	(leader|voter)	" || true)
  [ "$voters" = 3 ] && break
  sleep 0.5
done
[ "$voters" = 3 ] || fail "the fresh nodes did not become voters"
for id in "${fresh[@]}"; do
  wait_caught_up "$id" "$survivor" || fail "$id did not catch up"
  [ "$(status_field "$id" keys)" = 25 ] || fail "$id holds $(status_field "$id" keys) keys, expected 25"
done

echo "== the survivor goes too; the fresh nodes serve every acknowledged write"
kill_node "$survivor"
wait_leader "${fresh[@]}" >/dev/null || fail "no leader among ${fresh[*]}"
for i in $(seq 1 25); do expect_value "${fresh[0]}" "k$i" "v$i"; done
echo "recovery test passed"
