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
- after every line the specification's invariants hold: election safety, log matching (one
  entry per index and term), leader completeness, state machine safety, and linearizable
  reads (ReadIndex and lease).

spec/TRACES.md lists where the checker refines the specification to the implementation's
granularity (asynchronous writes, chunked snapshots, answers sent once a write is durable).

Usage: check-trace.py TRACE... ; prints one line per trace that fails (seed, line, reason) and
`traces: V valid of N` last. Exit status 1 when any trace fails.
"""

import json
import sys

FOLLOWER, PRECANDIDATE, CANDIDATE, LEADER = "follower", "preCandidate", "candidate", "leader"


class Divergence(Exception):
    """The trace takes a step the specification does not allow."""


def cfg_of(obj):
    """A configuration as a hashable tuple (voters, outgoing, learners, promote)."""
    return (frozenset(obj["voters"]), frozenset(obj["outgoing"]), frozenset(obj["learners"]),
            frozenset(obj["promote"]))


EMPTY_CFG = (frozenset(), frozenset(), frozenset(), frozenset())


def all_voters(c):
    return c[0] | c[1]


def members(c):
    return c[0] | c[1] | c[2]


def is_majority(s, v):
    return 2 * len(s & v) > len(v)


def is_quorum(s, c):
    """IsQuorum: a majority of the voters, and of the outgoing voters while joint."""
    return is_majority(s, c[0]) and (not c[1] or is_majority(s, c[1]))


def show_cfg(c):
    parts = ["voters=" + ",".join(sorted(c[0]))]
    if c[1]:
        parts.append("outgoing=" + ",".join(sorted(c[1])))
    if c[2]:
        parts.append("learners=" + ",".join(sorted(c[2])))
    if c[3]:
        parts.append("promote=" + ",".join(sorted(c[3])))
    return " ".join(parts)


class Entry:
    """A log entry: its term, kind and configuration, and the identity of the leader's append."""
    __slots__ = ("term", "kind", "cfg", "uid")

    def __init__(self, term, kind, cfg, uid):
        self.term, self.kind, self.cfg, self.uid = term, kind, cfg, uid


class Node:
    """The specification's variables for one node, plus what refines them to the code."""

    def __init__(self, name, cfg):
        self.name = name
        self.up = True
        # Durable.
        self.term, self.vote = 0, None
        self.log = []                      # Entry per index, log[0] is index 1
        self.snap_index, self.snap_cfg = 0, cfg
        # Volatile.
        self.role, self.leader, self.commit = FOLLOWER, None, 0
        self.votes = set()
        self.refused = set()               # refusals of the campaign (the code's tally)
        self.transfer_campaign = False
        self.maybe_in_lease = False        # inLease, when it may still hold (it ends silently)
        self.restart_hold = False
        self.match = {}                    # the leader's matchIndex
        self.lease_acks = set()
        self.lease_revoked = False
        # Refinement: what a crash keeps (writes are durable only once stored).
        self.durable = (0, None, [], 0, cfg, 0)
        # Refinement: answers the handlers produced, sent once the node's write is durable.
        self.replies = []
        # Refinement: messages of earlier states that may still leave (held until a write is
        # durable): vote requests per campaign, and each term led (final log and commit).
        self.campaigns = set()
        self.led = {}
        self.incoming = None               # the snapshot whose chunks are being received
        self.stored_votes = set()          # every (term, vote) a write made durable
        self.stored_entries = set()        # every (index, uid) a write or an install made durable
        self.left_leadership = None        # (term, log length) when it stepped down to hand over

    # Helpers of the specification.
    def last_index(self):
        return len(self.log)

    def last_term(self):
        return self.log[-1].term if self.log else 0

    def term_at(self, i):
        return 0 if i == 0 else self.log[i - 1].term

    def cfg_indexes(self):
        return [i for i in range(len(self.log), self.snap_index, -1) if self.log[i - 1].kind == "cfg"]

    def latest_cfg_index(self):
        for i in range(len(self.log), self.snap_index, -1):
            if self.log[i - 1].kind == "cfg":
                return i
        return self.snap_index

    def cfg_at(self, i):
        for j in range(i, self.snap_index, -1):
            if self.log[j - 1].kind == "cfg":
                return self.log[j - 1].cfg
        return self.snap_cfg

    def cfg(self):
        return self.cfg_at(len(self.log))

    def uncommitted_cfg(self):
        return self.latest_cfg_index() > self.commit

    def promotable(self):
        if self.name in all_voters(self.cfg()):
            return True
        latest = self.latest_cfg_index()
        return self.uncommitted_cfg() and self.name in all_voters(self.cfg_at(latest - 1))

    def up_to_date(self, last_term, last_index):
        return last_term > self.last_term() or (last_term == self.last_term() and last_index >= self.last_index())

    def committed_in_current_term(self):
        return self.commit > 0 and self.term_at(self.commit) == self.term


