#!/usr/bin/env bash
# Takes a screenshot of the raftkv dashboard with a 3-node cluster running, in headless Chromium
# (Debian's `chromium` package, installed with apt-get if missing).
#
#   scripts/dashboard-screenshot.sh [OUTPUT.png]     # default: raftkv-dashboard.png
#
# Environment: SCRATCH_PATH (default .build), RAFT_BASE / HTTP_BASE (default 27500 / 27600).
# The cluster runs on 127.0.0.1 with a temporary data directory; it is stopped by PID and the
# directory removed when the script ends, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
output="$(realpath -m "${1:-raftkv-dashboard.png}")"
scratch="${SCRATCH_PATH:-.build}"
raft_base="${RAFT_BASE:-27500}"
http_base="${HTTP_BASE:-27600}"

browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
  echo "== installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium > /dev/null
  browser="$(command -v chromium)"
fi

swift build --product raftkv --scratch-path "$scratch"
raftkv="$(swift build --show-bin-path --scratch-path "$scratch")/raftkv"

data="$(mktemp -d /tmp/raftkv-dashboard.XXXXXX)"
cluster_pid=""
cleanup() {
  if [ -n "$cluster_pid" ] && kill -0 "$cluster_pid" 2> /dev/null; then
    kill -TERM "$cluster_pid"
    for _ in $(seq 1 100); do kill -0 "$cluster_pid" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$cluster_pid" 2> /dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

"$raftkv" cluster --nodes 3 --data-dir "$data" --raft-base "$raft_base" --http-base "$http_base" \
  --log-level warning > "$data/cluster.out" 2>&1 &
cluster_pid=$!
url="http://127.0.0.1:$((http_base + 1))"

# Wait for a leader, then give the dashboard something to show.
for _ in $(seq 1 100); do
  if "$raftkv" status --url "$url" --timeout 1 2> /dev/null | grep -q "leader n"; then break; fi
  sleep 0.2
done
"$raftkv" bench --url "$url,http://127.0.0.1:$((http_base + 2))" --clients 8 --duration 2s > /dev/null
for key in greeting answer colour; do "$raftkv" put --url "$url" "$key" "value of $key"; done

"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,900 \
  --virtual-time-budget=4000 --screenshot="$output" "$url/" 2> "$data/chromium.err" > /dev/null || {
  cat "$data/chromium.err" >&2
  exit 1
}
echo "dashboard screenshot: $output"
