#!/usr/bin/env bash
# Trace validation: runs fuzzer seeds in the simulator with their specification traces recorded
# (WEBRAFT_SPEC_TRACES), then replays every trace against the actions of spec/WebRaft.tla with
# scripts/check-trace.py (format and method: spec/TRACES.md).
#
#   scripts/validate-traces.sh --seeds N [--first M] [--keep DIR]
#
# Seeds whose traces once diverged are replayed too (the `pinned` list below).
# First it proves the checker can fail: it tampers with a valid trace in several ways (a vote the
# specification refuses, a commit no quorum holds, a message nobody sent, ...) and each must be
# reported. A divergence prints the seed, the first line the specification does not allow and
# why; replay it with WEBRAFT_SEED=N. The last line is `traces: V valid of N`; exit status 1
# unless every trace is valid. Uses the debug test binary, built if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=200
first=1
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --first) first=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "usage: $0 --seeds N [--first M] [--keep DIR]" >&2; exit 2 ;;
  esac
done

bin="$(swift build --show-bin-path)/WebRaftPackageTests.xctest"
if [ ! -x "$bin" ]; then
  echo "building the tests"
  swift build --build-tests >/dev/null
fi

if [ -n "$keep" ]; then
  dir=$keep
  mkdir -p "$dir"
else
  dir=$(mktemp -d /tmp/webraft-traces-XXXXXX)
  trap 'rm -rf "$dir"' EXIT
fi
rm -f "$dir"/seed-*.jsonl

echo "recording the traces of fuzzer seeds $first..$((first + seeds - 1))"
start=$(date +%s)
fuzz_status=0
WEBRAFT_SPEC_TRACES="$dir" WEBRAFT_FUZZ_SEEDS="$seeds" WEBRAFT_FUZZ_FIRST="$first" \
  "$bin" --testing-library swift-testing --filter WebRaftSimulationTests.FuzzTests > "$dir/fuzz.log" 2>&1 \
  || fuzz_status=$?
if [ "$fuzz_status" -ne 0 ]; then
  echo "the fuzzer itself failed (its traces are still checked):"
  grep -E "seed [0-9]+|✘" "$dir/fuzz.log" | head -n 20 || true
fi
# Seeds whose traces once diverged (each fixed in the specification or the checker): replayed on
# every run, outside the range asked for, so that a checker change cannot bring a divergence back.
pinned=(722 792 844 886 1063 1151 1688 2488 3152)
pinned_traces=()
mkdir -p "$dir/pinned"
for seed in "${pinned[@]}"; do
  if [ "$seed" -ge "$first" ] && [ "$seed" -lt $((first + seeds)) ]; then continue; fi
  WEBRAFT_SPEC_TRACES="$dir/pinned" WEBRAFT_SEED="$seed" \
    "$bin" --testing-library swift-testing --filter WebRaftSimulationTests.FuzzTests > /dev/null 2>&1 || true
  pinned_traces+=("$dir/pinned/seed-$seed.jsonl")
done
echo "recorded in $(( $(date +%s) - start )) s; checking"

# The self-test tampers with the first valid traces it finds among these.
selftest=()
for seed in $(seq "$first" $((first + seeds - 1)) | head -n 40); do
  [ -f "$dir/seed-$seed.jsonl" ] && selftest+=("$dir/seed-$seed.jsonl")
done
python3 scripts/check-trace.py --self-test "${selftest[@]}"

traces=()
missing=0
for seed in $(seq "$first" $((first + seeds - 1))); do
  if [ -f "$dir/seed-$seed.jsonl" ]; then
    traces+=("$dir/seed-$seed.jsonl")
  else
    echo "seed $seed: no trace was written"
    missing=$((missing + 1))
  fi
done
status=0
if [ ${#pinned_traces[@]} -gt 0 ]; then
  python3 scripts/check-trace.py "${pinned_traces[@]}" > "$dir/pinned.log" || status=$?
  grep -v '^traces: ' "$dir/pinned.log" || true
  echo "pinned seeds (${pinned[*]}): $(sed -n 's/^traces: \([0-9]*\) valid of .*/\1/p' "$dir/pinned.log") valid of ${#pinned_traces[@]}"
fi
python3 scripts/check-trace.py "${traces[@]}" > "$dir/check.log" || status=$?
grep -v '^traces: ' "$dir/check.log" || true
valid=$(sed -n 's/^traces: \([0-9]*\) valid of .*/\1/p' "$dir/check.log")
echo "checked in $(( $(date +%s) - start )) s in all"
echo "traces: ${valid:-0} valid of $seeds"
if [ "$status" -ne 0 ] || [ "$missing" -ne 0 ] || [ "$fuzz_status" -ne 0 ]; then exit 1; fi
