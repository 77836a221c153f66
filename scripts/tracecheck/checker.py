"""The trace checker: the specification's variables for every node and the ghost history, and
the replay of one trace line through the specification's actions (spec/TRACES.md)."""

import json

from .model import (CANDIDATE, EMPTY_CFG, FOLLOWER, LEADER, PRECANDIDATE, Divergence, Entry, Node,
                    all_voters, cfg_of, is_quorum, members, show_cfg)
from .receiving import Receiving
from .sending import Sending


class Checker(Receiving, Sending):
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
        self.now = None                    # the stepping node's clock, from the line
        self.heartbeat_timeout = header.get("heartbeatTimeout")

    # ---------------------------------------------------------------- helpers

    def fail(self, text):
        raise Divergence(text)

    def new_uid(self):
        self.next_uid += 1
        return self.next_uid

    @staticmethod
    def key(msg):
        return json.dumps(msg, sort_keys=True)

    def holds_vote(self, s):
        """HoldsVote(s) at the time of the step, on s's clock: a leader, a follower that heard its
        leader less than a heartbeat timeout ago, a node started less than one ago. None when the
        trace carries no clocks."""
        if self.heartbeat_timeout is None or self.now is None:
            return None
        if not self.check_quorum:
            return False
        if s.role == LEADER:
            return True
        if s.leader is not None and s.contact is not None and self.now - s.contact < self.heartbeat_timeout:
            return True
        return self.now < s.held_until

    def hold_possible(self, s):
        exact = self.holds_vote(s)
        if exact is not None:
            return exact
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
        self.now = line.get("now")
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
        if self.check_quorum and self.heartbeat_timeout is not None:
            s.held_until = self.now + self.heartbeat_timeout
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
        if self.check_quorum and self.heartbeat_timeout is not None:
            s.held_until = self.now + self.heartbeat_timeout
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
        clocks = self.line.get("clocks")
        if clocks is not None and self.heartbeat_timeout is not None:
            # The lease's timing assumption itself: a quorum still holds its votes (no candidate
            # can win), each on its own clock. A node that is down cannot vote either.
            holding = {l.name}
            for p in all_voters(l.cfg()):
                k = self.nodes[p]
                if p == l.name:
                    continue
                if not k.up:
                    holding.add(p)
                    continue
                now = clocks[p]
                heard = k.leader == l.name and k.term == l.term and k.contact is not None \
                    and now - k.contact < self.heartbeat_timeout
                if heard or now < k.held_until:
                    holding.add(p)
            if not is_quorum(holding, l.cfg()):
                self.fail(f"lease read on {l.name} while only {sorted(holding)} hold their votes: "
                          f"a candidate could be elected")


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
