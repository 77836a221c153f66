#!/usr/bin/env bash
# The raftkv multi-process fault test: a 3-node `raftkv cluster` on 127.0.0.1 (unusual ports),
# concurrent clients doing put/get/cas/delete, the leader SIGKILLed and restarted repeatedly, a node
# added, a follower removed and the leader removed; then every acknowledged write must be on every
# remaining node and the history must be linearizable.
#
#   scripts/multiprocess-test.sh                 # uses .build (builds if needed)
#   SCRATCH_PATH=.build-kv scripts/multiprocess-test.sh
#   RAFTKV_MP_SECONDS=90 scripts/multiprocess-test.sh   # a longer run
#
# It stops every process it started (by PID) and removes its data directory, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${SCRATCH_PATH:-.build}"

swift build --build-tests --scratch-path "$scratch"
RAFTKV_MULTIPROCESS=1 timeout 600 swift test --skip-build --scratch-path "$scratch" \
  --filter 'RaftKVTests.MultiProcessTests'
