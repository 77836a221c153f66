#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Carries out a ``RaftCore``'s `Ready`s: the one place that decides what happens in which order —
/// which messages go before the write, persisting, sending, writing and installing snapshots from
/// the leader, serving snapshot chunks, applying, capturing and committing the node's own
/// snapshots, and settling the proposals and reads that wait on the node.
///
/// Applying is off the replication path: the driver hands committed entries to the state machine
/// (``DriverAction/apply(_:from:)``) and goes on at once — persisting, sending, voting and
/// heartbeats do not wait for a slow state machine. The entries handed out and not yet applied
/// (from ``appliedIndex`` to ``handedOutIndex``) form an ordered pipeline that the host works off
/// in order, reporting each entry with ``applied(_:resolve:)``; it holds at most
/// ``RaftConfiguration/maxApplyingEntries`` entries, after which the driver hands out no more
/// until the state machine catches up.
///
/// The driver does no I/O. Its host (``RaftNode`` with real storage, transport, state machine and
/// clock; the simulator with simulated ones) asks ``next(resolve:)`` for the next
/// ``DriverAction``, does it, and reports the completion of the asynchronous ones. Inputs (messages,
/// ticks, proposals, reads) may be given at any time, also while an action is under way. Because
/// the runtime and the simulator share this code, what the simulator's fuzzer checks is what
/// users run.
///
/// Settled requests are reported to a `resolve` closure as (request identifier,
/// ``RequestOutcome``); the host maps identifiers to its callers.
public struct RaftDriver: Sendable {
  /// When the driver takes a snapshot of the state machine on its own.
  public struct SnapshotPolicy: Hashable, Sendable {
    /// Snapshot once this many entries were applied since the last snapshot; nil: never for this.
    public var entryInterval: UInt64?
    /// Snapshot once the log holds this many payload bytes; nil: never for this.
    public var logBytes: Int?
    /// How long to wait after a failed snapshot before trying again, in milliseconds.
    public var retryDelay: UInt64

    /// Creates a policy.
    public init(entryInterval: UInt64?, logBytes: Int?, retryDelay: UInt64 = 1000) {
      self.entryInterval = entryInterval
      self.logBytes = logBytes
      self.retryDelay = retryDelay
    }

    /// The policy a configuration sets (``RaftConfiguration/snapshotEntryInterval`` and
    /// ``RaftConfiguration/snapshotLogBytes``).
    public init(_ configuration: RaftConfiguration) {
      self.init(
        entryInterval: configuration.snapshotEntryInterval.map { UInt64($0) },
        logBytes: configuration.snapshotLogBytes)
    }
  }

  /// Where carrying out the current `Ready` stands.
  enum Phase {
    case early, persist, chunks, late, settle, events, chunkRequests, apply, finish
  }

  /// The completion the driver waits for.
  enum Awaiting: Equatable {
    case persist, chunkWrite, install, chunkRead, capture, commit
    /// Everything handed out to apply is to be applied first (a received snapshot waits to be
    /// installed).
    case applies
  }

  /// The state of the node's own snapshot.
  enum OwnSnapshot: Equatable {
    case idle
    /// Captured at the metadata's index, being written in the background.
    case writing(SnapshotMetadata)
    /// Written; to be committed between two `Ready`s.
    case written(SnapshotMetadata)
  }

  /// The protocol core. Give it inputs through the driver's methods; read it freely.
  public internal(set) var core: RaftCore
  /// The last index the state machine has applied (restored from a snapshot or applied).
  public internal(set) var appliedIndex: UInt64
  /// The last index handed to the state machine to apply: the entries after ``appliedIndex`` up to
  /// this one are being applied.
  public internal(set) var handedOutIndex: UInt64
  /// The membership of the last applied membership entry, or of the last snapshot restored.
  public internal(set) var appliedMembership: Membership
  /// When the node snapshots its state machine.
  public var snapshotPolicy: SnapshotPolicy
  /// Whether a leader's appends go out before its own write (``Ready/earlyMessageCount``).
  public var sendsEarlyMessages = true
  /// Whether the state machine can take snapshots; cleared when it says it cannot.
  public internal(set) var snapshotsSupported = true

