#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The Raft protocol as a pure value: no `async`, no clock, no I/O, no global randomness.
///
/// A driver (``RaftNode``, the simulator in `WebRaftTesting`, or your own) feeds it inputs —
/// ``tick(now:)`` with logical time in milliseconds, ``step(_:)`` with received messages,
/// ``propose(_:requestID:)`` and ``proposeMembershipChange(_:requestID:)`` — and collects what to do
/// with ``ready()``: state and entries to store, messages to send, entries to apply. After carrying
/// out a ``Ready`` the driver calls ``advance()``. Inputs may be given while a `Ready` is being
/// carried out; their effects go into the next one.
public struct RaftCore: Sendable {
  /// This node's identity.
  public let id: NodeID
  /// The settings, validated.
  public let configuration: RaftConfiguration
  /// The current term (Figure 2: `currentTerm`).
  public internal(set) var term: UInt64
  /// The candidate voted for in the current term (Figure 2: `votedFor`).
  public internal(set) var votedFor: NodeID?
  /// The role in the current term.
  public internal(set) var role: RaftRole = .follower
  /// The leader this node knows in the current term.
  public internal(set) var leader: NodeID?
  /// The last node this node knew as leader, in any term (itself included); kept when the leader
  /// is forgotten, not stored.
  var lastLeader: NodeID?
  /// The membership in force: the latest one in the log, committed or not.
  public internal(set) var membership: Membership {
    didSet { isVoter = membership.voters.contains(id) }
  }
  /// Whether this node is a voter of `membership` (kept with it: proposals ask on every call).
  var isVoter = false
  /// The logical time of the last ``tick(now:)``, in milliseconds.
  public internal(set) var now: UInt64

  var log: RaftLog
  /// The membership at the log's snapshot point.
  var baseMembership: Membership
  /// The membership entries after the snapshot point, oldest first.
  var membershipEntries: [MembershipAt] = []
  /// What this node keeps while it leads; nil in every other role.
  var leading: LeaderState?
  /// Votes received in the current election.
  var votes: [NodeID: Bool] = [:]
  var random: SplitMix64

  var electionDeadline: UInt64 = 0
  /// When this node last heard from the leader of its term.
  var lastLeaderContact: UInt64?
  /// Until when this node grants no vote (with check-quorum). It may have acknowledged a leader
  /// just before it stopped, and that leader may serve lease reads for a heartbeat timeout after;
  /// having forgotten when it last heard a leader, it counts its start as such contact.
  var votesHeldUntil: UInt64 = 0

  // What the next `Ready` carries.
  var outbox: [RaftMessage] = []
  var pendingEvents: [RaftEvent] = []
  var pendingRejections: [ProposalRejection] = []
  /// The hard state as last handed out for storing.
  var storedHardState: HardState
  /// What the outstanding `Ready` handed out, to be confirmed by `advance()`.
  var handedOut: HandedOut?
  /// Read results for the next `Ready`.
  var readStates: [ReadState] = []

  // Snapshots.
  /// A snapshot being received from the leader.
  var incomingSnapshot: IncomingSnapshot?
  /// Received chunks for the next `Ready`.
  var snapshotChunks: [InstallSnapshot] = []
  /// Chunks to read and send, for the next `Ready`.
  var snapshotChunkRequests: [SnapshotChunkRequest] = []

  /// A snapshot being received.
  struct IncomingSnapshot: Hashable, Sendable {
    var metadata: SnapshotMetadata
    var leader: NodeID
    var nextOffset: UInt64
    var totalSize: UInt64
  }

  let electionMinimum: UInt64
  let electionMaximum: UInt64
  let heartbeatInterval: UInt64
  let heartbeatTimeout: UInt64
  let commitNotificationDelay: UInt64

  /// What an outstanding `Ready` handed out.
  struct HandedOut: Hashable, Sendable {
    var hardState: HardState?
    var lastEntry: (index: UInt64, term: UInt64)?
    var lastApplied: UInt64?

    static func == (lhs: HandedOut, rhs: HandedOut) -> Bool {
      lhs.hardState == rhs.hardState && lhs.lastEntry?.index == rhs.lastEntry?.index
        && lhs.lastEntry?.term == rhs.lastEntry?.term && lhs.lastApplied == rhs.lastApplied
    }

