"""The checker's self-test: a valid trace, tampered with in several ways, must be reported each
time."""

import json

from .checker import Checker, check_lines
from .model import FOLLOWER, LEADER


def tamper_unsent(lines):
    """A message delivered that nobody sent: drop the sends of the first message delivered."""
    for k, line in enumerate(lines):
        if line.get("event") == "deliver":
            key = Checker.key(line["msg"])
            return [x for x in lines[:k] if not (x.get("event") == "send" and Checker.key(x["msg"]) == key)] + lines[k:]
    return None


def tamper_double_vote(lines):
    """A second vote in a term: a node that voted for one candidate votes for another."""
    votes = {}
    for k, line in enumerate(lines):
        if line.get("event") == "deliver" and line["msg"]["type"] == "VoteReq" and not line["msg"]["preVote"]:
            m, state = line["msg"], line["state"]
            voted = votes.get((line["node"], state["term"]))
            if voted and voted != m["from"] and state["term"] == m["term"] and state["role"] == FOLLOWER:
                bad = json.loads(json.dumps(line))
                bad["state"]["vote"] = m["from"]
                return lines[:k] + [bad] + lines[k + 1:]
        if "state" in line and line["state"]["vote"]:
            votes[(line["node"], line["state"]["term"])] = line["state"]["vote"]
    return None


def tamper_commit_without_quorum(lines):
    """A leader commits its newest entry as soon as it appends it."""
    for k, line in enumerate(lines):
        state = line.get("state")
        if line.get("event") == "propose" and state and state["role"] == LEADER and len(set(
                line_["node"] for line_ in lines[:k] if "state" in line_)) > 1:
            bad = json.loads(json.dumps(line))
            bad["state"]["commit"] = state["last"][0]
            return lines[:k] + [bad] + lines[k + 1:]
    return None


def tamper_answer(lines):
    """A follower acknowledges more than it appended."""
    for k, line in enumerate(lines):
        if line.get("event") == "send" and line["msg"]["type"] == "AppResp" and line["msg"]["success"]:
            old = Checker.key(line["msg"])
            new_msg = dict(line["msg"], index=line["msg"]["index"] + 3)
            rest = [dict(x, msg=new_msg) if "msg" in x and Checker.key(x["msg"]) == old else x for x in lines[k:]]
            return lines[:k] + rest
    return None


def tamper_old_term_entry(lines):
    """A leader appends a command of an earlier term."""
    for k, line in enumerate(lines):
        if line.get("event") == "propose" and "log" in line and line["state"]["term"] > 1 and line["log"]["entries"]:
            bad = json.loads(json.dumps(line))
            bad["log"]["entries"][-1][0] -= 1
            bad["state"]["last"][1] -= 1
            return lines[:k] + [bad] + lines[k + 1:]
    return None


def tamper_compaction(lines):
    """A snapshot taken past the commit index."""
    for k, line in enumerate(lines):
        if line.get("event") == "compact":
            bad = json.loads(json.dumps(line))
            bad["state"]["snap"][0] = line["state"]["commit"] + 1
            return lines[:k] + [bad] + lines[k + 1:]
    return None


TAMPERINGS = (tamper_unsent, tamper_double_vote, tamper_commit_without_quorum, tamper_answer,
              tamper_old_term_entry, tamper_compaction)


def self_test(paths):
    """Each tampering, applied to the first valid trace among `paths` it fits, must be reported.
    Every tampering must fit one of them."""
    traces = []
    for path in paths:
        with open(path) as f:
            lines = [json.loads(text) for text in f]
        if check_lines(lines, path) is None:
            traces.append((path, lines))
    caught = 0
    for tamper in TAMPERINGS:
        what = tamper.__doc__.strip().splitlines()[0]
        fitted = next(((path, bad) for path, lines in traces if (bad := tamper(lines)) is not None), None)
        if fitted is None:
            print(f"self-test: {what} -- no valid trace to apply it to")
            continue
        path, bad = fitted
        problem = check_lines(bad, path)
        if problem is None or "checker error" in problem:
            print(f"self-test: {what} -- NOT caught" + (f": {problem}" if problem else ""))
        else:
            caught += 1
            print(f"self-test: {what} -- caught: {problem.splitlines()[0].split('): ', 1)[1]}")
    print(f"self-test: the checker caught {caught} of {len(TAMPERINGS)} tampered traces")
    return 0 if caught == len(TAMPERINGS) else 1
