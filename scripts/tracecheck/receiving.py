"""Receiving: UpdateTerm and the specification's handlers, one per message type."""

from .model import (CANDIDATE, FOLLOWER, LEADER, PRECANDIDATE, all_voters, cfg_of, is_quorum,
                    members)


class Receiving:
    """The checker's handlers (mixed into Checker): each computes the node's next state and the
    answers it may send."""

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
                if may_hold and self.holds_vote(s):
                    self.fail(f"{s.name} hears a vote request of term {m['term']} while its vote is held")
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
        """HandleVoteRequest. Whether the node's vote is held follows from its clock (the line's
        `now`) and when it last heard its leader or started; a trace without clocks tries both."""
        pre = m["preVote"]
        if not (m["term"] == s.term or (pre and m["term"] > s.term)):
            return
        grants = {}
        exact = self.holds_vote(s)
        for held in ([exact] if exact is not None else [True, False] if self.hold_possible(s) else [False]):
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
        s.contact = self.now

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
        if prefix is None:
            self.fail(f"{s.name} installs a snapshot whose first chunk nobody sent")
        kept = index <= len(s.log) and s.log[index - 1].term == term
        if index <= s.commit:
            # The commit index caught up while the chunks came: the snapshot then covers entries
            # the node holds and knows committed, and installing it is Compact.
            if not kept or index <= s.snap_index or s.cfg_at(index) != cfg:
                self.fail(f"{s.name} installs a snapshot at {index}, within its commit index {s.commit}, "
                          f"that its log does not hold")
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