    func hash(into hasher: inout Hasher) {
      hasher.combine(hardState)
      hasher.combine(lastEntry?.index)
      hasher.combine(lastApplied)
    }
  }

  /// Creates a core from what storage holds.
  ///
  /// - Parameters:
  ///   - id: this node's identity.
  ///   - configuration: the settings; they are validated.
  ///   - state: what storage returned (``PersistentState/initial(membership:)`` for a new node).
  ///   - appliedIndex: the last index the state machine already holds (at least the snapshot
  ///     index; pass it when the state machine is itself durable).
  ///   - seed: seeds the generator that randomizes election timeouts.
  ///   - now: the logical time in milliseconds.
  /// - Throws: ``RaftError/invalidConfiguration(_:)`` for a bad setting,
  ///   ``RaftError/storageFailed(_:)`` when the stored entries are not contiguous.
  public init(
    id: NodeID,
    configuration: RaftConfiguration = RaftConfiguration(),
    state: PersistentState,
    appliedIndex: UInt64 = 0,
    seed: UInt64,
    now: UInt64 = 0
  ) throws(RaftError) {
    try configuration.validate()
    var expected = state.snapshot.index + 1
    for entry in state.entries {
      if entry.index != expected {
        throw .storageFailed(
          "stored log is not contiguous: expected index \(expected), found \(entry.index)")
      }
      expected += 1
    }
    self.id = id
    self.configuration = configuration
    self.log = RaftLog(
      snapshot: state.snapshot, entries: state.entries,
      commitIndex: state.hardState.commitIndex, appliedIndex: appliedIndex)
    self.term = max(state.hardState.term, log.lastTerm)
    self.votedFor = state.hardState.term == term ? state.hardState.votedFor : nil
    self.storedHardState = state.hardState
    self.baseMembership = state.snapshot.membership
    self.membership = state.snapshot.membership
    self.random = SplitMix64(seed: seed)
    self.now = now
    self.electionMinimum = configuration.electionTimeout.lowerBound.wholeMilliseconds
    self.electionMaximum = configuration.electionTimeout.upperBound.wholeMilliseconds
    self.heartbeatInterval = configuration.heartbeatInterval.wholeMilliseconds
    self.heartbeatTimeout = configuration.heartbeatTimeout.wholeMilliseconds
    self.commitNotificationDelay = configuration.commitNotificationDelay.wholeMilliseconds
    // The hold costs nothing at a cluster's first start: no follower's election timer fires
    // sooner than a heartbeat timeout after it starts.
    self.votesHeldUntil = configuration.checkQuorum ? now + heartbeatTimeout : 0
    membershipEntries = Self.membershipEntries(in: state.entries)
    membership = membershipInLog
    isVoter = membership.voters.contains(id)
    resetElectionDeadline()
  }

  // MARK: - Reading the state

  /// The highest index known to be committed.
  public var commitIndex: UInt64 { log.commitIndex }
  /// The highest index handed to the state machine.
  public var appliedIndex: UInt64 { log.appliedIndex }
  /// The index of the last log entry.
  public var lastIndex: UInt64 { log.lastIndex }
  /// The term of the last log entry.
  public var lastTerm: UInt64 { log.lastTerm }
  /// The index the log starts after (the last snapshot's index).
  public var snapshotIndex: UInt64 { log.snapshotIndex }
  /// Entries up to this index are durable.
  public var stableIndex: UInt64 { log.stableIndex }
  /// The entries held in memory, after the snapshot point.
  public var entries: [LogEntry] { log.entries }
  /// The term of the entry at `index`, if held.
  public func term(at index: UInt64) -> UInt64? { log.term(at: index) }
  /// The entry at `index`, if held.
  public func entry(at index: UInt64) -> LogEntry? { log.entry(at: index) }
  /// The answers of the election under way, by voter: `true` for a vote (or pre-vote) granted,
  /// this node's own included, `false` for a refusal. Empty while no election is under way.
  public var campaignVotes: [NodeID: Bool] { votes }
  /// The state as it must be stored.
  public var hardState: HardState {
    HardState(term: term, votedFor: votedFor, commitIndex: log.commitIndex)
  }

  /// When the core next needs ``tick(now:)`` (logical milliseconds).
  public var nextDeadline: UInt64 {
    guard let leading else { return electionDeadline }
    let heartbeat = leading.heartbeatDeadline
    let timers = configuration.checkQuorum ? min(heartbeat, leading.checkQuorumDeadline) : heartbeat
    return min(timers, leading.commitNotificationDeadline ?? .max)
  }

