#!/usr/bin/env python3
"""Checks simulator traces against the actions of spec/WebRaft.tla.

Each trace (JSON Lines, written by WebRaftTesting's SpecTrace; format in spec/TRACES.md) is one
run of the simulator. This checker keeps the specification's variables for every node -- term,
vote, role, leader, the whole log (compacted prefix included), snapshot point and configuration,
commit index, votes, the leader's match indexes -- plus the ghost history of committed entries,
and replays the trace line by line:

- a delivered message must have been sent;
- the receiving node's next state must be the one the specification's handler computes
  (UpdateTerm, then HandleVoteRequest, HandleAppend, ...), and every answer it later sends must
  be one that handler produced;
- every other message sent must be one a Send action (RequestVote, SendAppend, SendHeartbeat,
  SendSnapshot, TransferLeadership, LeaderLeave) allows from a state the sender was in;
- ticks, client requests, writes made durable, snapshots, crashes and restarts must each be
  explained by the specification's actions (Timeout, StepDown, ClientRequest, the membership
  actions, AdvanceCommit, Compact, Restart);
- answers leave only once what they vouch for is durable, and a leader counts only its durable
  entries; a held vote (exact, from the node's clock on each line) is neither granted nor moves
  the term, and a lease read needs a quorum that still holds its votes on their own clocks;
- after every line the specification's invariants hold: election safety, log matching (one
  entry per index and term), leader completeness, state machine safety, and linearizable
  reads (ReadIndex and lease).

spec/TRACES.md lists where the checker refines the specification to the implementation's
granularity (asynchronous writes, chunked snapshots, answers sent once a write is durable, time).

Usage:
  check-trace.py TRACE...              prints one line per trace that fails (seed, line, reason)
                                       and `traces: V valid of N` last; exit status 1 when any fails
  check-trace.py --self-test TRACE...  tampers with valid traces among these in several ways
                                       (tracecheck/selftest.py); each tampering must be reported

The checker is the package scripts/tracecheck: model.py (the specification's data), checker.py
(the replay of a line, leaders' own steps, durability, restarts), receiving.py (the handlers),
sending.py (the send actions and answers), selftest.py.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tracecheck.checker import check  # noqa: E402
from tracecheck.selftest import self_test  # noqa: E402


def main(paths):
    valid = 0
    for path in paths:
        problem = check(path)
        if problem is None:
            valid += 1
        else:
            print(problem, flush=True)
    print(f"traces: {valid} valid of {len(paths)}")
    return 0 if valid == len(paths) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["--self-test"]:
        sys.exit(self_test(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
