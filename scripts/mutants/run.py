#!/usr/bin/env python3
"""The mutation gate: applies each deliberate bug of scripts/mutants/list.txt to the sources,
rebuilds, runs the tests meant to catch it and restores the sources. Run it through
scripts/mutants.sh, which also restores the sources if this process is killed outright."""

import argparse
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LIST = os.path.join(ROOT, "scripts", "mutants", "list.txt")
WORK = os.path.join(ROOT, ".build", "mutants")
BACKUP = os.path.join(WORK, "originals")
TEST_BINARY = os.path.join(ROOT, ".build", "debug", "WebRaftPackageTests.xctest")
TEST_TIMEOUT = int(os.environ.get("MUTANTS_TEST_TIMEOUT", "150"))


class ListError(Exception):
    pass


class Mutant:
    def __init__(self, name, line):
        self.name = name
        self.line = line
        self.bug = None
        self.file = None
        self.filters = []
        self.env = {}
        self.original = None
        self.replacement = None


def parse_list(path):
    """Reads the list: a block per mutant, opened by `== name`, with `bug:`, `file:`, `filter:`
    (one or more), optional `env:` lines, then `--- original` and `--- mutant` text blocks."""
    mutants = []
    current = None
    block = None
    lines = open(path, encoding="utf-8").read().split("\n")

    def close_block():
        nonlocal block
        if current is not None and block is not None:
            kind, text = block
            # Blank lines and comments ("# ...") between a block and the next mutant are not text.
            while text and (text[-1].strip() == "" or text[-1].startswith("# ")):
                text.pop()
            setattr(current, kind, "\n".join(text))
        block = None

    for number, line in enumerate(lines, 1):
        if line.startswith("== "):
            close_block()
            current = Mutant(line[3:].strip(), number)
            mutants.append(current)
            continue
        if line.startswith("--- "):
            if current is None:
                raise ListError(f"{path}:{number}: a text block outside a mutant")
            close_block()
            kind = line[4:].strip()
            if kind not in ("original", "mutant"):
                raise ListError(f"{path}:{number}: '--- {kind}': expected '--- original' or '--- mutant'")
            block = ("original" if kind == "original" else "replacement", [])
            continue
        if block is not None:
            block[1].append(line)
            continue
        if line.startswith("#") or line.strip() == "":
            continue
        if current is None:
            raise ListError(f"{path}:{number}: '{line}' outside a mutant")
        key, _, value = line.partition(":")
        value = value.strip()
        if key == "bug":
            current.bug = value
        elif key == "file":
            current.file = value
        elif key == "filter":
            current.filters.append(value)
        elif key == "env":
            name, _, setting = value.partition("=")
            current.env[name.strip()] = setting.strip()
        else:
            raise ListError(f"{path}:{number}: unknown key '{key}' in mutant {current.name}")
    close_block()

    names = set()
    for mutant in mutants:
        where = f"mutant {mutant.name} ({path}:{mutant.line})"
        if mutant.name in names:
            raise ListError(f"{where}: the name is used twice")
        names.add(mutant.name)
        for field in ("bug", "file", "original", "replacement"):
            if not getattr(mutant, field):
                raise ListError(f"{where}: no {field}")
        if not mutant.filters:
            raise ListError(f"{where}: no filter")
        if mutant.original == mutant.replacement:
            raise ListError(f"{where}: the mutant text is the original text")
        source = os.path.join(ROOT, mutant.file)
        if not os.path.isfile(source):
            raise ListError(f"{where}: {mutant.file} does not exist")
        count = open(source, encoding="utf-8").read().count(mutant.original)
        if count != 1:
            raise ListError(
                f"{where}: its original text occurs {count} times in {mutant.file} (must be once); "
                "the code moved on: update the mutant")
    return mutants


# MARK: - Keeping the sources safe

restored_files = {}  # path -> original bytes, for the files mutated so far


def save_original(path):
    data = open(path, "rb").read()
    backup = os.path.join(BACKUP, os.path.relpath(path, ROOT))
    os.makedirs(os.path.dirname(backup), exist_ok=True)
    with open(backup, "wb") as out:
        out.write(data)
    restored_files.setdefault(path, data)
    return data


def restore(path, data):
    with open(path, "wb") as out:
        out.write(data)
    backup = os.path.join(BACKUP, os.path.relpath(path, ROOT))
    if os.path.exists(backup):
        os.remove(backup)


def restore_all():
    for path, data in restored_files.items():
        if open(path, "rb").read() != data:
            restore(path, data)


running = None  # the build or test run under way, in a process group of its own


def run_child(command, **options):
    """Runs `command` in its own process group, so that an interruption stops all of it."""
    global running
    running = subprocess.Popen(command, cwd=ROOT, start_new_session=True, **options)
    try:
        return running.wait()
    finally:
        running = None