  /// On a leader, the highest index known to be stored on `member`; nil elsewhere, or for a node
  /// that is not a member.
  public func matchIndex(of member: NodeID) -> UInt64? {
    leading?.progress.read(member) { $0.match }
  }

  /// Where a request that needs a leader might go when this node knows none: the leader of the
  /// current term if there is one, otherwise the last node this node knew as leader, in an earlier
  /// term or before it forgot its leader; nil when it knows none or led last itself. It is what
  /// ``RaftError/noLeader(leaderHint:)`` carries.
  ///
  /// The hint may be stale: that node may have lost its leadership, left the cluster or stopped.
  /// It is only remembered while the node runs (a restarted node has none until it hears from a
  /// leader).
  public var leaderHint: NodeID? {
    let hint = leader ?? lastLeader
    return hint == id ? nil : hint
  }

  /// The error for a request that needs a leader when this node knows none.
  var noLeaderError: RaftError { .noLeader(leaderHint: leaderHint) }

  /// A snapshot of the node's state for status pages and tests.
  public var status: RaftStatus {
    var followers: [NodeID: RaftStatus.Follower] = [:]
    if let leading {
      for (peer, entry) in leading.progress.all {
        followers[peer] = RaftStatus.Follower(
          matchIndex: entry.match, nextIndex: entry.next, state: entry.state.rawValue,
          inflight: entry.inflights.count)
      }
    }
    return RaftStatus(
      id: id, role: role, term: term, leader: leader, votedFor: votedFor,
      commitIndex: log.commitIndex, appliedIndex: log.appliedIndex, lastIndex: log.lastIndex,
      snapshotIndex: log.snapshotIndex, membership: membership, followers: followers)
  }

  // MARK: - Inputs

  /// Advances logical time to `now` (milliseconds) and fires the timers that are due: elections on
  /// followers and candidates, heartbeats and the quorum check on leaders.
  public mutating func tick(now newNow: UInt64) {
    if newNow > now { now = newNow }
    guard leading != nil else {
      if now >= electionDeadline {
        electionTimedOut()
      }
      return
    }
    if let deadline = leading!.commitNotificationDeadline, now >= deadline {
      leading!.appendsDue = true
    }
    if now >= leading!.heartbeatDeadline {
      leading!.heartbeatDeadline = now + heartbeatInterval
      broadcastHeartbeat()
    }
    if leading!.transferTarget != nil, now >= leading!.transferDeadline {
      abortTransfer()
    }
    // Last: the check may step down.
    if configuration.checkQuorum, now >= leading!.checkQuorumDeadline {
      leading!.checkQuorumDeadline = now + electionMaximum
      checkQuorumActive()
    }
  }

  /// Makes a follower forget the leader it knows (after the operator learned that leader is gone
  /// or cut off): it stops ignoring vote requests for the rest of the leader's lease and may help
  /// elect a new leader at once, instead of waiting for its own timeout. A leader that is in fact
  /// still alive may then serve a stale lease read, so use it only for a leader known to be gone;
  /// ReadIndex reads stay safe. Does nothing on a leader or a candidate.
  public mutating func forgetLeader() {
    guard role == .follower, leader != nil else { return }
    setLeader(nil)
    lastLeaderContact = nil
  }

  /// Starts an election now, as if the election timer had fired. Does nothing on a leader or on a
  /// node that is not a voter.
  public mutating func campaign() {
    guard role != .leader, isPromotable else { return }
    if configuration.preVote {
      becomePreCandidate()
    } else {
      becomeCandidate()
    }
  }

  /// Proposes a command (the seed's `propose`).
  ///
  /// On the leader the command is appended at once. On a follower that knows the leader it is
  /// forwarded; the entry carries this node's identity and `requestID` as its origin.
  ///
  /// - Throws: ``RaftError/noLeader(leaderHint:)`` when no leader is known;
  ///   ``RaftError/overloaded(uncommittedBytes:limit:)`` when the leader is over its limit;
  ///   ``RaftError/leadershipTransferInProgress`` while the leader hands leadership over, or waits
  ///   for its own removal to commit before it does.
  public mutating func propose(_ command: Data, requestID: UInt64) throws(RaftError)
    -> ProposalTicket
  {
    if role == .leader {
      if leading?.transferTarget != nil || isLeaving { throw .leadershipTransferInProgress }
      let index = try appendProposal(.command(command), origin: nil)
      return .appended(index: index, term: term)
    }
    let target = try forwardTarget()
    send(
      to: target,
      .proposal(ForwardedProposal(requestID: requestID, request: .command(command))))
    return .forwarded(to: target)
  }

