import Logging
import Synchronization

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A running Raft node (the seed's `RaftInterface`): an actor that drives a ``RaftCore`` with real
/// time, the user's storage, transport and state machine.
///
/// ```swift
/// let node = try await RaftNode(
///   id: "a", bootstrap: ["a", "b", "c"], storage: InMemoryStorage(),
///   stateMachine: counter, logger: logger, makePeer: { id, _ in MyPeer(id) })
/// let result = try await node.propose(Data("increment".utf8))
/// ```
///
/// It keeps the persistence contract: term, vote and entries are durable (one batched write)
/// before any message that depends on them is sent; the state machine applies each index exactly
/// once, in order; a failed apply stops applying and is reported, never skipped.
public actor RaftNode<StateMachine: RaftStateMachine> {
  /// This node's identity.
  public nonisolated let id: NodeID
  /// The settings the node runs with.
  public nonisolated let configuration: RaftConfiguration
  /// Where a transport delivers received messages (the seed's `gotData`).
  public nonisolated let inbound: RaftInbound
  /// How long a proposal, read or membership change may wait before it fails with
  /// ``RaftError/proposalTimedOut``.
  public nonisolated let proposalTimeout: Duration

  /// Carries out the core's work; the simulator runs the same driver.
  var driver: RaftDriver
  /// The protocol core, as the driver holds it.
  var core: RaftCore { driver.core }
  let storage: any RaftStorage
  let stateMachine: StateMachine
  let logger: Logger
  let metrics: RaftMetrics
  let makePeer: @Sendable (NodeID, RaftInbound) -> any RaftPeer
  var peers: [NodeID: any RaftPeer] = [:]
  let broadcaster: EventBroadcaster
  let mailbox: Mailbox
  /// The batches of committed entries handed to the applier task, which applies them in order
  /// off the pump (a slow state machine does not hold up replication) and reports each batch
  /// through the mailbox.
  let applyQueue = ApplyQueue()
  var applierTask: Task<Void, Never>?
  /// Batches handed to the applier task and not reported back yet.
  var appliesOutstanding = 0
  /// Whether the last batch applied quickly: the next one may be applied by the pump itself.
  var lastApplyWasQuick = true
  var tickTask: Task<Void, Never>?
  let clock = ContinuousClock()
  let started: ContinuousClock.Instant
  var failure: RaftError?
  /// Ends ``run()``: fired by the service group, the task's cancellation, or the node stopping.
  let stopSignal = StopSignal()
  /// The last request ID handed out (proposals take theirs without entering the actor).
  let lastRequestID: Atomic<UInt64>
  /// Callers waiting for proposals, membership changes and reads.
  var waiters = WaiterTable()
  var lastExpiryScan: UInt64 = 0
  /// The last index the state machine applied.
  var lastApplied: UInt64 { driver.appliedIndex }
  /// The membership of the last applied membership entry.
  var appliedMembership: Membership { driver.appliedMembership }

  // Snapshots.
  var snapshotTask: Task<Void, Never>?
  /// The node's own snapshot, written in the background and waiting to be committed.
  var writtenSnapshot: (writer: any RaftSnapshotWriter, metadata: SnapshotMetadata, size: Int)?
  var incomingWriter: (writer: any RaftSnapshotWriter, metadata: SnapshotMetadata)?
  var outgoingReader: (any RaftSnapshotReader)?

  /// Creates and starts a node.
  ///
  /// When storage holds a snapshot the state machine is first restored from it (the seed's
  /// `refresh`), then the stored log is replayed as it commits.
  ///
  /// - Parameters:
  ///   - id: this node's identity (the seed's address).
  ///   - configuration: timeouts, options and limits; validated here.
  ///   - bootstrap: the initial cluster, used only when `storage` holds nothing yet. A node that
  ///     joins a running cluster passes ``Membership/empty`` and is added with
  ///     ``join(_:attributes:)`` on a member.
  ///   - storage: where term, vote, log and snapshots are kept.
  ///   - stateMachine: what committed commands are applied to.
  ///   - appliedIndex: the last index `stateMachine` already holds, for a durable state machine;
  ///     0 (the default) restores the stored snapshot and replays the stored log.
  ///   - proposalTimeout: how long ``propose(_:)`` and reads wait at most.
  ///   - logger: where the node logs; it never prints.
  ///   - seed: seeds election-timeout randomization; random by default.
  ///   - makePeer: creates the peer for a member (the seed's `createInstance(address)`); the
  ///     ``RaftInbound`` lets the peer deliver what it receives.
  /// - Throws: ``RaftError/invalidConfiguration(_:)``, the storage's error when it cannot load,
  ///   or ``RaftError/stateMachineFailed(index:reason:)`` when restoring the snapshot fails.
  public init(
    id: NodeID,
    configuration: RaftConfiguration = RaftConfiguration(),
    bootstrap: Membership,
    storage: any RaftStorage,
    stateMachine: StateMachine,
    appliedIndex: UInt64 = 0,
    proposalTimeout: Duration = .seconds(10),
    logger: Logger,
    seed: UInt64? = nil,
    makePeer: @escaping @Sendable (NodeID, RaftInbound) -> any RaftPeer
  ) async throws {
    try configuration.validate()
    let state: PersistentState
    if let stored = try await storage.load() {
      state = stored
    } else {
      state = .initial(membership: bootstrap)
      try await storage.initialize(state)
    }
    if state.snapshot.index > appliedIndex {
      guard let reader = try await storage.openSnapshot() else {
        throw RaftError.storageFailed(
          "storage reports a snapshot at index \(state.snapshot.index) but has no snapshot data")
      }
      do {
        try await stateMachine.restore(from: reader)
      } catch {
        throw RaftError.stateMachineFailed(
          index: state.snapshot.index, reason: "restoring the stored snapshot failed: \(error)")
      }
      logger.info(
        "raft state machine restored from snapshot",
        metadata: ["node": "\(id)", "index": "\(state.snapshot.index)", "term": "\(state.snapshot.term)"])
    }
    var generator = SystemRandomNumberGenerator()
    let core = try RaftCore(
      id: id, configuration: configuration, state: state,
      appliedIndex: max(appliedIndex, state.snapshot.index), seed: seed ?? generator.next())
    self.driver = RaftDriver(
      core: core, appliedIndex: core.appliedIndex, appliedMembership: state.snapshot.membership,
      snapshotPolicy: RaftDriver.SnapshotPolicy(configuration))
    self.id = id
    self.configuration = configuration
    self.storage = storage
    self.stateMachine = stateMachine
    self.logger = logger
    self.metrics = RaftMetrics(node: id)
    self.makePeer = makePeer
    self.proposalTimeout = proposalTimeout
    self.broadcaster = EventBroadcaster()
    self.lastRequestID = Atomic(generator.next() >> 16)
    self.started = clock.now
    let mailbox = Mailbox()
    self.mailbox = mailbox
    self.inbound = RaftInbound(
      deliver: { message in mailbox.post(message) },
      handOff: { message in await mailbox.handOff(message) })
    logger.info(
      "raft node starting",
      metadata: [
        "node": "\(id)", "term": "\(core.term)", "lastIndex": "\(core.lastIndex)",
        "snapshotIndex": "\(core.snapshotIndex)", "members": "\(core.membership.members.sorted())",
      ])
    mailbox.setPump { [weak self] in
      guard let self else { return }
      await self.pump()
    }
    self.applierTask = Task { [applyQueue, broadcaster, metrics, clock, started] in
      await Self.runApplier(
        stateMachine: stateMachine, queue: applyQueue, mailbox: mailbox, broadcaster: broadcaster,
        metrics: metrics, clock: clock, started: started)
    }
    let interval = Self.tickInterval(configuration)
    self.tickTask = Task { [weak self] in
      while !Task.isCancelled {
        try? await Task.sleep(for: interval)
        guard let self else { return }
        await self.tick()
      }
    }
  }

  deinit {
    // A node dropped without `shutdown()` still ends its pump and applier tasks and fails queued
    // proposals.
    mailbox.close(because: .shutdown)
    applyQueue.close()
  }

  private static func tickInterval(_ configuration: RaftConfiguration) -> Duration {
    let shortest = min(configuration.heartbeatInterval, configuration.electionTimeout.lowerBound)
    return max(.milliseconds(1), min(.milliseconds(10), shortest / 10))
  }

  // MARK: - Reading the state

  /// The node's role, term, leader, indexes, membership and (on a leader) followers' progress.
  public var status: RaftStatus {
    var status = core.status
    status.appliedIndex = lastApplied
    return status
  }

  /// The leader this node knows, if any.
  public var leader: NodeID? { core.leader }

  /// Where to look for the leader when this node knows none: see ``RaftCore/leaderHint``. The
  /// hint ``RaftError/noLeader(leaderHint:)`` carries; it may be stale.
  public var leaderHint: NodeID? { core.leaderHint }

  /// The membership in force on this node (the latest in its log, committed or not).
  public var membership: Membership { core.membership }

  /// The membership this node applied last: that of the last committed membership entry it
  /// applied, or of the snapshot it restored (see ``RaftEvent/membershipCommitted(_:)``).
  public var committedMembership: Membership { appliedMembership }

  // MARK: - Events

  /// The node's events as an async sequence. Each access starts a new subscription that sees the
  /// events from then on; it ends when the node shuts down. A subscriber that falls more than
  /// 65,536 events behind loses the oldest ones.
  public nonisolated var events: AsyncStream<RaftEvent> {
    broadcaster.subscribe()
  }

  /// Calls `handler` for every event of `kind` (every event when `kind` is nil), on the node's
  /// executor (``RaftEvent/apply(_:)`` and ``RaftEvent/updated(index:)`` where the entry is
  /// applied: on the node's executor, or in its applier task): keep it short. Returns a handle for ``unlisten(_:)``.
  @discardableResult
  public nonisolated func listen(
    _ kind: RaftEvent.Kind? = nil, _ handler: @escaping @Sendable (RaftEvent) -> Void
  ) -> RaftListener {
    broadcaster.listen(kind, handler)
  }

  /// Removes a handler added with ``listen(_:_:)``.
  public nonisolated func unlisten(_ listener: RaftListener) {
    broadcaster.unlisten(listener)
  }

  // MARK: - Inputs

  /// Handles a message received from another node (the seed's `gotData(from, payload)`).
  ///
  /// `from` must name the sender the transport authenticated; a message whose `from` differs is
  /// dropped.
  public nonisolated func receive(_ message: RaftMessage, from sender: NodeID) {
    guard message.from == sender else { return }
    mailbox.post(message)
  }

  /// Proposes a command and returns the state machine's output once it is committed and applied
  /// on this node (the seed's `propose`).
  ///
  /// On a follower the proposal is forwarded to the leader.
  ///
  /// Cancelling the calling task ends the call at once: with ``RaftError/cancelled`` when the
  /// proposal had not left the node's mailbox yet (it will not be applied), with
  /// ``RaftError/cancelledOutcomeUnknown`` once the node appended it or forwarded it to the leader
  /// (it may still be applied). The node's `proposalTimeout` bounds the wait as well; for a
  /// shorter deadline on one call, cancel its task when the deadline passes.
  ///
  /// When a tracer is in force, the proposal is traced as a `raft.propose` span, a child of the
  /// caller's `ServiceContext.current`, that ends when the command is applied (attributes
  /// `raft.index` and `raft.term`, events `raft.appended` or `raft.forwarded`) or records the
  /// error the call fails with.
  /// - Throws: ``RaftError/noLeader(leaderHint:)`` at once when no leader is known;
  ///   ``RaftError/overloaded(uncommittedBytes:limit:)``;
  ///   ``RaftError/leadershipTransferInProgress``; ``RaftError/proposalDropped(index:)`` as soon
  ///   as the node knows the entry will never be applied (another entry was applied at its index,
  ///   or an entry of a later term before it); ``RaftError/proposalOutcomeUnknown(_:)`` when it
  ///   can no longer learn the outcome (a forwarded proposal whose entry never reached this node
  ///   within two maximum election timeouts); ``RaftError/proposalTimedOut``;
  ///   ``RaftError/cancelled`` or ``RaftError/cancelledOutcomeUnknown``; ``RaftError/shutdown``;
  ///   or the failure that stopped the node. `proposalOutcomeUnknown`, `proposalTimedOut`,
  ///   `cancelledOutcomeUnknown` and the failures that stop the node mean the command may still
  ///   be applied.
  public nonisolated(nonsending) func propose(_ command: Data) async throws -> StateMachine.Output {
    metrics.proposals.increment()
    let requestID = makeRequestID()
    let now = nowMilliseconds
    let deadline = now + proposalTimeout.wholeMilliseconds
    let trace = RequestTrace.start("raft.propose", node: id)
    // The proposal waits in the mailbox for the pump, which hands every proposal waiting to the
    // core at once: proposers never queue for the actor itself. The continuation is unchecked (no
    // allocation for it): the mailbox and the waiter table resume each exactly once.
    let output: any Sendable
    do {
      output = try await withTaskCancellationHandler {
        try await withUnsafeThrowingContinuation {
          (continuation: UnsafeContinuation<any Sendable, any Error>) in
          if Task.isCancelled {
            continuation.resume(throwing: RaftError.cancelled)
            return
          }
          let proposal = QueuedProposal(
            command: command, requestID: requestID, started: now, deadline: deadline,
            continuation: continuation, trace: trace)
          if let refused = mailbox.propose(proposal) {
            metrics.proposalFailures.increment()
            continuation.resume(throwing: refused)
          }
        }
      } onCancel: {
        // A proposal still in the mailbox is removed there (it never reaches the core); one the
        // pump took is forgotten by the node.
        if !self.mailbox.cancel(requestID) {
          Task { await self.cancel(requestID) }
        }
      }
    } catch {
      // The node ends the span of a proposal it settles; this ends it for the failures it never
      // saw (refused or cancelled in the mailbox).
      trace?.failed(error)
      throw error
    }
    // The node resumes a proposal only with what this state machine's `apply` returned.
    return output as! StateMachine.Output
  }

  /// Encodes `command` as JSON and proposes it (the seed's JSON-serializable commands).
  public func propose<Command: Encodable & Sendable>(json command: Command) async throws
    -> StateMachine.Output
  {
    try await propose(try JSONEncoder().encode(command))
  }

  /// Adds a voting member (the seed's `join(address)`): it joins as a learner (or stays one, if it
  /// is one already), catches up, and is promoted to voter by the leader. Returns once the
  /// promotion is applied on this node.
  ///
  /// - Parameter attributes: replicated with the membership for transports and services to read.
  public func join(_ member: NodeID, attributes: [String: String]? = nil) async throws {
    try await changeMembership(.addVoter(member, attributes: attributes))
    let deadline = nowMilliseconds + proposalTimeout.wholeMilliseconds
    _ = try await waitFor(.promoted(member), deadline: deadline, timeoutError: .proposalTimedOut)
  }

  /// Takes a snapshot of everything this node has applied now, stores it and compacts the log up
  /// to it, whatever the snapshot policy says; returns the index the snapshot ends at (at least
  /// the applied index at the call). Returns at once when the last snapshot already covers
  /// everything applied.
  ///
  /// - Throws: ``RaftError/snapshotsUnsupported`` when the state machine does not implement
  ///   snapshots; the error of the state machine or storage when capturing or writing fails;
  ///   ``RaftError/proposalTimedOut`` when it takes longer than the proposal timeout.
  @discardableResult
  public func snapshot() async throws -> UInt64 {
    if let failure { throw failure }
    guard driver.snapshotsSupported else { throw RaftError.snapshotsUnsupported }
    let target = lastApplied
    if core.snapshotIndex >= target { return core.snapshotIndex }
    driver.requestSnapshot()
    scheduleDrain()
    let outcome = try await waitFor(
      .snapshot(atLeast: target), deadline: nowMilliseconds + proposalTimeout.wholeMilliseconds,
      timeoutError: .proposalTimedOut)
    guard case .index(let index) = outcome else { return core.snapshotIndex }
    return index
  }

  /// Purges the log through `index`: afterwards this node's log holds no entry at or below it.
  /// The log is compacted only behind a snapshot, so this takes a snapshot of what is applied now
  /// when the last one ends before `index`; returns the index the log now starts after (at least
  /// `index`). Followers that still need the purged entries are caught up with the snapshot.
  ///
  /// - Throws: ``RaftError/notApplied(index:applied:)`` when this node has not applied `index`
  ///   yet; the errors of ``snapshot()``.
  @discardableResult
  public func purgeLog(through index: UInt64) async throws -> UInt64 {
    if let failure { throw failure }
    if core.snapshotIndex >= index { return core.snapshotIndex }
    guard lastApplied >= index else { throw RaftError.notApplied(index: index, applied: lastApplied) }
    return try await snapshot()
  }

  /// Adds a learner: a member that receives the log but does not vote (a read replica).
  public func addLearner(_ member: NodeID, attributes: [String: String]? = nil) async throws {
    try await changeMembership(.addLearner(member, attributes: attributes))
  }

  /// Removes a member (the seed's `leave(address)`); returns once the change is committed. A
  /// leader that removes itself hands leadership to the most up-to-date voter once the change
  /// commits.
  public func leave(_ member: NodeID) async throws {
    try await changeMembership(.remove(member))
  }

  /// Makes a single-server membership change; returns once it is committed and applied here.
  ///
  /// Cancelling the calling task ends the call at once: with ``RaftError/cancelled`` before the
  /// change was proposed, with ``RaftError/cancelledOutcomeUnknown`` after (it may still be
  /// applied). Traced as a `raft.changeMembership` span when a tracer is in force.
  public func changeMembership(_ change: MembershipChange) async throws {
    try await submitMembership([change], single: true)
  }

  /// Proposes membership changes and returns once the entry that carries them is applied here.
  func submitMembership(_ changes: [MembershipChange], single: Bool) async throws {
    let deadline = nowMilliseconds + proposalTimeout.wholeMilliseconds
    let _: Void = try await awaitRequest(
      "raft.changeMembership", waiter: { .membership($0, trace: $1) },
      start: { (requestID, _) throws(RaftError) -> Void? in
        if single {
          _ = try driver.proposeMembershipChange(changes[0], requestID: requestID, deadline: deadline)
        } else {
          _ = try driver.proposeMembershipChanges(changes, requestID: requestID, deadline: deadline)
        }
        return nil
      })
  }

  /// Hands leadership to `target`, or to the most up-to-date voter when nil, and returns the new
  /// leader once this node knows it. Only the leader can transfer.
  ///
  /// Cancelling the calling task ends the call at once: with ``RaftError/cancelled`` before the
  /// transfer started; after, the leader gives the transfer up (it takes proposals again) and the
  /// call fails with ``RaftError/cancelledOutcomeUnknown``, since the target may already have
  /// been told to campaign and may still take over.
  /// - Throws: ``RaftError/notLeader(leader:)``, ``RaftError/leadershipTransferInProgress``,
  ///   ``RaftError/leadershipTransferFailed(_:)`` (also when it did not finish in time).
  @discardableResult
  public func transferLeadership(to target: NodeID? = nil) async throws -> NodeID {
    try await transferLeadership(
      to: target, within: configuration.electionTimeout.upperBound * 2 + configuration.heartbeatTimeout)
  }

  private func transferLeadership(to target: NodeID?, within timeout: Duration) async throws -> NodeID {
    if let failure { throw failure }
    if Task.isCancelled { throw RaftError.cancelled }
    if target == id, core.role == .leader { return id }
    try driver.transferLeadership(to: target)
    scheduleDrain()
    let chosen = core.leadershipTransferTarget
    let term = core.term
    let outcome: ConditionWaiter.Outcome
    do {
      outcome = try await waitFor(
        .otherLeader(id), deadline: nowMilliseconds + timeout.wholeMilliseconds,
        timeoutError: .leadershipTransferFailed(
          "\(chosen?.rawValue ?? "the target") did not take over within the election timeout"))
    } catch RaftError.cancelledOutcomeUnknown {
      if let chosen, core.term == term, core.leadershipTransferTarget == chosen {
        driver.abortLeadershipTransfer()
        scheduleDrain()
      }
      throw RaftError.cancelledOutcomeUnknown
    }
    guard case .node(let leader) = outcome else { return core.leader ?? id }
    return leader
  }

  /// Makes this follower forget its leader, for an operator who knows that leader is gone (after a
  /// partition, say): it then votes for another candidate at once instead of ignoring vote
  /// requests until its leader's lease would have run out. Lease reads on a leader that is in fact
  /// still alive lose their guarantee; ReadIndex reads keep theirs. A no-op on a leader.
  public func forgetLeader() {
    guard failure == nil else { return }
    driver.forgetLeader()
    scheduleDrain()
  }

  /// Starts an election now (for tests and operators); a no-op on a leader.
  public func campaign() {
    guard failure == nil else { return }
    driver.campaign()
    scheduleDrain()
  }

  /// Stops the node gracefully: a leader with other voters first hands leadership to the most
  /// up-to-date one (so that the cluster does not wait an election timeout for a new leader),
  /// then the node stops as ``shutdown()`` does. A transfer that fails, or does not finish within
  /// a maximum election timeout and a heartbeat timeout, does not hold the shutdown up.
  public func shutdown(handingOverLeadership: Bool) async {
    if handingOverLeadership, failure == nil, core.role == .leader, core.membership.voters.count > 1 {
      do {
        // A transfer to a caught-up voter takes a round trip and one election round; a leader
        // whose followers are gone gives up after that much.
        let successor = try await transferLeadership(
          to: nil, within: configuration.electionTimeout.upperBound + configuration.heartbeatTimeout)
        logger.info(
          "raft leadership handed over before stopping", metadata: ["node": "\(id)", "to": "\(successor)"])
      } catch {
        logger.warning(
          "raft could not hand leadership over before stopping; the others elect a new leader",
          metadata: ["node": "\(id)", "error": "\(error)"])
      }
    }
    await shutdown()
  }

  /// Stops the node: timers end, pending proposals fail with ``RaftError/shutdown``, peers are
  /// closed and event sequences finish. Waits for a storage write in progress to complete, and
  /// for the state machine to return from the command it is applying (the entries handed to it
  /// after that are not applied; a restart replays them).
  public func shutdown() async {
    if failure == nil { failure = .shutdown }
    tickTask?.cancel()
    mailbox.close(because: failure ?? .shutdown)
    await mailbox.waitUntilIdle()
    // The applier stops after the command under way; what it applied is not reported any more.
    applyQueue.close()
    if let applierTask {
      await applierTask.value
      self.applierTask = nil
    }
    if let snapshotTask {
      snapshotTask.cancel()
      await snapshotTask.value
    }
    if let pending = writtenSnapshot {
      await pending.writer.abort()
      writtenSnapshot = nil
    }
    if let incoming = incomingWriter {
      await incoming.writer.abort()
      incomingWriter = nil
    }
    failAll(failure ?? .shutdown)
    for peer in peers.values { peer.close() }
    peers.removeAll()
    broadcaster.finish()
    logger.info("raft node stopped", metadata: ["node": "\(id)"])
    stopSignal.fire(.shutDown)
  }
}