  var tracker = RequestTracker()
  var ready: Ready?
  var phase = Phase.early
  var position = 0
  var awaiting: Awaiting?
  var ownSnapshot = OwnSnapshot.idle
  var lastSnapshotFailure: UInt64?
  /// A snapshot from the leader that is written and waits to be installed.
  var receivedSnapshot: SnapshotMetadata?
  /// A snapshot was asked for (``requestSnapshot()``): taken at the next apply boundary, whatever
  /// the policy says.
  var snapshotRequested = false
  /// Set when ``next(resolve:)`` returned nil at the end of a `Ready`.
  var finishedReady = false
  /// Events the driver itself raises (a membership applied), published before the next action.
  var raisedEvents: [RaftEvent] = []

  /// Creates a driver for `core`, whose state machine holds everything up to `appliedIndex`.
  ///
  /// - Parameter appliedMembership: the membership of the snapshot the state machine was restored
  ///   from (or of the node's stored state).
  public init(
    core: RaftCore, appliedIndex: UInt64, appliedMembership: Membership, snapshotPolicy: SnapshotPolicy
  ) {
    self.core = core
    self.appliedIndex = appliedIndex
    self.handedOutIndex = appliedIndex
    self.appliedMembership = appliedMembership
    self.snapshotPolicy = snapshotPolicy
  }

  /// How long a forwarded proposal may stay out of this node's log before the node gives up
  /// learning its fate: two maximum election timeouts, time enough for a leader to be elected
  /// and to replicate it.
  var forwardLostAfter: UInt64 { 2 * core.electionMaximum }

  /// Whether ``next(resolve:)`` returned nil because it just finished a `Ready` (there may be more
  /// to do: call it again); clears the mark.
  public mutating func takeFinishedReady() -> Bool {
    defer { finishedReady = false }
    return finishedReady
  }

  /// Whether the driver waits for nothing and has no `Ready` under way.
  public var isIdle: Bool { ready == nil && awaiting == nil }

  /// Whether a `Ready` is under way and the driver waits for no completion (it has more to do).
  public var hasReadyUnderWay: Bool { ready != nil && awaiting == nil }

  /// Whether the driver waits until the state machine has applied everything handed out (a
  /// snapshot received from the leader waits to be installed): the only wait that the host ends
  /// by reporting applied entries rather than by completing an action.
  public var waitsForApplies: Bool { awaiting == .applies }

  // MARK: - Inputs

  /// Moves the core's clock (see ``RaftCore/tick(now:)``).
  public mutating func tick(now: UInt64) {
    core.tick(now: now)
  }

  /// Fails the requests whose deadline passed by `now`, and forwarded proposals whose entry never
  /// reached this node in time.
  public mutating func expire(now: UInt64, resolve: (UInt64, RequestOutcome) -> Void) {
    if !tracker.isEmpty { tracker.expire(now: now, resolve: resolve) }
  }

  /// The earliest time at which ``expire(now:resolve:)`` has a request to fail, if any (a host
  /// that ticks only at the core's deadlines ticks then too).
  public var nextExpiry: UInt64? { tracker.isEmpty ? nil : tracker.nextExpiry() }

  /// Steps a received message.
  public mutating func step(_ message: RaftMessage) {
    core.step(message)
  }

  /// Proposes a command and tracks it until it is settled (or `deadline` passes).
  public mutating func propose(_ command: Data, requestID: UInt64, deadline: UInt64?) throws(RaftError)
    -> ProposalTicket
  {
    let ticket = try core.propose(command, requestID: requestID)
    tracker.proposed(
      requestID: requestID, ticket: ticket, deadline: deadline, lostAfter: core.now + forwardLostAfter)
    return ticket
  }