  /// Proposes a single-server membership change (the original WebRaft's `join` and `leave`).
  ///
  /// - Throws: ``RaftError/membershipChangeInProgress`` while another change is uncommitted, the
  ///   configuration is joint, or the leader has not committed an entry of its term yet;
  ///   ``RaftError/membershipChangeRejected(_:)`` when the change does not apply to the membership.
  public mutating func proposeMembershipChange(_ change: MembershipChange, requestID: UInt64)
    throws(RaftError) -> ProposalTicket
  {
    try proposeMembershipRequest(.membershipChange(change), changes: [change], requestID: requestID)
  }

  /// Proposes several membership changes made together. When more than one voter comes or goes,
  /// the cluster goes through a joint configuration (dissertation §4.3): the entry appended puts
  /// the joint configuration in force, and the leader appends the new configuration once it has
  /// committed. Additions and promotions make voters at once (add new nodes as learners first).
  ///
  /// - Throws: as ``proposeMembershipChange(_:requestID:)``.
  public mutating func proposeMembershipChanges(_ changes: [MembershipChange], requestID: UInt64)
    throws(RaftError) -> ProposalTicket
  {
    try proposeMembershipRequest(.membershipChanges(changes), changes: changes, requestID: requestID)
  }

  private mutating func proposeMembershipRequest(
    _ request: ForwardedProposal.Request, changes: [MembershipChange], requestID: UInt64
  ) throws(RaftError) -> ProposalTicket {
    if role == .leader {
      if leading?.transferTarget != nil { throw .leadershipTransferInProgress }
      let index = try appendMembershipChange(changes, origin: nil)
      return .appended(index: index, term: term)
    }
    let target = try forwardTarget()
    send(to: target, .proposal(ForwardedProposal(requestID: requestID, request: request)))
    return .forwarded(to: target)
  }

  private func forwardTarget() throws(RaftError) -> NodeID {
    guard let leader, leader != id else { throw noLeaderError }
    return leader
  }

  // MARK: - Output

  /// Whether the term or vote changed since the last hard state handed out for storing.
  var termOrVoteUnstored: Bool {
    term != storedHardState.term || votedFor != storedHardState.votedFor
  }

  /// Whether ``ready()`` would return something.
  public var hasReady: Bool {
    if handedOut != nil { return false }
    return !outbox.isEmpty || !pendingEvents.isEmpty || !pendingRejections.isEmpty
      || !readStates.isEmpty || !snapshotChunks.isEmpty || !snapshotChunkRequests.isEmpty
      || leading?.appendsDue == true || leading?.readRoundDue == true || termOrVoteUnstored
      || log.stableIndex < log.lastIndex || log.commitIndex > log.appliedIndex
  }

  /// Hands out everything to do, or nil when there is nothing or a previous `Ready` has not been
  /// confirmed with ``advance()`` yet.
  public mutating func ready() -> Ready? {
    ready(maxCommittedEntries: configuration.maxApplyBatch)
  }

