------------------------------ MODULE WebRaft ------------------------------
(***************************************************************************)
(* The protocol of WebRaft's core (Sources/WebRaft/Core) as a state        *)
(* machine: elections with pre-vote and check-quorum, log replication with *)
(* the leader's no-op and the Figure 8 commit rule, single-server and      *)
(* joint membership changes with learners, leadership transfer, ReadIndex  *)
(* and lease reads, snapshots, and crash/restart over a network that       *)
(* loses, duplicates and reorders messages.                                *)
(*                                                                         *)
(* spec/README.md maps each action to the code and lists what is           *)
(* abstracted away.                                                        *)
(***************************************************************************)
EXTENDS Naturals, Sequences, FiniteSets, TLC

CONSTANTS
    Server,        \* the nodes that may ever take part
    InitVoters,    \* the voters of the founding configuration
    Nil,           \* "no node"
    MaxTerm,       \* no node campaigns past this term
    MaxLogLen,     \* no log grows past this length
    MaxMsgs,       \* no more messages than this in flight (a state constraint)
    MaxRestarts,   \* crash/restarts in a behaviour
    MaxChanges,    \* membership changes proposed in a behaviour
    MaxReads,      \* ReadIndex reads started in a behaviour
    PreVote,       \* RaftConfiguration.preVote
    CheckQuorum,   \* RaftConfiguration.checkQuorum (vote holds, leases)
    Duplicate,     \* whether a received message may stay in the network
    FullBatches    \* whether appends always carry every entry after prevIndex

ASSUME InitVoters \subseteq Server /\ InitVoters /= {}
ASSUME Nil \notin Server
ASSUME {PreVote, CheckQuorum, Duplicate, FullBatches} \subseteq BOOLEAN

-----------------------------------------------------------------------------
(* Roles, message kinds, entry kinds. *)
Follower == "Follower"
PreCandidate == "PreCandidate"
Candidate == "Candidate"
Leader == "Leader"

(* A configuration: `voters` (the incoming voters while joint), `outgoing`  *)
(* (the previous voters, non-empty only while joint), `learners`, and      *)
(* `promote` (learners that joined to become voters).                      *)
Config(v, o, l, p) == [voters |-> v, outgoing |-> o, learners |-> l, promote |-> p]
InitConfig == Config(InitVoters, {}, {}, {})
EmptyConfig == Config({}, {}, {}, {})

(* Log entries: a no-op of a new leader, a command, or a configuration. *)
Entry(t, kind, c) == [term |-> t, kind |-> kind, cfg |-> c]

-----------------------------------------------------------------------------
VARIABLES
    \* Durable per node (kept across a restart).
    currentTerm, votedFor,
    log,          \* the whole log, compacted prefix included (see snapIndex)
    snapIndex,    \* entries up to here are compacted: the protocol reads only
                  \* the term at snapIndex and nothing below it
    snapCfg,      \* the configuration in force at snapIndex
    \* Volatile per node.
    role, leader, commitIndex,
    votes,        \* who granted the (pre-)vote of the current campaign
    transferCampaign, \* the campaign was started by TimeoutNow
    inLease,      \* a follower heard its leader recently (check-quorum)
    restartHold,  \* a restarted node grants no vote for a heartbeat timeout
    \* Volatile leader state.
    matchIndex, round, acked, leaseAcks, leaseRevoked,
    \* The network: a set of messages (see Receive for duplication).
    msgs,
    \* Reads in progress at leaders, and reads served (ghost).
    reads, served,
    \* Ghost state for the invariants.
    committed,    \* committed[i] = [entry, term]: the entry first known
                  \* committed at i, and the term of the leader that did
    elected,      \* elected[t] = the nodes that became leader in term t
    \* Counters that bound a behaviour.
    restarts, changes, readsStarted

nodeVars == <<currentTerm, votedFor, role, leader, inLease, restartHold, votes,
              transferCampaign>>
logVars == <<log, snapIndex, snapCfg, commitIndex>>
leaderVars == <<matchIndex, round, acked, leaseAcks, leaseRevoked>>
readVars == <<reads, served>>
ghostVars == <<committed, elected>>
countVars == <<restarts, changes, readsStarted>>
vars == <<nodeVars, logVars, leaderVars, msgs, readVars, ghostVars, countVars>>

-----------------------------------------------------------------------------
(* Helpers. *)
Max(S) == CHOOSE x \in S : \A y \in S : x >= y
Min(S) == CHOOSE x \in S : \A y \in S : x <= y

LastIndex(s) == Len(log[s])
LastTerm(s) == IF log[s] = << >> THEN 0 ELSE log[s][Len(log[s])].term
(* The term at i, for snapIndex[s] <= i <= LastIndex(s). *)
TermAt(s, i) == IF i = 0 THEN 0 ELSE log[s][i].term

(* Quorums. While joint, a quorum is a majority of the incoming voters and *)
(* a majority of the outgoing ones (Quorum.swift, Membership.swift).       *)
IsMajority(S, V) == 2 * Cardinality(S \cap V) > Cardinality(V)
IsQuorum(S, c) ==
    /\ IsMajority(S, c.voters)
    /\ c.outgoing = {} \/ IsMajority(S, c.outgoing)
AllVoters(c) == c.voters \cup c.outgoing
Members(c) == c.voters \cup c.outgoing \cup c.learners

(* The configuration in force is the last configuration entry in the log, *)
(* committed or not, else the one at the snapshot point                   *)
(* (RaftCore+Membership.swift: membershipInLog).                          *)
CfgIndexes(s) == {i \in (snapIndex[s] + 1)..Len(log[s]) : log[s][i].kind = "cfg"}
CfgAt(s, i) ==
    LET at == {j \in CfgIndexes(s) : j <= i}
    IN IF at = {} THEN snapCfg[s] ELSE log[s][Max(at)].cfg
Cfg(s) == CfgAt(s, Len(log[s]))
LatestCfgIndex(s) == IF CfgIndexes(s) = {} THEN snapIndex[s] ELSE Max(CfgIndexes(s))
UncommittedCfg(s) == LatestCfgIndex(s) > commitIndex[s]

(* isPromotable: a voter of the latest configuration, or of the one before *)
(* it while the latest (which removed it) is uncommitted.                 *)
Promotable(s) ==
    \/ s \in AllVoters(Cfg(s))
    \/ UncommittedCfg(s) /\ s \in AllVoters(CfgAt(s, LatestCfgIndex(s) - 1))

(* holdsVote: a leader, a follower that heard its leader within a         *)
(* heartbeat timeout, or a node that restarted within one.                *)
HoldsVote(s) ==
    /\ CheckQuorum
    /\ \/ role[s] = Leader
       \/ inLease[s] /\ leader[s] /= Nil
       \/ restartHold[s]

(* §5.4.1: compare last terms, then lengths. *)
UpToDate(s, lastTerm, lastIndex) ==
    \/ lastTerm > LastTerm(s)
    \/ lastTerm = LastTerm(s) /\ lastIndex >= LastIndex(s)

CommittedInCurrentTerm(l) ==
    commitIndex[l] > 0 /\ TermAt(l, commitIndex[l]) = currentTerm[l]

(* A leader's lease holds: it has committed in its term, has not sent     *)
(* TimeoutNow, and a quorum answered heartbeats recently enough.          *)
LeaseValid(l) ==
    /\ CheckQuorum
    /\ role[l] = Leader
    /\ ~leaseRevoked[l]
    /\ CommittedInCurrentTerm(l)
    /\ IsQuorum(leaseAcks[l] \cup {l}, Cfg(l))

Send(m) == msgs' = msgs \cup {m}
SendAll(ms) == msgs' = msgs \cup ms
(* Receive m, answering with the set `out`; with duplication the network  *)
(* may deliver m again later.                                             *)
Reply(m, keep, out) == msgs' = (IF keep THEN msgs ELSE msgs \ {m}) \cup out

(* The leader state goes when a node stops leading (leadershipLost). *)
NoLeaderState(s) ==
    /\ matchIndex' = [matchIndex EXCEPT ![s] = [p \in Server |-> 0]]
    /\ round' = [round EXCEPT ![s] = 0]
    /\ acked' = [acked EXCEPT ![s] = [p \in Server |-> 0]]
    /\ leaseAcks' = [leaseAcks EXCEPT ![s] = {}]
    /\ leaseRevoked' = [leaseRevoked EXCEPT ![s] = FALSE]
    /\ reads' = {r \in reads : r.leader /= s}

-----------------------------------------------------------------------------
Init ==
    /\ currentTerm = [s \in Server |-> 0]
    /\ votedFor = [s \in Server |-> Nil]
    /\ log = [s \in Server |-> << >>]
    /\ snapIndex = [s \in Server |-> 0]
    /\ snapCfg = [s \in Server |-> IF s \in InitVoters THEN InitConfig ELSE EmptyConfig]
    /\ role = [s \in Server |-> Follower]
    /\ leader = [s \in Server |-> Nil]
    /\ commitIndex = [s \in Server |-> 0]
    /\ votes = [s \in Server |-> {}]
    /\ transferCampaign = [s \in Server |-> FALSE]
    /\ inLease = [s \in Server |-> FALSE]
    /\ restartHold = [s \in Server |-> FALSE]
    /\ matchIndex = [s \in Server |-> [p \in Server |-> 0]]
    /\ round = [s \in Server |-> 0]
    /\ acked = [s \in Server |-> [p \in Server |-> 0]]
    /\ leaseAcks = [s \in Server |-> {}]
    /\ leaseRevoked = [s \in Server |-> FALSE]
    /\ msgs = {}
    /\ reads = {}
    /\ served = {}
    /\ committed = << >>
    /\ elected = [t \in 1..MaxTerm |-> {}]
    /\ restarts = 0
    /\ changes = 0
    /\ readsStarted = 0

-----------------------------------------------------------------------------
(***************************************************************************)
(* Elections (RaftCore+Election.swift).                                   *)
(***************************************************************************)

(* requestVotes: a (pre-)vote request to another voter of the            *)
(* configuration in force. The code sends them all when the campaign      *)
(* starts; the model sends each on its own, at any time during the        *)
(* campaign (a resend is a duplicate: the request does not change).       *)
RequestVote(s, p) ==
    /\ role[s] \in {PreCandidate, Candidate}
    /\ p \in AllVoters(Cfg(s)) \ votes[s]
    /\ Send([type |-> "VoteReq", from |-> s, to |-> p,
             term |-> IF role[s] = PreCandidate THEN currentTerm[s] + 1 ELSE currentTerm[s],
             preVote |-> role[s] = PreCandidate,
             lastTerm |-> LastTerm(s), lastIndex |-> LastIndex(s),
             transfer |-> role[s] = Candidate /\ transferCampaign[s]])
    /\ UNCHANGED <<nodeVars, logVars, leaderVars, readVars, ghostVars, countVars>>

(* becomeCandidate: a new term, a vote for itself. *)
CampaignVars(s, transfer) ==
    /\ transferCampaign' = [transferCampaign EXCEPT ![s] = transfer]
    /\ currentTerm' = [currentTerm EXCEPT ![s] = currentTerm[s] + 1]
    /\ votedFor' = [votedFor EXCEPT ![s] = s]
    /\ role' = [role EXCEPT ![s] = Candidate]
    /\ votes' = [votes EXCEPT ![s] = {s}]
    /\ leader' = [leader EXCEPT ![s] = Nil]
    /\ inLease' = [inLease EXCEPT ![s] = FALSE]

(* The election timer fires (electionTimedOut, campaign): a pre-vote      *)
(* first (becomePreCandidate) with PreVote, else a campaign at once; a    *)
(* pre-candidate whose pre-vote went unanswered starts another. It        *)
(* fires only after the node's vote hold ended: its deadline lies at      *)
(* least a heartbeat timeout after the last leader contact and after a    *)
(* restart.                                                               *)
Timeout(s) ==
    /\ role[s] \in {Follower, PreCandidate, Candidate}
    /\ Promotable(s)
    /\ ~inLease[s] /\ ~restartHold[s]
    /\ currentTerm[s] < MaxTerm
    /\ IF PreVote
       THEN /\ role' = [role EXCEPT ![s] = PreCandidate]
            /\ votes' = [votes EXCEPT ![s] = {s}]
            /\ leader' = [leader EXCEPT ![s] = Nil]
            /\ UNCHANGED <<currentTerm, votedFor, inLease, transferCampaign>>
       ELSE CampaignVars(s, FALSE)
    /\ UNCHANGED <<restartHold, msgs, logVars, leaderVars, readVars, ghostVars, countVars>>

(* becomeLeader: lead, append a no-op of the term. *)
LeadVars(s) ==
    /\ role' = [role EXCEPT ![s] = Leader]
    /\ leader' = [leader EXCEPT ![s] = s]
    /\ votes' = [votes EXCEPT ![s] = {}]
    /\ log' = [log EXCEPT ![s] = Append(log[s], Entry(currentTerm[s], "noop", EmptyConfig))]
    /\ elected' = [elected EXCEPT ![currentTerm[s]] = elected[currentTerm[s]] \cup {s}]
    /\ NoLeaderState(s)

(* tallyVotes, when the votes a campaign started with already form a      *)
(* quorum (a single voter): a pre-candidate campaigns, a candidate leads. *)
(* Otherwise the answer that completes the quorum does it                 *)
(* (HandleVoteResponse).                                                  *)
BecomeCandidate(s) ==
    /\ role[s] = PreCandidate
    /\ IsQuorum(votes[s], Cfg(s))
    /\ currentTerm[s] < MaxTerm
    /\ CampaignVars(s, FALSE)
    /\ UNCHANGED <<restartHold, msgs, logVars, leaderVars, readVars, ghostVars, countVars>>

BecomeLeader(s) ==
    /\ role[s] = Candidate
    /\ IsQuorum(votes[s], Cfg(s))
    /\ Len(log[s]) < MaxLogLen
    /\ LeadVars(s)
    /\ UNCHANGED <<currentTerm, votedFor, inLease, restartHold, snapIndex, snapCfg,
                   commitIndex, msgs, served, committed, countVars, transferCampaign>>

(* Check-quorum: a leader that did not hear from a quorum within an       *)
(* election timeout steps down. The model lets it step down at any time   *)
(* its lease does not hold (a quorum that answered within a heartbeat     *)
(* timeout was active within an election timeout).                       *)
StepDown(s) ==
    /\ CheckQuorum
    /\ role[s] = Leader
    /\ ~IsQuorum(leaseAcks[s] \cup {s}, Cfg(s))
    /\ role' = [role EXCEPT ![s] = Follower]
    /\ leader' = [leader EXCEPT ![s] = Nil]
    /\ inLease' = [inLease EXCEPT ![s] = FALSE]
    /\ NoLeaderState(s)
    /\ UNCHANGED <<currentTerm, votedFor, restartHold, votes, logVars, msgs, served,
                   ghostVars, countVars, transferCampaign>>

-----------------------------------------------------------------------------
(***************************************************************************)
(* Client requests and replication (RaftCore+Replication.swift).          *)
(***************************************************************************)

(* appendProposal: only a leader that is a voter of its configuration     *)
(* takes commands (a leader removed from it is leaving).                  *)
ClientRequest(l) ==
    /\ role[l] = Leader
    /\ l \in Cfg(l).voters
    /\ Len(log[l]) < MaxLogLen
    /\ log' = [log EXCEPT ![l] = Append(log[l], Entry(currentTerm[l], "cmd", EmptyConfig))]
    /\ UNCHANGED <<nodeVars, snapIndex, snapCfg, commitIndex, leaderVars, msgs, readVars,
                   ghostVars, countVars>>

(* sendAppend: entries after prevIndex. The model lets the leader pick    *)
(* any prevIndex from the follower's match index on that it still holds,  *)
(* and any batch end (next indexes and flow control are abstracted away). *)
SendAppend(l, p) ==
    /\ role[l] = Leader
    /\ p \in Members(Cfg(l)) \ {l}
    /\ \E prev \in Max({snapIndex[l], matchIndex[l][p]})..Len(log[l]) :
       \E last \in IF FullBatches THEN {Len(log[l])} ELSE prev..Len(log[l]) :
            Send([type |-> "App", from |-> l, to |-> p, term |-> currentTerm[l],
                  prevIndex |-> prev, prevTerm |-> TermAt(l, prev),
                  entries |-> SubSeq(log[l], prev + 1, last),
                  commit |-> commitIndex[l]])
    /\ UNCHANGED <<nodeVars, logVars, leaderVars, readVars, ghostVars, countVars>>

(* broadcastHeartbeat: the commit index capped at what the follower       *)
(* holds, and the current read round.                                     *)
SendHeartbeat(l, p) ==
    /\ CheckQuorum \/ MaxReads > 0
    /\ role[l] = Leader
    /\ p \in Members(Cfg(l)) \ {l}
    /\ Send([type |-> "HB", from |-> l, to |-> p, term |-> currentTerm[l],
             commit |-> IF matchIndex[l][p] < commitIndex[l]
                        THEN matchIndex[l][p] ELSE commitIndex[l],
             round |-> round[l]])
    /\ UNCHANGED <<nodeVars, logVars, leaderVars, readVars, ghostVars, countVars>>

(* sendAppend when the follower needs compacted entries: the snapshot     *)
(* (chunks abstracted into one message; `prefix` is the state it holds).  *)
SendSnapshot(l, p) ==
    /\ role[l] = Leader
    /\ p \in Members(Cfg(l)) \ {l}
    /\ matchIndex[l][p] < snapIndex[l]
    /\ Send([type |-> "Snap", from |-> l, to |-> p, term |-> currentTerm[l],
             index |-> snapIndex[l], snapTerm |-> TermAt(l, snapIndex[l]),
             cfg |-> snapCfg[l], prefix |-> SubSeq(log[l], 1, snapIndex[l])])
    /\ UNCHANGED <<nodeVars, logVars, leaderVars, readVars, ghostVars, countVars>>

(* maybeCommit with match indexes `mi`: the highest index a quorum holds  *)
(* (the leader counts its own log), if its entry is of the leader's term  *)
(* (§5.4.2, Figure 8); else the commit index stays.                       *)
CommitWith(l, mi) ==
    LET agree(n) == {l} \cup {p \in Server : mi[p] >= n}
        held == {n \in 0..Len(log[l]) : IsQuorum(agree(n), Cfg(l))}
        n == IF held = {} THEN 0 ELSE Max(held)
    IN IF n > commitIndex[l] /\ log[l][n].term = currentTerm[l] THEN n ELSE commitIndex[l]

(* The leader commits through n: the ghost history grows, and reads that  *)
(* waited for the first commit of the term get their index                *)
(* (assignReadIndexes).                                                   *)
CommitVars(l, n) ==
    /\ commitIndex' = [commitIndex EXCEPT ![l] = n]
    /\ committed' =
            IF n <= Len(committed) THEN committed
            ELSE committed \o [i \in 1..(n - Len(committed)) |->
                    [entry |-> log[l][Len(committed) + i], term |-> currentTerm[l]]]
    /\ reads' = IF n = commitIndex[l] THEN reads
                ELSE {IF r.leader = l /\ r.index = 0 THEN [r EXCEPT !.index = n] ELSE r
                      : r \in reads}

(* maybeCommit after the leader's own write or a change of its            *)
(* configuration (answers commit at once, in HandleAppendResponse).       *)
AdvanceCommit(l) ==
    /\ role[l] = Leader
    /\ CommitWith(l, matchIndex[l]) > commitIndex[l]
    /\ CommitVars(l, CommitWith(l, matchIndex[l]))
    /\ UNCHANGED <<nodeVars, log, snapIndex, snapCfg, leaderVars, msgs, served, elected,
                   countVars>>

-----------------------------------------------------------------------------
(***************************************************************************)
(* Membership changes (RaftCore+Membership.swift, Membership.swift).      *)
(***************************************************************************)

(* appendMembershipChange refuses a change while the latest configuration *)
(* entry is uncommitted or before the leader committed an entry of its    *)
(* term; the model also takes none while joint (the leader leaves the     *)
(* joint configuration by itself) nor from a leader that is leaving.      *)
ChangeAllowed(l) ==
    /\ role[l] = Leader
    /\ ~UncommittedCfg(l)
    /\ CommittedInCurrentTerm(l)
    /\ Cfg(l).outgoing = {}
    /\ l \in Cfg(l).voters
    /\ Len(log[l]) < MaxLogLen

(* The configuration entry is in force at once; new members start with    *)
(* fresh progress (setMembership).                                        *)
AppendConfig(l, c) ==
    /\ log' = [log EXCEPT ![l] = Append(log[l], Entry(currentTerm[l], "cfg", c))]
    /\ matchIndex' = [matchIndex EXCEPT ![l] =
            [p \in Server |-> IF p \in Members(Cfg(l)) THEN matchIndex[l][p] ELSE 0]]
    /\ UNCHANGED <<nodeVars, snapIndex, snapCfg, commitIndex, round, acked, leaseAcks,
                   leaseRevoked, msgs, readVars, ghostVars, restarts, readsStarted>>

(* MembershipChange.addLearner *)
AddLearner(l, p) ==
    LET c == Cfg(l) IN
    /\ ChangeAllowed(l) /\ changes < MaxChanges
    /\ p \notin Members(c)
    /\ AppendConfig(l, [c EXCEPT !.learners = c.learners \cup {p}])
    /\ changes' = changes + 1

(* MembershipChange.addVoter: the node joins as a learner to be promoted. *)
AddVoter(l, p) ==
    LET c == Cfg(l) IN
    /\ ChangeAllowed(l) /\ changes < MaxChanges
    /\ p \notin c.voters
    /\ AppendConfig(l, [c EXCEPT !.learners = c.learners \cup {p},
                                 !.promote = c.promote \cup {p}])
    /\ changes' = changes + 1

(* MembershipChange.remove: a voter or a learner; never the last voter. *)
RemoveMember(l, p) ==
    LET c == Cfg(l) IN
    /\ ChangeAllowed(l) /\ changes < MaxChanges
    /\ p \in Members(c)
    /\ c.voters /= {p}
    /\ AppendConfig(l, Config(c.voters \ {p}, {}, c.learners \ {p}, c.promote \ {p}))
    /\ changes' = changes + 1

(* maybePromoteLearners: a learner to promote that holds everything       *)
(* committed becomes a voter.                                             *)
PromoteLearner(l, p) ==
    LET c == Cfg(l) IN
    /\ ChangeAllowed(l)
    /\ p \in c.promote
    /\ matchIndex[l][p] >= commitIndex[l]
    /\ AppendConfig(l, Config(c.voters \cup {p}, {}, c.learners \ {p}, c.promote \ {p}))
    /\ UNCHANGED changes

(* A change set (proposeMembershipChanges) in which at most one voter     *)
(* comes or goes is one plain entry: the voters V differ from the current *)
(* ones by at most one node, and the learners L and the learners to       *)
(* promote P change with them (several learners added or removed,         *)
(* a voter demoted to a learner, a learner promoted directly).            *)
ChangeMembers(l, V, L, P) ==
    LET c == Cfg(l) IN
    /\ ChangeAllowed(l) /\ changes < MaxChanges
    /\ V /= {} /\ Cardinality((V \ c.voters) \cup (c.voters \ V)) <= 1
    /\ L \cap V = {} /\ P \subseteq L
    /\ AppendConfig(l, Config(V, {}, L, P))
    /\ changes' = changes + 1

(* A joint change to the voter set V: the entry holds V as voters and the *)
(* current voters as outgoing; while it is the latest entry every quorum  *)
(* needs a majority of both. The learners L keep the current ones and may *)
(* take demoted voters and new members (MembershipChange.demote,          *)
(* addLearner in the same change set).                                    *)
JointChange(l, V, L) ==
    LET c == Cfg(l) IN
    /\ ChangeAllowed(l) /\ changes < MaxChanges
    /\ V /= {} /\ V /= c.voters
    /\ L \cap V = {} /\ c.learners \ V \subseteq L
    /\ AppendConfig(l, Config(V, c.voters, L, c.promote \cap L))
    /\ changes' = changes + 1

(* Once the joint entry is committed the leader appends the new           *)
(* configuration alone (outgoing emptied).                                *)
LeaveJoint(l) ==
    LET c == Cfg(l) IN
    /\ role[l] = Leader
    /\ c.outgoing /= {}
    /\ ~UncommittedCfg(l)
    /\ Len(log[l]) < MaxLogLen
    /\ AppendConfig(l, [c EXCEPT !.outgoing = {}])
    /\ UNCHANGED changes

(* A leader that the committed configuration no longer lists as a voter   *)
(* hands over to a voter whose log matches its own, if there is one, and  *)
(* steps down (maybeCommit, §4.2.2).                                      *)
LeaderLeave(l) ==
    LET c == Cfg(l) IN
    /\ role[l] = Leader
    /\ ~UncommittedCfg(l)
    /\ c.outgoing = {}
    /\ l \notin c.voters
    /\ \/ \E t \in c.voters :
            /\ matchIndex[l][t] = Len(log[l])
            /\ Send([type |-> "TimeoutNow", from |-> l, to |-> t, term |-> currentTerm[l]])
       \/ UNCHANGED msgs
    /\ role' = [role EXCEPT ![l] = Follower]
    /\ leader' = [leader EXCEPT ![l] = Nil]
    /\ inLease' = [inLease EXCEPT ![l] = FALSE]
    /\ NoLeaderState(l)
    /\ UNCHANGED <<currentTerm, votedFor, restartHold, votes, logVars, served, ghostVars,
                   countVars, transferCampaign>>

-----------------------------------------------------------------------------
(***************************************************************************)
(* Leadership transfer (RaftCore+Transfer.swift).                         *)
(***************************************************************************)

(* maybeSendTimeoutNow: once the target's log matches, the leader tells   *)
(* it to campaign and gives up its lease.                                 *)
TransferLeadership(l, t) ==
    /\ role[l] = Leader
    /\ t \in Cfg(l).voters \ {l}
    /\ matchIndex[l][t] = Len(log[l])
    /\ leaseRevoked' = [leaseRevoked EXCEPT ![l] = TRUE]
    /\ Send([type |-> "TimeoutNow", from |-> l, to |-> t, term |-> currentTerm[l]])
    /\ UNCHANGED <<nodeVars, logVars, matchIndex, round, acked, leaseAcks, readVars,
                   ghostVars, countVars>>

-----------------------------------------------------------------------------
(***************************************************************************)
(* Reads (RaftCore+ReadIndex.swift).                                      *)
(***************************************************************************)

(* readIndex on the leader: the read takes the commit index if the leader *)
(* committed in its term (else it gets it at that commit) and a new       *)
(* heartbeat round. `start` is a ghost: what was committed when the read  *)
(* began.                                                                 *)
ReadIndexStart(l) ==
    /\ role[l] = Leader
    /\ readsStarted < MaxReads
    /\ round' = [round EXCEPT ![l] = round[l] + 1]
    /\ reads' = reads \cup {[leader |-> l, term |-> currentTerm[l], round |-> round[l] + 1,
                             start |-> Len(committed),
                             index |-> IF CommittedInCurrentTerm(l) THEN commitIndex[l] ELSE 0]}
    /\ readsStarted' = readsStarted + 1
    /\ UNCHANGED <<nodeVars, logVars, matchIndex, acked, leaseAcks, leaseRevoked, msgs,
                   served, ghostVars, restarts, changes>>

(* confirmReads: a quorum answered the read's round (or a later one).     *)
(* The read is served at its index (the leader has applied it).           *)
ReadIndexServe(l) ==
    \E r \in reads :
        /\ r.leader = l
        /\ role[l] = Leader
        /\ r.index > 0
        /\ IsQuorum({l} \cup {p \in Server : acked[l][p] >= r.round}, Cfg(l))
        /\ reads' = reads \ {r}
        /\ served' = served \cup {[start |-> r.start, index |-> r.index]}
        /\ UNCHANGED <<nodeVars, logVars, leaderVars, msgs, ghostVars, countVars>>

-----------------------------------------------------------------------------
(***************************************************************************)
(* Snapshots (RaftCore+Snapshot.swift).                                   *)
(***************************************************************************)

(* snapshotCommitted: compaction of an applied (here: committed) prefix.  *)
Compact(s) ==
    \E i \in (snapIndex[s] + 1)..commitIndex[s] :
        /\ snapIndex' = [snapIndex EXCEPT ![s] = i]
        /\ snapCfg' = [snapCfg EXCEPT ![s] = CfgAt(s, i)]
        /\ UNCHANGED <<nodeVars, log, commitIndex, leaderVars, msgs, readVars, ghostVars,
                       countVars>>

-----------------------------------------------------------------------------
(***************************************************************************)
(* Crashes, time, the network.                                            *)
(***************************************************************************)

(* A crash and restart: the term, the vote, the log and the snapshot are  *)
(* durable; the rest is lost. The node holds its vote for a heartbeat     *)
(* timeout (votesHeldUntil).                                              *)
Restart(s) ==
    /\ restarts < MaxRestarts
    /\ restarts' = restarts + 1
    /\ role' = [role EXCEPT ![s] = Follower]
    /\ leader' = [leader EXCEPT ![s] = Nil]
    /\ votes' = [votes EXCEPT ![s] = {}]
    /\ inLease' = [inLease EXCEPT ![s] = FALSE]
    /\ restartHold' = [restartHold EXCEPT ![s] = CheckQuorum]
    /\ commitIndex' = [commitIndex EXCEPT ![s] = snapIndex[s]]
    /\ NoLeaderState(s)
    /\ UNCHANGED <<currentTerm, votedFor, log, snapIndex, snapCfg, msgs, served, ghostVars,
                   changes, readsStarted, transferCampaign>>

(* A heartbeat timeout passes on s since it last heard a leader and since *)
(* it restarted: its vote hold ends, and its answers to heartbeats in     *)
(* flight are too old to extend a lease. Timing assumption (clock drift   *)
(* bounded by maxClockDrift): a leader's lease on s ends first.           *)
HoldExpires(s) ==
    /\ \A l \in Server : s \notin leaseAcks[l]
    /\ \/ inLease[s] \/ restartHold[s]
       \/ \E m \in msgs : m.type = "HBResp" /\ m.from = s /\ m.lease
    /\ inLease' = [inLease EXCEPT ![s] = FALSE]
    /\ restartHold' = [restartHold EXCEPT ![s] = FALSE]
    /\ msgs' = {IF m.type = "HBResp" /\ m.from = s THEN [m EXCEPT !.lease = FALSE] ELSE m
                 : m \in msgs}
    /\ UNCHANGED <<currentTerm, votedFor, role, leader, votes, logVars, leaderVars,
                   readVars, ghostVars, countVars, transferCampaign>>

(* The leader's lease on p ends (leader clock). *)
LeaseExpires(l, p) ==
    /\ p \in leaseAcks[l]
    /\ leaseAcks' = [leaseAcks EXCEPT ![l] = leaseAcks[l] \ {p}]
    /\ UNCHANGED <<nodeVars, logVars, matchIndex, round, acked, leaseRevoked, msgs,
                   readVars, ghostVars, countVars>>

DropMessage(m) ==
    /\ msgs' = msgs \ {m}
    /\ UNCHANGED <<nodeVars, logVars, leaderVars, readVars, ghostVars, countVars>>

-----------------------------------------------------------------------------
(***************************************************************************)
(* Receiving (RaftCore+Step.swift and the handlers it calls).             *)
(***************************************************************************)

IsLeaderMessage(m) == m.type \in {"App", "HB", "Snap"}

(* Term rules (step): a newer term makes the node a follower of it, with  *)
(* the sender as leader for a leader's message. Vote requests go unheard  *)
(* while the vote is held (unless a transfer), pre-vote requests and      *)
(* granted pre-votes change no term. The message stays to be handled.     *)
UpdateTerm(s, m) ==
    /\ m.term > currentTerm[s]
    /\ ~(m.type = "VoteReq" /\ (m.preVote \/ (HoldsVote(s) /\ ~m.transfer)))
    /\ ~(m.type = "VoteResp" /\ m.preVote /\ m.granted)
    /\ currentTerm' = [currentTerm EXCEPT ![s] = m.term]
    /\ votedFor' = [votedFor EXCEPT ![s] = Nil]
    /\ role' = [role EXCEPT ![s] = Follower]
    /\ votes' = [votes EXCEPT ![s] = {}]
    /\ leader' = [leader EXCEPT ![s] = IF IsLeaderMessage(m) THEN m.from ELSE Nil]
    /\ inLease' = [inLease EXCEPT ![s] = IF IsLeaderMessage(m) THEN inLease[s] ELSE FALSE]
    /\ IF role[s] = Leader THEN NoLeaderState(s) ELSE UNCHANGED <<leaderVars, reads>>
    /\ UNCHANGED <<restartHold, transferCampaign, logVars, msgs, served, ghostVars, countVars>>

(* A stale message: a stale leader's message is answered with the current *)
(* term (so that it steps down), a stale vote request is refused, other   *)
(* stale messages are dropped.                                            *)
HandleStale(s, m, keep) ==
    /\ m.term < currentTerm[s]
    /\ Reply(m, keep,
          IF IsLeaderMessage(m)
          THEN {[type |-> "HBResp", from |-> s, to |-> m.from, term |-> currentTerm[s],
                 round |-> 0, lease |-> FALSE]}
          ELSE IF m.type = "VoteReq"
          THEN {[type |-> "VoteResp", from |-> s, to |-> m.from, term |-> currentTerm[s],
                 preVote |-> m.preVote, granted |-> FALSE]}
          ELSE {})
    /\ UNCHANGED <<nodeVars, logVars, leaderVars, readVars, ghostVars, countVars>>

(* handleVoteRequest: grant when the vote is not held (or a transfer      *)
(* asks), no other vote was cast in the term, and the candidate's log is  *)
(* at least as up to date. A pre-vote records nothing. A pre-vote request *)
(* of a newer term is ignored while the vote is held.                     *)
HandleVoteRequest(s, m, keep) ==
    /\ m.type = "VoteReq"
    /\ \/ m.term = currentTerm[s]
       \/ m.preVote /\ m.term > currentTerm[s]
    /\ IF m.preVote /\ m.term > currentTerm[s] /\ HoldsVote(s) /\ ~m.transfer
       THEN /\ Reply(m, keep, {})
            /\ UNCHANGED votedFor
       ELSE LET canVote ==
                    /\ ~HoldsVote(s) \/ m.transfer
                    /\ \/ votedFor[s] = m.from
                       \/ votedFor[s] = Nil /\ leader[s] = Nil
                       \/ m.preVote /\ m.term > currentTerm[s]
                grant == canVote /\ UpToDate(s, m.lastTerm, m.lastIndex)
            IN /\ Reply(m, keep,
                    {[type |-> "VoteResp", from |-> s, to |-> m.from,
                      term |-> IF grant /\ m.preVote THEN m.term ELSE currentTerm[s],
                      preVote |-> m.preVote, granted |-> grant]})
               /\ votedFor' = IF grant /\ ~m.preVote
                              THEN [votedFor EXCEPT ![s] = m.from] ELSE votedFor
    /\ UNCHANGED <<currentTerm, role, leader, inLease, restartHold, votes, logVars,
                   leaderVars, readVars, ghostVars, countVars, transferCampaign>>

(* handleVoteResponse: a pre-candidate counts pre-votes, a candidate the  *)
(* votes of its term; the answer that completes a quorum makes the        *)
(* pre-candidate campaign, or the candidate lead (tallyVotes). A refusal  *)
(* may end the campaign: the code gives up once the refusals leave no     *)
(* quorum that could grant (the model, which keeps no refusals, lets any  *)
(* refusal do it).                                                        *)
HandleVoteResponse(s, m, keep) ==
    /\ m.type = "VoteResp"
    /\ m.term >= currentTerm[s]
    /\ m.term > currentTerm[s] => (m.preVote /\ m.granted)
    /\ LET counted == \/ role[s] = PreCandidate /\ m.preVote /\ m.granted
                      \/ role[s] = Candidate /\ ~m.preVote /\ m.term = currentTerm[s] /\ m.granted
           refused == \/ role[s] = PreCandidate /\ m.preVote /\ ~m.granted
                      \/ role[s] = Candidate /\ ~m.preVote /\ m.term = currentTerm[s] /\ ~m.granted
           now == votes[s] \cup {m.from}
       IN IF refused
          THEN /\ \/ UNCHANGED <<role, votes>>
                  \/ /\ role' = [role EXCEPT ![s] = Follower]
                     /\ votes' = [votes EXCEPT ![s] = {}]
               /\ Reply(m, keep, {})
               /\ UNCHANGED <<currentTerm, votedFor, leader, inLease, restartHold, logVars,
                              leaderVars, readVars, ghostVars, countVars, transferCampaign>>
          ELSE IF counted /\ IsQuorum(now, Cfg(s)) /\ role[s] = PreCandidate
                /\ currentTerm[s] < MaxTerm
          THEN /\ CampaignVars(s, FALSE)
               /\ Reply(m, keep, {})
               /\ UNCHANGED <<restartHold, logVars, leaderVars, readVars, ghostVars,
                              countVars>>
          ELSE IF counted /\ IsQuorum(now, Cfg(s)) /\ role[s] = Candidate
                  /\ Len(log[s]) < MaxLogLen
          THEN /\ LeadVars(s)
               /\ Reply(m, keep, {})
               /\ UNCHANGED <<currentTerm, votedFor, inLease, restartHold, snapIndex, snapCfg,
                              commitIndex, served, committed, countVars, transferCampaign>>
          ELSE /\ votes' = IF counted THEN [votes EXCEPT ![s] = now] ELSE votes
               /\ Reply(m, keep, {})
               /\ UNCHANGED <<currentTerm, votedFor, role, leader, inLease, restartHold,
                              logVars, leaderVars, readVars, ghostVars, countVars, transferCampaign>>

(* acceptLeader: a candidate of the term becomes a follower; the leader   *)
(* is known and was just heard from.                                      *)
AcceptLeader(s, m) ==
    /\ role[s] /= Leader
    /\ role' = [role EXCEPT ![s] = Follower]
    /\ votes' = [votes EXCEPT ![s] = IF role[s] = Follower THEN votes[s] ELSE {}]
    /\ leader' = [leader EXCEPT ![s] = m.from]
    /\ inLease' = [inLease EXCEPT ![s] = CheckQuorum]

(* handleAppendEntries. Entries up to the commit index are skipped; the   *)
(* consistency check at prevIndex; a conflicting suffix is truncated; the *)
(* commit index moves to min(leaderCommit, last new index).               *)
HandleAppend(s, m, keep) ==
    /\ m.type = "App" /\ m.term = currentTerm[s]
    /\ AcceptLeader(s, m)
    /\ \A k \in 1..Len(m.entries) : m.entries[k].term <= currentTerm[s]
    /\ LET skip == IF m.prevIndex < commitIndex[s] THEN commitIndex[s] - m.prevIndex ELSE 0
           prev == m.prevIndex + skip
           ents == IF skip >= Len(m.entries) THEN << >>
                   ELSE SubSeq(m.entries, skip + 1, Len(m.entries))
           prevTerm == IF skip > 0 THEN TermAt(s, prev) ELSE m.prevTerm
           Ok(idx) == [type |-> "AppResp", from |-> s, to |-> m.from, term |-> currentTerm[s],
                       success |-> TRUE, index |-> idx]
       IN IF skip > 0 /\ skip >= Len(m.entries)
          THEN /\ Reply(m, keep, {Ok(commitIndex[s])})
               /\ UNCHANGED logVars
          ELSE IF prev > Len(log[s]) \/ TermAt(s, prev) /= prevTerm
          THEN /\ Reply(m, keep, {[type |-> "AppResp", from |-> s, to |-> m.from,
                                   term |-> currentTerm[s], success |-> FALSE,
                                   index |-> prev]})
               /\ UNCHANGED logVars
          ELSE LET conflicts == {k \in 1..Len(ents) :
                                    prev + k > Len(log[s]) \/ log[s][prev + k].term /= ents[k].term}
                   newLog == IF conflicts = {} THEN log[s]
                             ELSE SubSeq(log[s], 1, prev + Min(conflicts) - 1)
                                  \o SubSeq(ents, Min(conflicts), Len(ents))
                   lastNew == prev + Len(ents)
                   newCommit == IF m.commit < lastNew THEN m.commit ELSE lastNew
               IN /\ log' = [log EXCEPT ![s] = newLog]
                  /\ commitIndex' = [commitIndex EXCEPT ![s] =
                        IF newCommit > commitIndex[s] THEN newCommit ELSE commitIndex[s]]
                  /\ Reply(m, keep, {Ok(lastNew)})
                  /\ UNCHANGED <<snapIndex, snapCfg>>
    /\ UNCHANGED <<currentTerm, votedFor, restartHold, leaderVars, readVars, ghostVars,
                   countVars, transferCampaign>>

(* handleHeartbeat: commit as far as the leader says the follower holds,  *)
(* and echo the round. A fresh answer may extend the leader's lease.      *)
HandleHeartbeat(s, m, keep) ==
    /\ m.type = "HB" /\ m.term = currentTerm[s]
    /\ AcceptLeader(s, m)
    /\ LET c == IF m.commit < Len(log[s]) THEN m.commit ELSE Len(log[s])
       IN commitIndex' = [commitIndex EXCEPT ![s] =
                            IF c > commitIndex[s] THEN c ELSE commitIndex[s]]
    /\ Reply(m, keep, {[type |-> "HBResp", from |-> s, to |-> m.from, term |-> currentTerm[s],
                        round |-> m.round, lease |-> CheckQuorum]})
    /\ UNCHANGED <<currentTerm, votedFor, restartHold, log, snapIndex, snapCfg, leaderVars,
                   readVars, ghostVars, countVars, transferCampaign>>

(* handleSnapshotChunk + snapshotInstalled: a snapshot past the commit    *)
(* index is installed; the log after it is kept when it holds the         *)
(* snapshot's last entry, else replaced.                                  *)
HandleSnapshot(s, m, keep) ==
    /\ m.type = "Snap" /\ m.term = currentTerm[s]
    /\ AcceptLeader(s, m)
    /\ IF m.index <= commitIndex[s]
       THEN UNCHANGED logVars
       ELSE /\ log' = [log EXCEPT ![s] =
                  IF m.index <= Len(log[s]) /\ log[s][m.index].term = m.snapTerm
                  THEN log[s] ELSE m.prefix]
            /\ snapIndex' = [snapIndex EXCEPT ![s] = m.index]
            /\ snapCfg' = [snapCfg EXCEPT ![s] = m.cfg]
            /\ commitIndex' = [commitIndex EXCEPT ![s] = m.index]
    /\ Reply(m, keep, {[type |-> "SnapResp", from |-> s, to |-> m.from,
                        term |-> currentTerm[s], index |-> m.index]})
    /\ UNCHANGED <<currentTerm, votedFor, restartHold, leaderVars, readVars, ghostVars,
                   countVars, transferCampaign>>

(* handleAppendResponse / handleSnapshotResponse: the follower's match    *)
(* index only moves forward, and the leader commits what it can           *)
(* (maybeCommit). A rejection moves the next index, which the model does  *)
(* not keep.                                                              *)
HandleAppendResponse(l, m, keep) ==
    /\ m.type \in {"AppResp", "SnapResp"} /\ m.term = currentTerm[l]
    /\ Reply(m, keep, {})
    /\ IF /\ role[l] = Leader
          /\ m.from \in Members(Cfg(l))
          /\ m.type = "SnapResp" \/ m.success
          /\ m.index <= Len(log[l])
          /\ m.index > matchIndex[l][m.from]
       THEN LET mi == [matchIndex[l] EXCEPT ![m.from] = m.index]
            IN /\ matchIndex' = [matchIndex EXCEPT ![l] = mi]
               /\ CommitVars(l, CommitWith(l, mi))
       ELSE UNCHANGED <<matchIndex, commitIndex, committed, reads>>
    /\ UNCHANGED <<nodeVars, log, snapIndex, snapCfg, round, acked, leaseAcks, leaseRevoked,
                   served, elected, countVars>>

(* handleHeartbeatResponse: the follower answered this round; a fresh     *)
(* answer counts towards the lease.                                       *)
HandleHeartbeatResponse(l, m, keep) ==
    /\ m.type = "HBResp" /\ m.term = currentTerm[l]
    /\ IF role[l] = Leader /\ m.from \in Members(Cfg(l))
       THEN /\ acked' = [acked EXCEPT ![l][m.from] =
                    IF m.round <= round[l] /\ m.round > acked[l][m.from]
                    THEN m.round ELSE acked[l][m.from]]
            /\ leaseAcks' = [leaseAcks EXCEPT ![l] =
                    IF m.lease THEN leaseAcks[l] \cup {m.from} ELSE leaseAcks[l]]
       ELSE UNCHANGED <<acked, leaseAcks>>
    /\ Reply(m, keep, {})
    /\ UNCHANGED <<nodeVars, logVars, matchIndex, round, leaseRevoked, readVars, ghostVars,
                   countVars>>

(* timeoutNow: the follower campaigns at once, without pre-vote, and its  *)
(* vote requests pass the others' vote holds (§3.10).                     *)
HandleTimeoutNow(s, m, keep) ==
    /\ m.type = "TimeoutNow" /\ m.term = currentTerm[s]
    /\ IF role[s] = Follower /\ leader[s] = m.from /\ s \in Cfg(s).voters
          /\ currentTerm[s] < MaxTerm
       THEN /\ CampaignVars(s, TRUE)
            /\ Reply(m, keep, {})
       ELSE /\ Reply(m, keep, {})
            /\ UNCHANGED <<currentTerm, votedFor, role, votes, leader, inLease,
                           transferCampaign>>
    /\ UNCHANGED <<restartHold, logVars, leaderVars, readVars, ghostVars, countVars>>

Receive(m) ==
    LET s == m.to IN
    \E keep \in IF Duplicate THEN BOOLEAN ELSE {FALSE} :
        \/ UpdateTerm(s, m)
        \/ HandleStale(s, m, keep)
        \/ HandleVoteRequest(s, m, keep)
        \/ HandleVoteResponse(s, m, keep)
        \/ HandleAppend(s, m, keep)
        \/ HandleHeartbeat(s, m, keep)
        \/ HandleSnapshot(s, m, keep)
        \/ HandleAppendResponse(s, m, keep)
        \/ HandleHeartbeatResponse(s, m, keep)
        \/ HandleTimeoutNow(s, m, keep)

-----------------------------------------------------------------------------
Next ==
    \/ \E s \in Server :
        \/ Timeout(s) \/ BecomeCandidate(s) \/ BecomeLeader(s) \/ StepDown(s)
        \/ ClientRequest(s) \/ AdvanceCommit(s) \/ LeaveJoint(s) \/ LeaderLeave(s)
        \/ ReadIndexStart(s) \/ ReadIndexServe(s) \/ Compact(s) \/ Restart(s)
        \/ HoldExpires(s)
    \/ \E l, p \in Server :
        \/ RequestVote(l, p) \/ SendAppend(l, p) \/ SendHeartbeat(l, p) \/ SendSnapshot(l, p)
        \/ AddLearner(l, p) \/ AddVoter(l, p) \/ RemoveMember(l, p) \/ PromoteLearner(l, p)
        \/ TransferLeadership(l, p) \/ LeaseExpires(l, p)
    \/ \E l \in Server, V, L \in SUBSET Server :
        \/ JointChange(l, V, L)
        \/ \E P \in SUBSET L : ChangeMembers(l, V, L, P)
    \/ \E m \in msgs : Receive(m) \/ DropMessage(m)

Spec == Init /\ [][Next]_vars

-----------------------------------------------------------------------------
(***************************************************************************)
(* Invariants.                                                            *)
(***************************************************************************)

TypeOK ==
    /\ \A s \in Server :
        /\ role[s] \in {Follower, PreCandidate, Candidate, Leader}
        /\ votedFor[s] \in Server \cup {Nil}
        /\ leader[s] \in Server \cup {Nil}
        /\ snapIndex[s] <= commitIndex[s]
        /\ commitIndex[s] <= Len(log[s])

(* Election safety: at most one leader per term. *)
ElectionSafety == \A t \in 1..MaxTerm : Cardinality(elected[t]) <= 1

(* Log matching: two logs with an entry of the same term at an index hold *)
(* the same entries up to it (the compacted prefixes included).           *)
LogMatching ==
    \A s, t \in Server : \A i \in 1..Len(log[s]) :
        (i <= Len(log[t]) /\ log[s][i].term = log[t][i].term)
            => SubSeq(log[s], 1, i) = SubSeq(log[t], 1, i)

(* Leader completeness: an entry committed in term T is in the log of     *)
(* every leader of a later term (and of T).                               *)
LeaderCompleteness ==
    \A i \in 1..Len(committed) : \A l \in Server :
        (role[l] = Leader /\ currentTerm[l] >= committed[i].term)
            => (i <= Len(log[l]) /\ log[l][i] = committed[i].entry)

(* State machine safety: every node's committed (and so applied) prefix   *)
(* is the one committed history: no two nodes apply different entries at  *)
(* an index, and an applied entry never changes.                          *)
StateMachineSafety ==
    \A s \in Server :
        /\ commitIndex[s] <= Len(committed)
        /\ \A i \in 1..commitIndex[s] : log[s][i] = committed[i].entry

(* Linearizable reads: a ReadIndex read is served at an index that covers *)
(* every write committed before it began; a leader whose lease holds has  *)
(* a commit index that covers every write committed anywhere.             *)
ReadIndexLinearizable == \A r \in served : r.index >= r.start
LeaseReadLinearizable == \A l \in Server : LeaseValid(l) => commitIndex[l] >= Len(committed)

(* While a lease holds, no other node leads a later term. *)
LeaseExclusive ==
    \A l, k \in Server :
        (LeaseValid(l) /\ role[k] = Leader /\ k /= l) => currentTerm[k] < currentTerm[l]

=============================================================================
