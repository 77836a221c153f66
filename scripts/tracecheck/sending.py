"""Sending: every message a node sends must be one a send action allows, or an answer a handler
produced and made durable first."""

from .model import LEADER, all_voters, cfg_of, show_cfg


class Sending:
    """The checks of sent messages (mixed into Checker)."""

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
            # The first chunk is SendSnapshot from the state the leader is in. Later chunks are
            # read from storage and may leave after it stopped leading that term: they carry
            # the snapshot it began sending then.
            if m["offset"] == 0 and not current:
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