  /// Like ``ready()``, with at most `maxCommittedEntries` (and at most
  /// ``RaftConfiguration/maxApplyBatch``) committed entries: a driver whose state machine lags
  /// passes 0 to go on persisting and sending while it hands out nothing more to apply. Entries
  /// left out stay due; ``advance()`` marks only those handed out as given to the state machine.
  public mutating func ready(maxCommittedEntries: Int) -> Ready? {
    guard handedOut == nil else { return nil }
    if leading?.appendsDue == true {
      leading!.appendsDue = false
      flushAppends()
    }
    if leading?.readRoundDue == true {
      leading!.readRoundDue = false
      startReadRound()
    }
    let current = hardState
    let unstable = log.unstableEntries
    // The commit index alone is never worth a durable write (it is volatile state in Figure 2):
    // it is stored along with entries or a new term or vote.
    let hardStateChanged = termOrVoteUnstored || (current != storedHardState && !unstable.isEmpty)
    let committed = log.committedToApply(
      maxCount: min(max(maxCommittedEntries, 0), configuration.maxApplyBatch))
    if !hardStateChanged, unstable.isEmpty, committed.isEmpty, outbox.isEmpty,
      pendingEvents.isEmpty, pendingRejections.isEmpty, readStates.isEmpty, snapshotChunks.isEmpty,
      snapshotChunkRequests.isEmpty
    {
      return nil
    }
    let early = orderEarlyMessages(current)
    var ready = Ready(
      hardState: hardStateChanged ? current : nil,
      entries: unstable,
      messages: outbox,
      committedEntries: committed,
      rejectedProposals: pendingRejections,
      events: pendingEvents,
      readStates: readStates,
      snapshotChunks: snapshotChunks,
      snapshotChunkRequests: snapshotChunkRequests)
    ready.earlyMessageCount = early
    // The Ready now shares these buffers: emptying them in place would allocate a new buffer for
    // each, used or not. Fresh empty arrays allocate only when something is added.
    outbox = []
    pendingEvents = []
    pendingRejections = []
    readStates = []
    snapshotChunks = []
    snapshotChunkRequests = []
    handedOut = HandedOut(
      hardState: hardStateChanged ? current : nil,
      lastEntry: unstable.last.map { ($0.index, $0.term) },
      lastApplied: committed.last?.index)
    return ready
  }

  /// Moves the messages that need nothing stored first (a leader's appends and heartbeats, once
  /// its term and vote are stored), keeping the order within each group, and returns how many
  /// they are.
  private mutating func orderEarlyMessages(_ current: HardState) -> Int {
    guard role == .leader, current.term == storedHardState.term,
      current.votedFor == storedHardState.votedFor
    else { return 0 }
    func isEarly(_ message: RaftMessage) -> Bool {
      switch message.body {
      case .appendEntries, .heartbeat: return true
      default: return false
      }
    }
    guard let firstLate = outbox.firstIndex(where: { !isEarly($0) }) else { return outbox.count }
    guard outbox[firstLate...].contains(where: isEarly) else { return firstLate }
    let early = outbox.filter(isEarly)
    outbox = early + outbox.filter { !isEarly($0) }
    return early.count
  }

  /// Confirms that the last ``Ready`` was carried out: its state and entries are durable, its
  /// messages sent and its committed entries applied.
  public mutating func advance() {
    guard let done = handedOut else { return }
    handedOut = nil
    if let stored = done.hardState { storedHardState = stored }
    if let last = done.lastEntry { log.stable(to: last.index, term: last.term) }
    if let applied = done.lastApplied { log.applied(to: applied) }
    if role == .leader { maybeCommit() }
  }

  /// Forgets an outstanding `Ready` without confirming it (its writes failed or were lost): the
  /// next `Ready` hands the same work out again.
  public mutating func abandonReady() {
    handedOut = nil
  }

  // MARK: - Shared helpers

  mutating func send(to peer: NodeID, _ body: RaftMessage.Body, term messageTerm: UInt64? = nil) {
    outbox.append(RaftMessage(from: id, to: peer, term: messageTerm ?? term, body: body))
  }

  mutating func emit(_ event: RaftEvent) {
    pendingEvents.append(event)
  }

  /// Progress for a follower the leader knows nothing about yet.
  func newProgress() -> Progress {
    Progress(
      next: log.lastIndex + 1, inflightCapacity: configuration.maxInflightAppends,
      inflightByteCapacity: configuration.maxInflightBytes)
  }

  mutating func resetElectionDeadline() {
    switch role {
    case .follower:
      let spread = electionMaximum - electionMinimum
      electionDeadline = now + heartbeatTimeout + UInt64.random(in: 0...spread, using: &random)
    case .preCandidate, .candidate:
      electionDeadline = now + UInt64.random(in: electionMinimum...electionMaximum, using: &random)
    case .leader:
      break
    }
  }

  mutating func setLeader(_ newLeader: NodeID?) {
    if leader != newLeader {
      leader = newLeader
      if let newLeader { lastLeader = newLeader }
      emit(.leaderChanged(newLeader))
    }
  }

  mutating func setTerm(_ newTerm: UInt64) {
    guard newTerm > term else { return }
    term = newTerm
    votedFor = nil
    emit(.termChanged(newTerm))
  }
}