class Checker:
    def __init__(self, header):
        self.seed = header["seed"]
        self.pre_vote = header["preVote"]
        self.check_quorum = header["checkQuorum"]
        voters = frozenset(header["voters"])
        init_cfg = (voters, frozenset(), frozenset(), frozenset())
        self.nodes = {n: Node(n, init_cfg if n in voters else EMPTY_CFG) for n in header["nodes"]}
        self.sent = {}                     # message key -> copies sent
        self.snapshot_prefix = {}          # snapshot message key -> the sender's log prefix
        self.committed = []                # ghost: the committed entries' uids, index 1 first
        self.elected = {}                  # term -> leader
        self.by_position = {}              # (index, term) -> uid: one entry per index and term
        self.reads = {}                    # read id -> committed length when it began
        self.next_uid = 1
        self.entries = {}                  # uid -> Entry
        self.left_node = set()             # uids of entries some message carried
        self.line = None

    # ---------------------------------------------------------------- helpers

    def fail(self, text):
        raise Divergence(text)

    def new_uid(self):
        self.next_uid += 1
        return self.next_uid

    @staticmethod
    def key(msg):
        return json.dumps(msg, sort_keys=True)

    def hold_possible(self, s):
        """HoldsVote(s) may be true: the vote holds end silently (HoldExpires)."""
        return self.check_quorum and (s.role == LEADER or (s.maybe_in_lease and s.leader is not None)
                                      or s.restart_hold)

    def hold_expires(self, s):
        """HoldExpires(s): first the leaders' leases on s end (LeaseExpires)."""
        s.maybe_in_lease = False
        s.restart_hold = False
        for other in self.nodes.values():
            other.lease_acks.discard(s.name)

    def no_leader_state(self, s):
        s.match = {}
        s.lease_acks = set()
        s.lease_revoked = False

    def stop_leading(self, s):
        if s.role == LEADER:
            s.led[s.term] = (list(s.log), s.commit)
        self.no_leader_state(s)

    def campaign_vars(self, s, transfer):
        s.transfer_campaign = transfer
        s.term += 1
        s.vote = s.name
        s.role = CANDIDATE
        s.votes = {s.name}
        s.refused = set()
        s.leader = None
        s.maybe_in_lease = False
        self.note_campaign(s)

    def note_campaign(self, s):
        pre = s.role == PRECANDIDATE
        s.campaigns.add((s.term + 1 if pre else s.term, pre, s.last_term(), s.last_index(),
                         s.role == CANDIDATE and s.transfer_campaign))

    def become_leader(self, s):
        """LeadVars: lead, with a no-op of the term (its entry comes with the state line)."""
        if s.term in self.elected and self.elected[s.term] != s.name:
            self.fail(f"election safety: {s.name} and {self.elected[s.term]} both lead term {s.term}")
        self.elected[s.term] = s.name
        s.role = LEADER
        s.leader = s.name
        s.votes = set()
        self.no_leader_state(s)
        s.match = {}
        for i, uid in enumerate(self.committed, start=1):
            if i > len(s.log) or s.log[i - 1].uid != uid:
                self.fail(f"leader completeness: {s.name} leads term {s.term} without committed entry {i}")
        s.pending_noop = True

    def commit_to(self, s, n):
        """A node's commit index moves to n: every entry it now knows committed must be the one
        committed history (state machine safety); a leader extends that history."""
        if n <= s.commit:
            return
        for i in range(s.commit + 1, n + 1):
            if i > len(s.log):
                self.fail(f"{s.name} commits index {i} beyond its log ({len(s.log)} entries)")
            uid = s.log[i - 1].uid
            if i <= len(self.committed):
                if self.committed[i - 1] != uid:
                    self.fail(f"state machine safety: {s.name} commits a different entry at index {i}")
            elif s.role == LEADER:
                self.committed.append(uid)
            else:
                self.fail(f"{s.name} commits index {i}, which no leader committed")
        s.commit = n

    def leader_commit_ok(self, s, n):
        """CommitWith: n entries held by a quorum (the leader counting its own log once it is
        durable: a crash loses the rest), the entry at n of the leader's term. The code may
        commit less than the most the quorum holds; never more."""
        if n > len(s.log):
            return False
        durable = s.durable[2]
        own = len(durable) >= n and durable[n - 1].uid == s.log[n - 1].uid
        agree = ({s.name} if own else set()) | {p for p, m in s.match.items() if m >= n}
        return is_quorum(agree, s.cfg()) and s.log[n - 1].term == s.term

    # ---------------------------------------------------------------- lines

    def apply(self, line):
        self.line = line
        event = line["event"]
        name = line["node"]
        s = self.nodes[name]
        if event == "send":
            self.send(s, line["msg"], line["copies"])
            return
        if event == "crash":
            s.up = False
            return
        if event == "readServed":
            start = self.reads.get(line["read"])
            if start is not None and line["index"] < start:
                self.fail(f"ReadIndex read {line['read']} served at {line['index']}, "
                          f"but {start} entries were committed when it began")
            return
        if event == "leaseRead":
            self.lease_read(s, line["index"])
            return
        state = line["state"]
        if event == "init":
            self.expect_init(s, state)
            return
        if event == "restart":
            self.restart(s)
        elif event == "deliver":
            self.receive(s, line["msg"], state)
        elif event == "tick":
            self.tick(s, state)
        elif event == "install":
            self.install(s, state)
        elif event == "compact":
            self.compact(s, state)
        elif event == "read":
            self.reads[line["read"]] = len(self.committed)
        elif event == "stored":
            self.stored(s, line["durable"])
        elif event in ("applied", "internal", "propose", "change", "transfer"):
            pass
        else:
            self.fail(f"unknown event {event}")
        self.leader_steps(s, state, line.get("log"), event)
        self.compare(s, state, line.get("log"))

    def expect_init(self, s, state):
        # The code holds a node's vote after its first start as after any restart.
        s.restart_hold = self.check_quorum
        if (state["term"], state["vote"], state["role"], state["commit"], state["last"][0]) != (0, None, FOLLOWER, 0, 0):
            self.fail(f"{s.name} does not start in Init")
        if cfg_of(state["cfg"]) != s.snap_cfg:
            self.fail(f"{s.name} starts with {show_cfg(cfg_of(state['cfg']))}, Init says {show_cfg(s.snap_cfg)}")

    def compare(self, s, state, log):
        fields = [("term", s.term, state["term"]), ("vote", s.vote, state["vote"]),
                  ("role", s.role, state["role"]), ("leader", s.leader, state["leader"]),
                  ("commit", s.commit, state["commit"]),
                  ("last", [s.last_index(), s.last_term()], state["last"]),
                  ("snapshot index", s.snap_index, state["snap"][0])]
        for name, spec, code in fields:
            if spec != code:
                self.fail(f"{s.name}'s {name} is {code} in the code, {spec} in the specification")
        if s.role in (PRECANDIDATE, CANDIDATE) and (set(state["granted"]), set(state["refused"])) != (s.votes, s.refused):
            self.fail(f"{s.name}'s campaign has votes {sorted(state['granted'])} and refusals "
                      f"{sorted(state['refused'])} in the code, {sorted(s.votes)} and {sorted(s.refused)} "
                      f"in the specification")
        if cfg_of(state["cfg"]) != s.cfg():
            self.fail(f"{s.name}'s configuration is {show_cfg(cfg_of(state['cfg']))} in the code, "
                      f"{show_cfg(s.cfg())} in the specification")
        if log is not None:
            for k, entry in enumerate(log["entries"]):
                i = log["from"] + k
                mine = s.log[i - 1]
                if mine.term != entry[0] or mine.kind != entry[1]:
                    self.fail(f"{s.name}'s entry {i} is {entry[0]}/{entry[1]} in the code, "
                              f"{mine.term}/{mine.kind} in the specification")

    # ---------------------------------------------------------------- leaders' own steps

    def leader_steps(self, s, state, log, event):
        """What a leader does on its own after any step: append its no-op, commands and
        configurations (ClientRequest, the membership actions, PromoteLearner, LeaveJoint),
        commit (AdvanceCommit), hand over and step down (LeaderLeave)."""
        # A step may commit, then append (a promotion, leaving the joint configuration), then
        # commit more under the configuration just appended: commit first what the configuration
        # in force allows.
        if s.role == LEADER and state["commit"] > s.commit:
            for n in range(state["commit"], s.commit, -1):
                if self.leader_commit_ok(s, n):
                    self.commit_to(s, n)
                    break
        if s.role == LEADER and log is not None:
            start = log["from"]
            if start <= len(s.log):
                self.fail(f"leader {s.name} rewrites its log from index {start}")
            for k, entry in enumerate(log["entries"]):
                self.leader_append(s, entry, event)
        if s.role == LEADER and state["commit"] > s.commit:
            if not self.leader_commit_ok(s, state["commit"]):
                self.fail(f"leader {s.name} commits {state['commit']}, which no quorum of "
                          f"{show_cfg(s.cfg())} holds in term {s.term} (match {dict(sorted(s.match.items()))})")
            self.commit_to(s, state["commit"])
        if getattr(s, "pending_noop", False) and s.role == LEADER:
            self.fail(f"{s.name} leads term {s.term} without appending its no-op")
        if s.role == LEADER and state["role"] == FOLLOWER and state["term"] == s.term:
            c = s.cfg()
            leave = not s.uncommitted_cfg() and not c[1] and s.name not in c[0]
            step_down = self.check_quorum and event == "tick"
            if not (leave or step_down):
                self.fail(f"leader {s.name} stops leading term {s.term} with neither LeaderLeave "
                          f"nor StepDown allowed")
            if leave:
                s.left_leadership = (s.term, len(s.log))
            self.stop_leading(s)
            s.role, s.leader, s.maybe_in_lease = FOLLOWER, None, False

    def leader_append(self, s, entry, event):
        term, kind = entry[0], entry[1]
        index = len(s.log) + 1
        if term != s.term:
            self.fail(f"leader {s.name} appends an entry of term {term} in term {s.term}")
        c = s.cfg()
        if getattr(s, "pending_noop", False):
            if kind != "noop":
                self.fail(f"leader {s.name}'s first entry of term {s.term} is a {kind}, not its no-op")
            s.pending_noop = False
            new = Entry(term, "noop", EMPTY_CFG, self.new_uid())
        elif kind == "noop":
            self.fail(f"leader {s.name} appends a second no-op in term {s.term}")
        elif kind == "cmd":
            if s.name not in c[0]:
                self.fail(f"leader {s.name} takes a command while not a voter of {show_cfg(c)} (ClientRequest)")
            new = Entry(term, "cmd", EMPTY_CFG, self.new_uid())
        else:
            n = cfg_of(entry[2])
            self.check_cfg_change(s, c, n)
            new = Entry(term, "cfg", n, self.new_uid())
        if (index, term) in self.by_position:
            self.fail(f"log matching: a second entry at index {index} term {term}")
        self.by_position[(index, term)] = new.uid
        self.entries[new.uid] = new
        s.log.append(new)

    def check_cfg_change(self, s, c, n):
        """The membership actions: AddLearner, AddVoter, RemoveMember, JointChange (guarded by
        ChangeAllowed), PromoteLearner, LeaveJoint."""
        if c[1]:
            if not s.uncommitted_cfg() and n == (c[0], frozenset(), c[2], c[3]):
                return  # LeaveJoint
            self.fail(f"leader {s.name} changes {show_cfg(c)} to {show_cfg(n)} while joint")
        if s.uncommitted_cfg():
            self.fail(f"leader {s.name} appends {show_cfg(n)} while {show_cfg(c)} is uncommitted")
        if not s.committed_in_current_term():
            self.fail(f"leader {s.name} changes the configuration before committing in term {s.term}")
        if s.name not in c[0]:
            self.fail(f"leader {s.name} changes the configuration while leaving it")
        voters, learners, promote = c[0], c[2], c[3]
        none = frozenset()
        for p in self.nodes:
            one = frozenset([p])
            if p not in members(c) and n == (voters, none, learners | one, promote):
                return  # AddLearner
            if p not in voters and n == (voters, none, learners | one, promote | one):
                return  # AddVoter: a learner to promote
            if p in members(c) and voters != one and n == (voters - one, none, learners - one, promote - one):
                return  # RemoveMember
            if p in promote and n == (voters | one, none, learners - one, promote - one):
                if s.match.get(p, 0) >= s.commit:
                    return  # PromoteLearner
                self.fail(f"leader {s.name} promotes {p} before it holds the committed entries")
        if n[1] == voters and n[0] and n[0] != voters and not (n[2] & n[0]) and n[3] <= (promote & n[2]):
            return  # JointChange (demoted voters and new members may stay or come as learners)
        if not n[1] and n[0] and len(n[0] ^ voters) <= 1 and not (n[2] & n[0]) and n[3] <= n[2]:
            return  # ChangeMembers: at most one voter comes or goes, learners change with it
        self.fail(f"leader {s.name} changes {show_cfg(c)} to {show_cfg(n)}, which no membership action allows")

    # ---------------------------------------------------------------- time

    def tick(self, s, state):
        """The election timer (Timeout, then BecomeCandidate and BecomeLeader for a lone voter);
        check-quorum's StepDown is in leader_steps."""
        if state["role"] == s.role and state["term"] == s.term and s.role != PRECANDIDATE:
            return
        if state["role"] == PRECANDIDATE and state["term"] == s.term:
            restarted = set(state["granted"]) == {s.name} and not state["refused"] and \
                (s.votes != {s.name} or s.refused)
            if s.role != PRECANDIDATE or restarted:
                self.timeout(s)
            return
        if state["role"] in (CANDIDATE, LEADER) and state["term"] == s.term + 1:
            self.timeout(s)
            if s.role == PRECANDIDATE:
                if not is_quorum(s.votes, s.cfg()):
                    self.fail(f"{s.name} campaigns without a quorum of pre-votes")
                self.campaign_vars(s, False)
            if state["role"] == LEADER:
                if not is_quorum(s.votes, s.cfg()):
                    self.fail(f"{s.name} leads without a quorum of votes")
                self.become_leader(s)

    def timeout(self, s):
        if s.role not in (FOLLOWER, PRECANDIDATE, CANDIDATE):
            self.fail(f"leader {s.name} campaigns")
        if not s.promotable():
            self.fail(f"{s.name} campaigns but is not a voter of {show_cfg(s.cfg())}")
        self.hold_expires(s)
        if self.pre_vote:
            s.role = PRECANDIDATE
            s.votes = {s.name}
            s.refused = set()
            s.leader = None
            self.note_campaign(s)
        else:
            self.campaign_vars(s, False)

    # ---------------------------------------------------------------- receiving

    def receive(self, s, m, state):
        if self.key(m) not in self.sent:
            self.fail(f"{s.name} receives a message nobody sent: {m}")
        t = m["type"]
        if t == "Other":
            # Forwarded proposals and reads are outside the specification; a newer term they
            # carry may or may not be taken (UpdateTerm is allowed, never required).
            if m["term"] > s.term and state["term"] > s.term:
                self.update_term(s, m, state)
            return
        if m["term"] > s.term:
            ignored = (t == "VoteReq" and m["preVote"]) or (t == "VoteResp" and m["preVote"] and m["granted"])
            may_hold = t == "VoteReq" and not m["preVote"] and not m["transfer"] and self.hold_possible(s)
            if not ignored:
                if may_hold and state["term"] == s.term:
                    return  # the vote is held: the request goes unheard
                if may_hold:
                    if s.role == LEADER and self.check_quorum:
                        self.fail(f"leader {s.name} moves to term {m['term']} on a vote request it must not hear")
                    self.hold_expires(s)
                self.update_term(s, m, state)
        if m["term"] < s.term:
            self.stale(s, m)
            return
        handler = {"VoteReq": self.vote_request, "VoteResp": self.vote_response, "App": self.append,
                   "HB": self.heartbeat, "Snap": self.snapshot_chunk, "AppResp": self.append_response,
                   "SnapResp": self.append_response, "HBResp": self.heartbeat_response,
                   "TimeoutNow": self.timeout_now}[t]
        handler(s, m, state)

    def update_term(self, s, m, state):
        """UpdateTerm: a newer term makes the node a follower of it."""
        if s.role == LEADER:
            self.stop_leading(s)
        leader_message = m["type"] in ("App", "HB", "Snap")
        s.term = m["term"]
        s.vote = None
        s.role = FOLLOWER
        s.votes = set()
        s.leader = m["from"] if leader_message else None
        if not leader_message:
            s.maybe_in_lease = False

    def stale(self, s, m):
        """HandleStale: a stale leader learns the newer term; a stale vote request is refused."""
        if m["type"] in ("App", "HB", "Snap", "VoteReq"):
            s.replies.append(("stale", m["from"], s.term))

    def vote_request(self, s, m, state):
        """HandleVoteRequest. Whether the node's vote is held depends on time the trace does not
        show, so both are tried; a vote the code grants means the hold had ended."""
        pre = m["preVote"]
        if not (m["term"] == s.term or (pre and m["term"] > s.term)):
            return
        grants = {}
        for held in ([True, False] if self.hold_possible(s) else [False]):
            if pre and m["term"] > s.term and held and not m["transfer"]:
                continue  # ignored: no answer
            can_vote = (not held or m["transfer"]) and (
                s.vote == m["from"] or (s.vote is None and s.leader is None) or (pre and m["term"] > s.term))
            grants[held] = can_vote and s.up_to_date(m["lastTerm"], m["lastIndex"])
        possible = set(grants.values())
        if not pre:
            if s.vote is None and state["vote"] == m["from"]:
                if True not in possible:
                    self.fail(f"{s.name} votes for {m['from']} in term {s.term}, which HandleVoteRequest "
                              f"refuses (leader {s.leader}, log {s.last_index()}/{s.last_term()}, "
                              f"candidate's {m['lastIndex']}/{m['lastTerm']})")
                if grants.get(True) is not True:
                    self.hold_expires(s)
                s.vote = m["from"]
                possible = {True}
            elif s.vote is None and state["vote"] is None:
                if False not in possible:
                    self.fail(f"{s.name} refuses {m['from']} a vote HandleVoteRequest grants")
                possible = {False}
        answers = frozenset((m["term"] if g and pre else s.term, g) for g in possible)
        s.replies.append(("vote", m["from"], pre, answers))

    def vote_response(self, s, m, state):
        """HandleVoteResponse: a pre-candidate counts pre-votes, a candidate the votes of its
        term. The answer that completes a quorum makes the pre-candidate campaign or the
        candidate lead; the refusal after which no quorum can grant makes it give up (tallyVotes)."""
        counted = (s.role == PRECANDIDATE and m["preVote"]) or \
            (s.role == CANDIDATE and not m["preVote"] and m["term"] == s.term)
        if not counted:
            return
        # The code keeps each voter's latest answer (a vote held after a restart refuses a
        # request it granted before): it counts a subset of the specification's votes.
        if not m["granted"]:
            s.votes.discard(m["from"])
            s.refused.add(m["from"])
            if not is_quorum(all_voters(s.cfg()) - s.refused, s.cfg()):
                s.role = FOLLOWER
                s.votes = set()
                s.refused = set()
            return
        s.refused.discard(m["from"])
        now = s.votes | {m["from"]}
        if is_quorum(now, s.cfg()) and s.role == PRECANDIDATE:
            self.campaign_vars(s, False)
            if state["role"] == LEADER and is_quorum(s.votes, s.cfg()):
                self.become_leader(s)
        elif is_quorum(now, s.cfg()) and s.role == CANDIDATE:
            self.become_leader(s)
        else:
            s.votes = now

    def accept_leader(self, s, m):
        """AcceptLeader: the node follows the sender of a leader's message of its term."""
        if s.role == LEADER:
            self.fail(f"leader {s.name} receives a leader's message of its own term {s.term} from {m['from']}")
        if s.role != FOLLOWER:
            s.votes = set()
        s.role = FOLLOWER
        s.leader = m["from"]
        s.maybe_in_lease = self.check_quorum

    def entries_of(self, m):
        """The uids of an append's entries, from the sender's log (SendAppend checked them)."""
        sender = self.nodes[m["from"]]
        source = sender.led.get(m["term"], (sender.log, 0))[0] if sender.term != m["term"] or sender.role != LEADER \
            else sender.log
        result = []
        for k, e in enumerate(m["entries"]):
            i = m["prevIndex"] + k + 1
            result.append(source[i - 1])
        return result

    def append(self, s, m, state):
        """HandleAppend."""
        self.accept_leader(s, m)
        ents_all = self.entries_of(m)
        if any(e.term > s.term for e in ents_all):
            return
        skip = s.commit - m["prevIndex"] if m["prevIndex"] < s.commit else 0
        prev = m["prevIndex"] + skip
        ents = ents_all[skip:] if skip < len(ents_all) else []
        prev_term = s.term_at(prev) if skip > 0 and prev <= len(s.log) else m["prevTerm"]
        if skip > 0 and skip >= len(ents_all):
            s.replies.append(("app", m["from"], s.term, True, {s.commit}, s.log[s.commit - 1].uid if s.commit else None))
            return
        if prev > len(s.log) or s.term_at(prev) != prev_term:
            s.replies.append(("app", m["from"], s.term, False, None))
            return
        conflict = None
        for k, e in enumerate(ents, start=1):
            if prev + k > len(s.log) or s.log[prev + k - 1].term != e.term:
                conflict = k
                break
        if conflict is not None:
            if prev + conflict - 1 < s.commit:
                self.fail(f"{s.name} truncates committed entry {prev + conflict}")
            s.log = s.log[:prev + conflict - 1] + ents[conflict - 1:]
        last_new = prev + len(ents)
        new_commit = min(m["commit"], last_new)
        if new_commit > s.commit:
            self.commit_to(s, new_commit)
        s.replies.append(("app", m["from"], s.term, True, {last_new}, s.log[last_new - 1].uid if last_new else None))

    def heartbeat(self, s, m, state):
        """HandleHeartbeat."""
        self.accept_leader(s, m)
        c = min(m["commit"], len(s.log))
        if c > s.commit:
            self.commit_to(s, c)
        s.replies.append(("hb", m["from"], s.term, m["round"]))

    def snapshot_chunk(self, s, m, state):
        """A chunk of HandleSnapshot: the node follows the leader; the snapshot is installed once
        its last chunk is written (the install line)."""
        self.accept_leader(s, m)
        if m["offset"] == 0:
            s.incoming = (m["index"], m["snapTerm"], cfg_of(m["cfg"]), self.snapshot_prefix.get(self.key(m)))
        s.replies.append(("snap", m["from"], s.term, m["index"]))

    def install(self, s, state):
        """HandleSnapshot's effect, once the snapshot is durable."""
        if s.incoming is None:
            self.fail(f"{s.name} installs a snapshot it never received")
        index, term, cfg, prefix = s.incoming
        if (state["snap"][0], state["snap"][1]) != (index, term):
            self.fail(f"{s.name} installs snapshot {state['snap']}, but received {index}/{term}")
        if index <= s.commit:
            self.fail(f"{s.name} installs a snapshot at {index}, not past its commit index {s.commit}")
        if prefix is None:
            self.fail(f"{s.name} installs a snapshot whose first chunk nobody sent")
        kept = index <= len(s.log) and s.log[index - 1].term == term
        if not kept:
            s.log = list(prefix)
        s.snap_index, s.snap_cfg = index, cfg
        self.commit_to(s, index)
        d = s.durable
        s.durable = (d[0], d[1], list(s.log[:index]) + d[2][index:] if kept else list(prefix), index, cfg,
                     max(d[5], index))
        s.stored_entries.update((i, e.uid) for i, e in enumerate(s.log[:index], start=1))

    def append_response(self, l, m, state):
        """HandleAppendResponse / handleSnapshotResponse."""
        if m["type"] == "SnapResp" and not m["done"]:
            return
        if l.role != LEADER or m["from"] not in members(l.cfg()):
            return
        if not (m["type"] == "SnapResp" or m["success"]):
            return
        if m["index"] <= len(l.log) and m["index"] > l.match.get(m["from"], 0):
            l.match[m["from"]] = m["index"]

    def heartbeat_response(self, l, m, state):
        if l.role == LEADER and m["from"] in members(l.cfg()) and self.check_quorum:
            l.lease_acks.add(m["from"])

    def timeout_now(self, s, m, state):
        """HandleTimeoutNow: campaign at once, without pre-vote."""
        if state["role"] in (CANDIDATE, LEADER) and state["term"] == s.term + 1:
            if not (s.role == FOLLOWER and s.leader == m["from"] and s.name in s.cfg()[0]):
                self.fail(f"{s.name} campaigns on TimeoutNow from {m['from']} without following it as a voter")
            self.campaign_vars(s, True)
            if state["role"] == LEADER and is_quorum(s.votes, s.cfg()):
                self.become_leader(s)

    # ---------------------------------------------------------------- sending

    def send(self, s, m, copies):
        k = self.key(m)
        t = m["type"]
        if t == "VoteReq":
            tmpl = (m["term"], m["preVote"], m["lastTerm"], m["lastIndex"], m["transfer"])
            if tmpl not in s.campaigns:
                self.fail(f"{s.name} sends a vote request {tmpl} no campaign of it made (RequestVote)")
            c = s.cfg()
            if m["to"] not in all_voters(c) and m["term"] == s.term + (1 if m["preVote"] else 0):
                self.fail(f"{s.name} asks {m['to']} for a vote, not a voter of {show_cfg(c)}")
        elif t in ("App", "HB", "Snap"):
            self.check_leader_message(s, m)
        elif t == "TimeoutNow":
            self.check_timeout_now(s, m)
        elif t in ("VoteResp", "AppResp", "HBResp", "SnapResp"):
            self.check_reply(s, m)
        self.sent[k] = self.sent.get(k, 0) + copies

    def leader_view(self, s, term):
        """The sender's log and commit index when it led `term` (now, or when it stopped)."""
        if s.role == LEADER and s.term == term:
            return s.log, s.commit, True
        if term in s.led:
            log, commit = s.led[term]
            return log, commit, False
        return None, None, False

    def check_leader_message(self, l, m):
        log, commit, current = self.leader_view(l, m["term"])
        if log is None:
            self.fail(f"{l.name} sends a {m['type']} of term {m['term']}, which it never led")
        t = m["type"]
        if t == "App":
            prev = m["prevIndex"]
            if prev > len(log) or prev + len(m["entries"]) > len(log):
                self.fail(f"{l.name} sends entries {prev + 1}..{prev + len(m['entries'])} it does not hold")
            if (log[prev - 1].term if prev > 0 else 0) != m["prevTerm"]:
                self.fail(f"{l.name} sends prevTerm {m['prevTerm']} for index {prev}, its log says "
                          f"{log[prev - 1].term}")
            for k, e in enumerate(m["entries"]):
                mine = log[prev + k]
                self.left_node.add(mine.uid)
                if (mine.term, mine.kind) != (e[0], e[1]):
                    self.fail(f"{l.name} sends entry {prev + k + 1} as {e[0]}/{e[1]}, its log holds "
                              f"{mine.term}/{mine.kind} (SendAppend)")
            if m["commit"] > commit:
                self.fail(f"{l.name} sends commit {m['commit']} past its commit index {commit}")
        elif t == "HB":
            if m["commit"] > commit:
                self.fail(f"{l.name} sends a heartbeat with commit {m['commit']} past its commit index {commit}")
            if current and m["commit"] > max(l.match.get(m["to"], 0), 0) and m["commit"] > 0 \
                    and m["commit"] > l.match.get(m["to"], 0):
                self.fail(f"{l.name} sends {m['to']} commit {m['commit']}, past what it knows {m['to']} holds "
                          f"({l.match.get(m['to'], 0)}) (SendHeartbeat)")
        else:
            if not current:
                self.fail(f"{l.name} starts sending a snapshot of term {m['term']} it no longer leads")
            if m["offset"] == 0:
                if m["index"] > l.snap_index:
                    self.fail(f"{l.name} sends a snapshot at {m['index']} past its own at {l.snap_index}")
                if l.term_at(m["index"]) != m["snapTerm"] or l.cfg_at(m["index"]) != cfg_of(m["cfg"]):
                    self.fail(f"{l.name} sends a snapshot at {m['index']} whose term or configuration "
                              f"is not its log's")
                self.snapshot_prefix[self.key(m)] = list(l.log[:m["index"]])

    def check_timeout_now(self, l, m):
        if l.role == LEADER and l.term == m["term"]:
            if m["to"] not in l.cfg()[0] or m["to"] == l.name:
                self.fail(f"{l.name} sends TimeoutNow to {m['to']}, not another voter")
            if l.match.get(m["to"], 0) != len(l.log):
                self.fail(f"{l.name} sends TimeoutNow to {m['to']}, whose log does not match its own "
                          f"({l.match.get(m['to'], 0)} of {len(l.log)}) (TransferLeadership)")
            l.lease_revoked = True
            return
        if l.left_leadership and l.left_leadership[0] == m["term"]:
            return
        self.fail(f"{l.name} sends TimeoutNow in term {m['term']} while not leading it")

    def check_reply(self, s, m):
        t = m["type"]
        for k, r in enumerate(s.replies):
            if r[1] != m["to"]:
                continue
            if r[0] == "stale":
                ok = m["term"] == r[2] and (t in ("HBResp", "AppResp") and not m.get("success", False)
                                             or t == "VoteResp" and not m["granted"] or t == "SnapResp")
            elif r[0] == "vote":
                ok = t == "VoteResp" and m["preVote"] == r[2] and (m["term"], m["granted"]) in r[3]
            elif r[0] == "app":
                ok = t == "AppResp" and m["term"] == r[2] and m["success"] == r[3] and \
                    (not r[3] or m["index"] in r[4])
            elif r[0] == "hb":
                ok = t == "HBResp" and m["term"] == r[2] and m["round"] == r[3]
            else:
                ok = t == "SnapResp" and m["term"] == r[2] and m["index"] == r[3]
            if ok:
                del s.replies[k]
                self.check_durable_answer(s, m, r)
                return
        self.fail(f"{s.name} sends {m}, an answer no handler of the specification produced "
                  f"(pending: {s.replies[-4:]})")

    def check_durable_answer(self, s, m, reply):
        """An answer leaves only once what it vouches for is durable (the driver holds it until
        the write is done): a vote granted, and the entries an acknowledgement covers."""
        # A held answer may leave after later writes: what it vouches for must have been stored
        # by some write before it leaves. A vote is also safe once a later term is stored (writes
        # may be combined, and the node can never vote in that term again).
        if m["type"] == "VoteResp" and m["granted"] and not m["preVote"] \
                and (m["term"], m["to"]) not in s.stored_votes and s.durable[0] <= m["term"]:
            self.fail(f"{s.name} grants its vote to {m['to']} in term {m['term']} before storing it "
                      f"(stored: term {s.durable[0]}, vote {s.durable[1]})")
        if m["type"] == "AppResp" and m["success"] and reply[5] is not None and (m["index"], reply[5]) not in s.stored_entries:
            self.fail(f"{s.name} acknowledges entry {m['index']} before storing it "
                      f"(stored: {len(s.durable[2])} entries)")

    # ---------------------------------------------------------------- the rest

    def stored(self, s, durable):
        """A write is durable: its hard state, and its entries in place of what followed them."""
        log = s.durable[2]
        if "written" in durable:
            first, terms = durable["written"]
            written = []
            for k, term in enumerate(terms):
                uid = self.by_position.get((first + k, term))
                if uid is None:
                    self.fail(f"{s.name} stores entry {first + k}/{term}, which no leader appended")
                written.append(self.entries[uid])
            log = log[:first - 1] + written
        index, term = durable["last"]
        if index != len(log) and index > s.snap_index or (log and index == len(log) and log[-1].term != term):
            self.fail(f"{s.name}'s storage ends at {index}/{term}, the specification's durable log at "
                      f"{len(log)}/{log[-1].term if log else 0}")
        s.durable = (durable["term"], durable["vote"], log, s.snap_index, s.snap_cfg, durable["commit"])
        s.stored_votes.add((durable["term"], durable["vote"]))
        if "written" in durable:
            first = durable["written"][0]
            s.stored_entries.update((first + k, e.uid) for k, e in enumerate(log[first - 1:]))

    def restart(self, s):
        """Restart: the durable state comes back, the rest is lost; the vote is held."""
        term, vote, log, snap_index, snap_cfg, commit = s.durable
        s.up = True
        # Entries lost with the crash that never left the node are forgotten: a leader re-elected
        # in a term it had not stored may append other entries at their positions.
        kept = {e.uid for e in log}
        for i, e in enumerate(s.log, start=1):
            if e.uid not in kept and e.uid not in self.left_node and self.by_position.get((i, e.term)) == e.uid:
                del self.by_position[(i, e.term)]
        if s.role == LEADER:
            self.stop_leading(s)
        s.term, s.vote, s.log = term, vote, list(log)
        s.snap_index, s.snap_cfg = snap_index, snap_cfg
        s.role, s.leader, s.votes = FOLLOWER, None, set()
        s.maybe_in_lease = False
        s.restart_hold = self.check_quorum
        s.commit = max(snap_index, min(commit, len(s.log)))
        s.replies = []
        s.incoming = None
        self.no_leader_state(s)
        # The committed prefix must be the committed history.
        for i in range(1, s.commit + 1):
            if i <= len(self.committed) and s.log[i - 1].uid != self.committed[i - 1]:
                self.fail(f"{s.name} restarts with a different entry at committed index {i}")

    def compact(self, s, state):
        """Compact: the snapshot point moves within the committed prefix."""
        i = state["snap"][0]
        if not (s.snap_index < i <= s.commit):
            self.fail(f"{s.name} compacts to {i}, outside ({s.snap_index}, {s.commit}]")
        s.snap_cfg = s.cfg_at(i)
        s.snap_index = i
        d = s.durable
        s.durable = (d[0], d[1], d[2], i, s.snap_cfg, d[5])

    def lease_read(self, l, index):
        """A lease read: the lease must hold (LeaseReadLinearizable, LeaseExclusive)."""
        if l.role != LEADER:
            self.fail(f"{l.name} serves a lease read while not leading")
        if not l.committed_in_current_term():
            self.fail(f"{l.name} serves a lease read before committing in term {l.term}")
        if l.lease_revoked:
            self.fail(f"{l.name} serves a lease read after sending TimeoutNow")
        if l.commit < len(self.committed):
            self.fail(f"lease read on {l.name} at commit {l.commit} misses committed entries up to "
                      f"{len(self.committed)}")
        for k in self.nodes.values():
            if k is not l and k.up and k.role == LEADER and k.term > l.term:
                self.fail(f"lease read on {l.name} (term {l.term}) while {k.name} leads term {k.term}")