  /// Proposes a membership change and tracks it like a command.
  public mutating func proposeMembershipChange(
    _ change: MembershipChange, requestID: UInt64, deadline: UInt64?
  ) throws(RaftError) -> ProposalTicket {
    let ticket = try core.proposeMembershipChange(change, requestID: requestID)
    tracker.proposed(
      requestID: requestID, ticket: ticket, deadline: deadline, lostAfter: core.now + forwardLostAfter)
    return ticket
  }

  /// Proposes several membership changes made together (a joint change when more than one voter
  /// comes or goes) and tracks them like a command. The request settles when the entry that
  /// carries them is applied; while joint, the leader then leaves the joint configuration on its
  /// own (``RaftNode`` waits for that too).
  public mutating func proposeMembershipChanges(
    _ changes: [MembershipChange], requestID: UInt64, deadline: UInt64?
  ) throws(RaftError) -> ProposalTicket {
    let ticket = try core.proposeMembershipChanges(changes, requestID: requestID)
    tracker.proposed(
      requestID: requestID, ticket: ticket, deadline: deadline, lostAfter: core.now + forwardLostAfter)
    return ticket
  }

  /// Asks for a ReadIndex read; it is resolved ``RequestOutcome/readable(index:)`` once the state
  /// machine reached its read index, or as soon as the index is confirmed when `untilApplied` is
  /// false (for callers that wait for the state machine themselves).
  public mutating func readIndex(requestID: UInt64, deadline: UInt64?, untilApplied: Bool = true)
    throws(RaftError)
  {
    try core.readIndex(requestID: requestID)
    tracker.readRequested(requestID: requestID, deadline: deadline, untilApplied: untilApplied)
  }

  /// What a lease read found.
  public enum LeaseRead: Equatable, Sendable {
    /// The lease holds and the state machine is at or past its index: read now.
    case readable(index: UInt64)
    /// The lease holds; the read is tracked until the state machine reaches `index`.
    case waiting(index: UInt64)
    /// No lease: use ``readIndex(requestID:deadline:)``.
    case noLease
  }

  /// Asks for a lease read at `now`, the clock read at the moment of the read.
  public mutating func leaseRead(requestID: UInt64, now: UInt64, deadline: UInt64?) -> LeaseRead {
    guard let index = core.leaseReadIndex(now: now) else { return .noLease }
    if index <= appliedIndex { return .readable(index: index) }
    tracker.readRequested(requestID: requestID, deadline: deadline)
    tracker.readIndexKnown(requestID: requestID, index: index) { _, _ in }
    return .waiting(index: index)
  }

  /// Stops tracking a request (its caller went away); returns whether it was tracked.
  public mutating func forget(_ requestID: UInt64) -> Bool {
    tracker.forget(requestID)
  }

  /// Asks for a snapshot of everything applied, taken at the next apply boundary (once everything
  /// handed out to apply is applied; handing out more waits until then) whatever the policy says; nothing happens when the last snapshot already
  /// covers everything applied, or a snapshot is being written (ask again once it is committed).
  public mutating func requestSnapshot() {
    guard snapshotsSupported, appliedIndex > core.snapshotIndex else { return }
    snapshotRequested = true
  }

  /// Makes a follower forget its leader (see ``RaftCore/forgetLeader()``).
  public mutating func forgetLeader() {
    core.forgetLeader()
  }

  /// Starts an election now (see ``RaftCore/campaign()``).
  public mutating func campaign() {
    core.campaign()
  }

  /// Starts a leadership transfer (see ``RaftCore/transferLeadership(to:)``).
  public mutating func transferLeadership(to target: NodeID?) throws(RaftError) {
    try core.transferLeadership(to: target)
  }

  /// Gives up the leadership transfer under way, if any (its caller went away): the leader takes
  /// proposals again. A target already told to campaign may still take over.
  public mutating func abortLeadershipTransfer() {
    core.abortTransfer()
  }

  /// Fails every tracked request with `error` (the node stops).
  public mutating func failAll(_ error: RaftError, resolve: (UInt64, RequestOutcome) -> Void) {
    tracker.failAll(error, resolve: resolve)
  }
}
