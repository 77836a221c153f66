import Logging

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

  private var core: RaftCore
  private let storage: any RaftStorage
  private let stateMachine: StateMachine
  private let logger: Logger
  private let makePeer: @Sendable (NodeID, RaftInbound) -> any RaftPeer
  private var peers: [NodeID: any RaftPeer] = [:]
  private let broadcaster: EventBroadcaster
  private let inbox: AsyncStream<RaftMessage>.Continuation
  private var inboxTask: Task<Void, Never>?
  private var tickTask: Task<Void, Never>?
  private var drainTask: Task<Void, Never>?
  private let clock = ContinuousClock()
  private let started: ContinuousClock.Instant
  private var failure: RaftError?
  private var nextRequestID: UInt64
  private var waiters: [UInt64: Waiter] = [:]
  private var requestAtIndex: [UInt64: (term: UInt64, requestID: UInt64)] = [:]
  private var lastApplied: UInt64
  private var lastExpiryScan: UInt64 = 0

  private enum Waiter {
    case command(CheckedContinuation<StateMachine.Output, any Error>, deadline: UInt64)
    case membership(CheckedContinuation<Void, any Error>, deadline: UInt64)

    var deadline: UInt64 {
      switch self {
      case .command(_, let deadline), .membership(_, let deadline): return deadline
      }
    }

    func fail(_ error: RaftError) {
      switch self {
      case .command(let continuation, _): continuation.resume(throwing: error)
      case .membership(let continuation, _): continuation.resume(throwing: error)
      }
    }
  }

  /// How long a proposal or membership change may wait before it fails with
  /// ``RaftError/proposalTimedOut``.
  public nonisolated let proposalTimeout: Duration

  /// Creates and starts a node.
  ///
  /// - Parameters:
  ///   - id: this node's identity (the seed's address).
  ///   - configuration: timeouts, options and limits; validated here.
  ///   - bootstrap: the initial cluster, used only when `storage` holds nothing yet. A node that
  ///     joins a running cluster passes an empty membership and is added with ``join(_:attributes:)``
  ///     on a member.
  ///   - storage: where term, vote and log are kept.
  ///   - stateMachine: what committed commands are applied to.
  ///   - appliedIndex: the last index `stateMachine` already holds, for a durable state machine;
  ///     0 (the default) replays the stored log.
  ///   - proposalTimeout: how long ``propose(_:)`` waits at most.
  ///   - logger: where the node logs; it never prints.
  ///   - seed: seeds election-timeout randomization; random by default.
  ///   - makePeer: creates the peer for a member (the seed's `createInstance(address)`); the
  ///     ``RaftInbound`` lets the peer deliver what it receives.
  /// - Throws: ``RaftError/invalidConfiguration(_:)``, or the storage's error when it cannot load.
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
    var state: PersistentState
    if let stored = try await storage.load() {
      state = stored
    } else {
      state = .initial(membership: bootstrap)
      try await storage.initialize(state)
    }
    var generator = SystemRandomNumberGenerator()
    self.core = try RaftCore(
      id: id, configuration: configuration, state: state, appliedIndex: appliedIndex,
      seed: seed ?? generator.next())
    self.id = id
    self.configuration = configuration
    self.storage = storage
    self.stateMachine = stateMachine
    self.logger = logger
    self.makePeer = makePeer
    self.proposalTimeout = proposalTimeout
    self.broadcaster = EventBroadcaster()
    self.nextRequestID = generator.next() >> 16
    self.lastApplied = core.appliedIndex
    self.started = clock.now
    let (stream, continuation) = AsyncStream<RaftMessage>.makeStream()
    self.inbox = continuation
    self.inbound = RaftInbound { message in continuation.yield(message) }
    logger.info(
      "raft node starting",
      metadata: [
        "node": "\(id)", "term": "\(core.term)", "lastIndex": "\(core.lastIndex)",
        "members": "\(core.membership.members.sorted())",
      ])
    self.inboxTask = Task { [weak self] in
      for await message in stream {
        guard let self else { return }
        await self.handle(message)
      }
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

  /// The membership in force on this node.
  public var membership: Membership { core.membership }

  // MARK: - Events

  /// The node's events as an async sequence. Each access starts a new subscription that sees the
  /// events from then on; it ends when the node shuts down. A subscriber that falls more than
  /// 65,536 events behind loses the oldest ones.
  public nonisolated var events: AsyncStream<RaftEvent> {
    broadcaster.subscribe()
  }

  /// Calls `handler` for every event of `kind` (every event when `kind` is nil), on the node's
  /// executor: keep it short. Returns a handle for ``unlisten(_:)``.
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
    inbox.yield(message)
  }

  /// Proposes a command and returns the state machine's output once it is committed and applied
  /// on this node (the seed's `propose`).
  ///
  /// On a follower the proposal is forwarded to the leader.
  /// - Throws: ``RaftError/noLeader(leaderHint:)`` at once when no leader is known;
  ///   ``RaftError/overloaded(uncommittedBytes:limit:)``; ``RaftError/proposalDropped(index:)``
  ///   when a new leader replaced the entry; ``RaftError/proposalTimedOut``;
  ///   ``RaftError/cancelled``; ``RaftError/shutdown``; or the failure that stopped the node.
  public func propose(_ command: Data) async throws -> StateMachine.Output {
    if let failure { throw failure }
    let requestID = makeRequestID()
    let deadline = nowMilliseconds + proposalTimeout.wholeMilliseconds
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        do {
          let ticket = try core.propose(command, requestID: requestID)
          register(ticket, requestID: requestID, waiter: .command(continuation, deadline: deadline))
          scheduleDrain()
        } catch {
          continuation.resume(throwing: error)
        }
      }
    } onCancel: {
      Task { await self.cancel(requestID) }
    }
  }

  /// Encodes `command` as JSON and proposes it (the seed's JSON-serializable commands).
  public func propose<Command: Encodable & Sendable>(json command: Command) async throws
    -> StateMachine.Output
  {
    try await propose(try JSONEncoder().encode(command))
  }

  /// Adds a voting member (the seed's `join(address)`); returns once the change is committed.
  ///
  /// - Parameter attributes: replicated with the membership for transports and services to read.
  public func join(_ member: NodeID, attributes: [String: String]? = nil) async throws {
    try await changeMembership(.addVoter(member, attributes: attributes))
  }

  /// Removes a member (the seed's `leave(address)`); returns once the change is committed. A
  /// leader that removes itself steps down after the change commits.
  public func leave(_ member: NodeID) async throws {
    try await changeMembership(.remove(member))
  }

  /// Makes a single-server membership change; returns once it is committed and applied here.
  public func changeMembership(_ change: MembershipChange) async throws {
    if let failure { throw failure }
    let requestID = makeRequestID()
    let deadline = nowMilliseconds + proposalTimeout.wholeMilliseconds
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
        do {
          let ticket = try core.proposeMembershipChange(change, requestID: requestID)
          register(ticket, requestID: requestID, waiter: .membership(continuation, deadline: deadline))
          scheduleDrain()
        } catch {
          continuation.resume(throwing: error)
        }
      }
    } onCancel: {
      Task { await self.cancel(requestID) }
    }
  }

  /// Starts an election now (for tests and operators); a no-op on a leader.
  public func campaign() {
    guard failure == nil else { return }
    core.campaign()
    scheduleDrain()
  }

  /// Stops the node: timers end, pending proposals fail with ``RaftError/shutdown``, peers are
  /// closed and event sequences finish. Waits for a storage write in progress to complete.
  public func shutdown() async {
    if failure == nil { failure = .shutdown }
    tickTask?.cancel()
    inbox.finish()
    inboxTask?.cancel()
    if let drainTask { await drainTask.value }
    failAll(failure ?? .shutdown)
    for peer in peers.values { peer.close() }
    peers.removeAll()
    broadcaster.finish()
    logger.info("raft node stopped", metadata: ["node": "\(id)"])
  }

  // MARK: - Driving the core

  private var nowMilliseconds: UInt64 {
    (clock.now - started).wholeMilliseconds
  }

  private func makeRequestID() -> UInt64 {
    nextRequestID &+= 1
    return nextRequestID
  }

  private func register(_ ticket: ProposalTicket, requestID: UInt64, waiter: Waiter) {
    waiters[requestID] = waiter
    if case .appended(let index, let term) = ticket {
      requestAtIndex[index] = (term, requestID)
    }
  }

  private func cancel(_ requestID: UInt64) {
    waiters.removeValue(forKey: requestID)?.fail(.cancelled)
  }

  private func handle(_ message: RaftMessage) {
    guard failure == nil else { return }
    core.tick(now: nowMilliseconds)
    core.step(message)
    scheduleDrain()
  }

  private func tick() {
    guard failure == nil else { return }
    let now = nowMilliseconds
    core.tick(now: now)
    if now >= lastExpiryScan + 50 {
      lastExpiryScan = now
      expireWaiters(now: now)
    }
    scheduleDrain()
  }

  private func expireWaiters(now: UInt64) {
    guard !waiters.isEmpty else { return }
    let expired = waiters.filter { $0.value.deadline <= now }
    for (requestID, waiter) in expired {
      waiters[requestID] = nil
      waiter.fail(.proposalTimedOut)
    }
  }

  private func scheduleDrain() {
    guard drainTask == nil, failure == nil, core.hasReady else { return }
    drainTask = Task { await self.drain() }
  }

  /// Carries out each `Ready` in turn: store, send, settle, publish, apply, advance.
  private func drain() async {
    defer { drainTask = nil }
    while failure == nil, let ready = core.ready() {
      if ready.hardState != nil || !ready.entries.isEmpty {
        do {
          try await storage.persist(hardState: ready.hardState, entries: ready.entries)
        } catch {
          halt(.storageFailed("\(error)"))
          return
        }
      }
      for message in ready.messages {
        peer(for: message.to).write(message)
      }
      for rejection in ready.rejectedProposals {
        waiters.removeValue(forKey: rejection.requestID)?.fail(rejection.error)
      }
      for event in ready.events {
        publish(event)
      }
      for entry in ready.committedEntries {
        guard await apply(entry) else { return }
      }
      core.advance()
    }
  }

  private func apply(_ entry: LogEntry) async -> Bool {
    switch entry.payload {
    case .command(let command):
      publish(.apply(entry))
      let output: StateMachine.Output
      do {
        output = try await stateMachine.apply(command, index: entry.index, term: entry.term)
      } catch {
        halt(.stateMachineFailed(index: entry.index, reason: "\(error)"))
        return false
      }
      lastApplied = entry.index
      settle(entry) { waiter in
        guard case .command(let continuation, _) = waiter else { return false }
        continuation.resume(returning: output)
        return true
      }
      publish(.updated(index: entry.index))
    case .noop, .membership:
      lastApplied = entry.index
      settle(entry) { waiter in
        guard case .membership(let continuation, _) = waiter else { return false }
        continuation.resume()
        return true
      }
    }
    return true
  }

  /// Resolves the proposal that `entry` carries out, or fails the one it replaced.
  private func settle(_ entry: LogEntry, succeed: (Waiter) -> Bool) {
    if let pending = requestAtIndex.removeValue(forKey: entry.index),
      let waiter = waiters.removeValue(forKey: pending.requestID)
    {
      if pending.term != entry.term || !succeed(waiter) {
        waiter.fail(.proposalDropped(index: entry.index))
      }
    }
    if let origin = entry.origin, origin.node == id,
      let waiter = waiters.removeValue(forKey: origin.requestID), !succeed(waiter)
    {
      waiter.fail(.proposalDropped(index: entry.index))
    }
  }

  private func peer(for member: NodeID) -> any RaftPeer {
    if let existing = peers[member] { return existing }
    let created = makePeer(member, inbound)
    peers[member] = created
    return created
  }

  private func publish(_ event: RaftEvent) {
    switch event {
    case .stateChanged(let from, let to):
      logger.info(
        "raft role changed",
        metadata: ["node": "\(id)", "from": "\(from)", "to": "\(to)", "term": "\(core.term)"])
    case .membershipChanged(let membership):
      logger.info(
        "raft membership changed",
        metadata: [
          "node": "\(id)", "voters": "\(membership.voters.sorted())",
          "learners": "\(membership.learners.sorted())",
        ])
      for (member, peer) in peers where !membership.contains(member) {
        peer.close()
        peers[member] = nil
      }
    default:
      break
    }
    broadcaster.publish(event)
  }

  private func halt(_ error: RaftError) {
    guard failure == nil else { return }
    failure = error
    logger.error("raft node halted", metadata: ["node": "\(id)", "error": "\(error)"])
    tickTask?.cancel()
    failAll(error)
  }

  private func failAll(_ error: RaftError) {
    let pending = waiters
    waiters.removeAll()
    requestAtIndex.removeAll()
    for waiter in pending.values { waiter.fail(error) }
  }
}