def on_signal(signum, _frame):
    child = running
    if child is not None and child.poll() is None:
        try:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(child.pid, signal.SIGKILL)
    restore_all()
    print(f"mutants: interrupted by signal {signum}; sources restored", flush=True)
    sys.exit(128 + signum)


# MARK: - Building and testing

def build(log_name):
    log = os.path.join(WORK, log_name)
    with open(log, "w") as out:
        code = run_child(["swift", "build", "--build-tests"], stdout=out, stderr=subprocess.STDOUT)
    return code == 0, log


def first_errors(log, count=5):
    lines = [line for line in open(log, errors="replace") if "error:" in line]
    return "".join(lines[:count]) or "".join(open(log, errors="replace").readlines()[-count:])


def run_tests(filters, env, name):
    """Runs the tests that `filters` select; returns (passed, what failed, seconds)."""
    xunit = os.path.join(WORK, f"{name}.xml")
    log = os.path.join(WORK, f"{name}.log")
    if os.path.exists(xunit):
        os.remove(xunit)
    command = ["timeout", "-k", "10", str(TEST_TIMEOUT), TEST_BINARY,
               "--testing-library", "swift-testing", "--xunit-output", xunit]
    for item in filters:
        command += ["--filter", item]
    environment = dict(os.environ)
    environment.update(env)
    start = time.monotonic()
    with open(log, "w") as out:
        code = run_child(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - start
    output = open(log, errors="replace").read()
    if code == 0:
        if re.search(r"Test run with 0 tests", output):
            return False, "no test matched the filters", seconds
        return True, None, seconds
    return False, failure_of(code, xunit, output, filters), seconds


def failure_of(code, xunit, output, filters):
    """The first failing test's ID from the xunit report, or what stopped the run. The report lists
    tests as they finished; the failures are ordered by the first of the mutant's filters that
    selects them (the list names the rule's own tests first), then by name."""
    if os.path.exists(xunit):
        try:
            failed = [f"{case.get('classname')}/{case.get('name')}"
                      for case in ET.parse(xunit).getroot().iter("testcase")
                      if case.find("failure") is not None]

            def rank(test):
                matching = [n for n, f in enumerate(filters) if re.search(f, test)]
                return (matching[0] if matching else len(filters), test)

            failed.sort(key=rank)
            if failed:
                # A parameterized test is named without its arguments: add the failing case's
                # (the interaction script, the seed) when only one such test failed.
                first = failed[0]
                arguments = re.findall(r'recorded an issue with \d+ arguments? (.*?) at \S+:\d+', output)
                if not first.endswith("()") and sum(1 for f in failed if not f.endswith("()")) == 1 and arguments:
                    first += f" [{arguments[0]}]"
                return first + (f" (+{len(failed) - 1} more)" if len(failed) > 1 else "")
        except ET.ParseError:
            pass
    if code in (124, 137):
        return f"timeout after {TEST_TIMEOUT} s (a hang)"
    started = re.findall(r'Test (".*?"|\S+) started', output)
    failed = re.findall(r'Test (".*?"|\S+) (?:recorded an issue|failed)', output)
    if failed:
        return f"test {failed[0]}"
    crash = f"crash (exit {code})"
    return f"{crash} in test {started[-1]}" if started else crash


def run_traces(seeds, name):
    """Trace validation as the only test: records the specification traces of `seeds` fuzzer
    runs and replays them with scripts/check-trace.py (the fuzzer's own verdict is ignored, so
    that this measures what the trace checker alone catches). Returns (passed, what failed,
    seconds)."""
    started = time.monotonic()
    directory = os.path.join(WORK, f"traces-{name}")
    os.makedirs(directory, exist_ok=True)
    for old in os.listdir(directory):
        os.remove(os.path.join(directory, old))
    env = dict(os.environ, WEBRAFT_SPEC_TRACES=directory, WEBRAFT_FUZZ_SEEDS=str(seeds), WEBRAFT_FUZZ_FIRST="1")
    with open(os.path.join(WORK, f"fuzz-{name}.log"), "w") as log:
        run_child(["timeout", str(TEST_TIMEOUT), TEST_BINARY, "--testing-library", "swift-testing",
                   "--filter", "WebRaftSimulationTests.FuzzTests"], env=env, stdout=log, stderr=subprocess.STDOUT)
    traces = sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(".jsonl"))
    if not traces:
        return False, "no trace was written", time.monotonic() - started
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "check-trace.py")] + traces,
                            capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode == 0:
        return True, None, seconds
    first = result.stdout.splitlines()[0]
    return False, "trace validation: " + re.sub(r" \(/[^)]*\)", "", first), seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this mutant (may be repeated)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the run of the unmutated tests (while editing the list)")
    parser.add_argument("--by-traces", type=int, metavar="SEEDS",
                        help="catch each mutant with trace validation of SEEDS fuzzer runs alone, "
                             "instead of its tests (measures the trace checker)")
    arguments = parser.parse_args()

    try:
        mutants = parse_list(LIST)
    except ListError as error:
        print(f"mutants: list error: {error}", flush=True)
        return 2
    if arguments.list:
        for mutant in mutants:
            print(f"{mutant.name:34} {mutant.file}")
            print(f"{'':34} {mutant.bug}")
            print(f"{'':34} tests: {' '.join(mutant.filters)}"
                  + "".join(f" {k}={v}" for k, v in mutant.env.items()))
        return 0
    if arguments.only:
        unknown = [name for name in arguments.only if name not in {m.name for m in mutants}]
        if unknown:
            print(f"mutants: no mutant named {', '.join(unknown)} (see --list)", flush=True)
            return 2
        mutants = [m for m in mutants if m.name in arguments.only]

    os.makedirs(WORK, exist_ok=True)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    started = time.monotonic()
    files = sorted({os.path.join(ROOT, m.file) for m in mutants})
    diff_before = subprocess.run(["git", "diff", "--"] + files, cwd=ROOT, capture_output=True).stdout
    hashes = {path: hashlib.sha256(open(path, "rb").read()).hexdigest() for path in files}

    ok, log = build("build-unmutated.log")
    if not ok:
        print(f"mutants: the unmutated code does not build (see {log}):\n{first_errors(log)}", flush=True)
        return 2
    if not arguments.no_baseline:
        # The union of the filters, with the largest of each environment setting, must pass on the
        # unmutated code, or a "catch" would mean nothing.
        filters = sorted({f for m in mutants for f in m.filters})
        env = {}
        for mutant in mutants:
            for key, value in mutant.env.items():
                env[key] = str(max(int(env.get(key, "0")), int(value))) if value.isdigit() else value
        if arguments.by_traces:
            passed, failure, seconds = run_traces(arguments.by_traces, "baseline")
        else:
            passed, failure, seconds = run_tests(filters, env, "baseline")
        if not passed:
            print(f"mutants: the unmutated code fails its tests: {failure} "
                  f"(see {os.path.join(WORK, 'baseline.log')})", flush=True)
            return 2
        print(f"baseline: the tests of every mutant pass on the unmutated code  ({seconds:.0f} s)",
              flush=True)

    caught = 0
    problems = 0
    try:
        for mutant in mutants:
            path = os.path.join(ROOT, mutant.file)
            mutant_start = time.monotonic()
            original = save_original(path)
            text = original.decode("utf-8")
            try:
                with open(path, "w", encoding="utf-8") as out:
                    out.write(text.replace(mutant.original, mutant.replacement, 1))
                ok, log = build(f"build-{mutant.name}.log")
                if ok and arguments.by_traces:
                    passed, failure, _ = run_traces(arguments.by_traces, mutant.name)
                elif ok:
                    passed, failure, _ = run_tests(mutant.filters, mutant.env, mutant.name)
            finally:
                restore(path, original)
            seconds = time.monotonic() - mutant_start
            if not ok:
                problems += 1
                print(f"ERROR    {mutant.name:34} does not compile: fix the list "
                      f"({seconds:.0f} s)\n{first_errors(log)}", flush=True)
            elif passed:
                problems += 1
                print(f"SURVIVED {mutant.name:34} no test of {' '.join(mutant.filters)} failed  "
                      f"({seconds:.0f} s)", flush=True)
            else:
                caught += 1
                print(f"caught   {mutant.name:34} by {failure}  ({seconds:.0f} s)", flush=True)
    finally:
        restore_all()

    # The sources are as they were, and the build directory holds the unmutated code again.
    changed = [os.path.relpath(p, ROOT) for p in files
               if hashlib.sha256(open(p, "rb").read()).hexdigest() != hashes[p]]
    diff_after = subprocess.run(["git", "diff", "--"] + files, cwd=ROOT, capture_output=True).stdout
    if changed or diff_after != diff_before:
        print(f"mutants: the sources were not restored: {', '.join(changed) or 'git diff differs'}",
              flush=True)
        return 2
    ok, log = build("build-restored.log")
    if not ok:
        print(f"mutants: the restored code does not build (see {log})", flush=True)
        return 2
    total = len(mutants)
    print(f"mutants: {time.monotonic() - started:.0f} s in all", flush=True)
    print(f"mutants: caught {caught} of {total}", flush=True)
    return 0 if problems == 0 and caught == total else 1


if __name__ == "__main__":
    sys.exit(main())