def check_lines(lines, path):
    """Replays parsed trace lines; returns None, or the first divergence."""
    header = lines[0]
    checker = Checker(header)
    number, line = 0, None
    try:
        for number, line in enumerate(lines[1:], start=2):
            checker.apply(line)
    except Divergence as problem:
        return f"seed {header['seed']}: line {number} ({path}): {problem}\n  {json.dumps(line)[:600]}"
    except (KeyError, IndexError, TypeError) as problem:
        return f"seed {header['seed']}: line {number} ({path}): checker error {problem!r}\n  {json.dumps(line)[:600]}"
    return None


def check(path):
    with open(path) as f:
        return check_lines([json.loads(text) for text in f], path)


# ---------------------------------------------------------------- self-test

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


def self_test(path):
    """The checker must accept the trace as it is and report each tampered copy."""
    with open(path) as f:
        lines = [json.loads(text) for text in f]
    problem = check_lines(lines, path)
    if problem:
        print(f"self-test: the untouched trace is not valid:\n{problem}")
        return 1
    caught, tried = 0, 0
    for tamper in (tamper_unsent, tamper_double_vote, tamper_commit_without_quorum, tamper_answer,
                   tamper_old_term_entry, tamper_compaction):
        bad = tamper(lines)
        if bad is None:
            continue
        tried += 1
        problem = check_lines(bad, path)
        if problem is None or "checker error" in problem:
            print(f"self-test: {tamper.__doc__.strip()} -- NOT caught" + (f": {problem}" if problem else ""))
        else:
            caught += 1
            print(f"self-test: {tamper.__doc__.strip()} -- caught: {problem.splitlines()[0].split('): ', 1)[1]}")
    print(f"self-test: the checker caught {caught} of {tried} tampered copies of {path}")
    return 0 if caught == tried and tried >= 4 else 1


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
        sys.exit(self_test(sys.argv[2]))
    sys.exit(main(sys.argv[1:]))
