"""The specification's data for the trace checker: configurations, quorums, log entries, and a
node's variables (spec/WebRaft.tla)."""

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
        self.contact = None                # the node's clock when it last heard its leader
        self.held_until = 0                # the node's clock until which a start holds its vote
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
