#!/usr/bin/env bash
# The mutation gate (issue #15): applies each deliberate bug of scripts/mutants/list.txt to the
# core or the driver, rebuilds, runs the tests named to catch it, and restores the source. Every
# mutant must be caught; the last line is `mutants: caught N of M`.
#
#   bash scripts/mutants.sh              every mutant
#   bash scripts/mutants.sh --list       the mutants, their bugs and their tests
#   bash scripts/mutants.sh --only NAME  one mutant (repeatable)
#   bash scripts/mutants.sh --by-traces 60
#                                        catch each mutant with trace validation of 60 fuzzer runs
#                                        alone (scripts/check-trace.py), to measure that checker
#
# The runner (scripts/mutants/run.py) restores each source right after its mutant and on SIGINT
# or SIGTERM; it keeps a copy of the file it mutates under .build/mutants/originals, which the
# trap below puts back should the runner itself be killed outright.
set -euo pipefail
cd "$(dirname "$0")/.."

originals=.build/mutants/originals
restore_leftovers() {
  [ -d "$originals" ] || return 0
  while IFS= read -r -d '' saved; do
    source_file=${saved#"$originals"/}
    cp "$saved" "$source_file"
    rm -f "$saved"
    echo "mutants: restored $source_file" >&2
  done < <(find "$originals" -type f -print0)
}
trap restore_leftovers EXIT INT TERM
restore_leftovers

status=0
python3 scripts/mutants/run.py "$@" || status=$?
restore_leftovers
exit "$status"
