# Helpers for the shell tests that run raftkv servers as separate processes (sourced by
# scripts/recovery-test.sh and scripts/wiped-node-test.sh).
#
# The sourcing script sets `work` (its scratch directory) and `bin` (where raftkv is) first. Every
# server is started with start_node, which records its PID; cleanup stops exactly those PIDs and
# removes `work`. Install it with: trap cleanup EXIT

started_pids=()

fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/*.log; do
    [ -f "$log" ] || continue
    echo "---- last lines of $log" >&2
    tail -n 20 "$log" >&2
  done
  exit 1
}

cleanup() {
  local pid
  for pid in "${started_pids[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  for pid in "${started_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}

raft_port() { echo $((raft_base + ${1#n})); }
http_port() { echo $((http_base + ${1#n})); }
url_of() { echo "http://127.0.0.1:$(http_port "$1")"; }

# start_node ID [serve options...]: starts `raftkv serve` for ID in the background, its output in
# $work/ID.log (appended), its PID in $work/ID.pid.
start_node() {
  local id=$1
  shift
  "$bin/raftkv" serve --id "$id" --raft "127.0.0.1:$(raft_port "$id")" --http "127.0.0.1:$(http_port "$id")" \
    --data-dir "$work/$id" --cluster-id shell-test --log-level notice "$@" >>"$work/$id.log" 2>&1 &
  local pid=$!
  started_pids+=("$pid")
  echo "$pid" >"$work/$id.pid"
}

# kill_node ID [SIGNAL]: signals ID's process (KILL by default) and waits for it to end.
kill_node() {
  local pid
  pid=$(cat "$work/$1.pid")
  kill "-${2:-KILL}" "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# status_field ID FIELD: a number or string field of ID's /status JSON (empty when unreachable).
status_field() {
  "$bin/raftkv" status --json --timeout 2 --url "$(url_of "$1")" 2>/dev/null \
    | tr -d '\n' | sed -n "s/.*\"$2\" *: *\"\{0,1\}\([^\",}]*\)\"\{0,1\}.*/\1/p" | head -n 1
}

# wait_leader ID...: waits until one of the nodes reports a leader among them; prints the leader.
wait_leader() {
  local node leader
  for _ in $(seq 1 120); do
    for node in "$@"; do
      leader=$(status_field "$node" leader)
      if [ -n "$leader" ] && [[ " $* " == *" $leader "* ]]; then
        echo "$leader"
        return 0
      fi
    done
    sleep 0.5
  done
  return 1
}

# put_key ID KEY VALUE: writes through ID, retrying while a leader is elected.
put_key() {
  for _ in $(seq 1 40); do
    if "$bin/raftkv" put --timeout 5 --url "$(url_of "$1")" "$2" "$3" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  return 1
}

# expect_value ID KEY VALUE: reads KEY through ID (linearizable) and checks it.
expect_value() {
  local got=""
  for _ in $(seq 1 40); do
    got=$("$bin/raftkv" get --timeout 5 --url "$(url_of "$1")" "$2" 2>/dev/null) && break
    sleep 0.5
  done
  [ "$got" = "$3" ] || fail "$2 read through $1 is '$got', expected '$3'"
}

# wait_caught_up ID LEADER: waits until ID has applied everything LEADER committed.
wait_caught_up() {
  local commit applied
  for _ in $(seq 1 120); do
    commit=$(status_field "$2" commitIndex)
    applied=$(status_field "$1" appliedIndex)
    if [ -n "$commit" ] && [ -n "$applied" ] && [ "$applied" -ge "$commit" ]; then return 0; fi
    sleep 0.5
  done
  return 1
}
