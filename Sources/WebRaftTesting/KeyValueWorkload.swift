#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Simulated clients that read, put and compare-and-set keys of a ``SimulatedKeyValueStore``
/// replicated by a ``ClusterSimulator``, and record what they saw as a history for the
/// ``LinearizabilityChecker``.
///
/// Each client has at most one operation it waits for: it picks a key and an operation, sends it
/// to a node (any node, or one that believes it leads, stale or not), and records the simulated
/// time of the call and of the answer. A client that waits longer than ``operationTimeout`` gives
/// up and starts another operation; the abandoned one is still followed and recorded if it ends.
///
/// Outcomes are recorded the way a client would have to treat them:
///
/// - a put or compare-and-set is answered once its proposal succeeded: its response comes from
///   the session table of the proposing node's store;
/// - it is left out only when the system says for certain that it was not applied: the node
///   refused it at once, or the leader that appended it saw another entry applied at its index;
/// - otherwise (the node crashed, a forwarded proposal was refused, the client gave up) the client
///   never learns its outcome. The workload then watches the nodes' state machines: if the
///   command shows up applied, the operation is recorded with the response it got there and as
///   returned when it was first seen applied (its effect came no later); if it is still not
///   applied when the history is checked, it is recorded with an unknown outcome, returning at
///   `UInt64.max` (free to take effect at any time after its call, or never) — unless some node
///   has applied everything any node knows committed, in which case it certainly took no effect
///   in the history so far and is left out;
/// - a read has no effect, so a read without an answer is left out.
///
/// Reads follow ``readMode``: ReadIndex (``ClusterSimulator/read(on:)``), lease reads on a node
/// that believes it leads (``ClusterSimulator/leaseRead(on:)``, falling back to ReadIndex when
/// the lease does not hold), or the deliberately wrong local read, which answers from the node's
/// state machine at once and must be caught.
///
/// ```swift
/// let simulator = try ClusterSimulator(seed: 7, nodes: 3)
/// let workload = KeyValueWorkload(simulator: simulator, readMode: .readIndex)
/// try workload.run(for: 2000)
/// try workload.settle(for: 2000)
/// try workload.requireLinearizable()
/// ```
public final class KeyValueWorkload {
  /// How clients read.
  public enum ReadMode: String, Hashable, Sendable, CaseIterable {
    /// Linearizable reads through ReadIndex, on any node (followers ask the leader).
    case readIndex
    /// Lease reads on a node that believes it leads; ReadIndex when its lease does not hold.
    /// The simulator's nodes share one perfect clock, so this checks the lease logic without
    /// clock drift between nodes.
    case lease
    /// Wrong on purpose: the local state machine of a node that believes it leads, without
    /// confirming leadership or waiting for the commit index. A leader cut off by a partition, or
    /// one newly elected, answers stale values, so such histories are not linearizable in general.
    case localUnsafe
  }

  /// What the workload did, for reports and for checking that a run exercised something.
  public struct Counts: Hashable, Sendable, CustomStringConvertible {
    /// Operations started.
    public var started = 0
    /// Reads answered through ReadIndex.
    public var readIndexReads = 0
    /// Reads answered under a leader's lease.
    public var leaseReads = 0
    /// Reads answered from a local state machine without checking (``ReadMode/localUnsafe``).
    public var localReads = 0
    /// Reads that failed or were never answered (left out of the history).
    public var unansweredReads = 0
    /// Puts and compare-and-sets acknowledged.
    public var acknowledgedWrites = 0
    /// Acknowledged compare-and-sets that found the expected value.
    public var successfulCompareAndSets = 0
    /// Puts and compare-and-sets certainly not applied (left out of the history).
    public var refusedWrites = 0
    /// Puts and compare-and-sets whose client never learnt the outcome.
    public var unknownWrites = 0
    /// Of those, the ones later seen applied (and recorded with the response they got).
    public var unknownWritesSeenApplied = 0

    /// Creates counts of zero.
    public init() {}

    /// Adds the counts of another run.
    public mutating func add(_ other: Counts) {
      started += other.started
      readIndexReads += other.readIndexReads
      leaseReads += other.leaseReads
      localReads += other.localReads
      unansweredReads += other.unansweredReads
      acknowledgedWrites += other.acknowledgedWrites
      successfulCompareAndSets += other.successfulCompareAndSets
      refusedWrites += other.refusedWrites
      unknownWrites += other.unknownWrites
      unknownWritesSeenApplied += other.unknownWritesSeenApplied
    }

    /// A one-line summary.
    public var description: String {
      "\(started) operations: reads \(readIndexReads) ReadIndex, \(leaseReads) lease, \(localReads) local, "
        + "\(unansweredReads) unanswered; writes \(acknowledgedWrites) acknowledged "
        + "(\(successfulCompareAndSets) successful compare-and-sets), \(refusedWrites) refused, "
        + "\(unknownWrites) unknown to their client (\(unknownWritesSeenApplied) later seen applied)"
    }
  }

  /// The simulator the clients talk to; the scenario injects faults through it.
  public let simulator: ClusterSimulator
  /// How clients read.
  public let readMode: ReadMode
  /// The keys clients use; few keys make operations collide.
  public var keys: [String]
  /// How long a client waits for an answer before it gives up, in milliseconds.
  public var operationTimeout: UInt64 = 800
  /// How long a client pauses between operations, in milliseconds (at least 1).
  public var thinkTime: ClosedRange<UInt64> = 1...15
  /// The share of reads among the operations, in percent.
  public var readPercentage = 40
  /// The share of compare-and-sets among the operations, in percent (the rest are puts).
  public var compareAndSetPercentage = 30
  /// Whether clients start new operations (``settle(for:)`` turns this off).
  public var startsOperations = true
  /// What the workload did so far.
  public private(set) var counts = Counts()

  private var random: SplitMix64
  private var clients: [Client]
  private var pending: [Pending] = []
  private var history: [LinearizabilityChecker.Operation] = []
  private var nextOperationID: UInt64 = 1
  private var wakeRequested = false
  private var stores: [NodeID: CachedStore] = [:]
  /// The response to every command seen applied on some node, by operation identifier.
  private var appliedResponses: [UInt64: SimulatedKeyValueStore.Response] = [:]
  /// The number of operations under way whose client never learns the outcome.
  private var unknownPending = 0

  private struct Client {
    /// The operation the client waits for (its identifier), if any.
    var current: UInt64?
    /// When the client gives up on it.
    var deadline: UInt64 = 0
    /// When the client starts its next operation, while it waits for none.
    var nextStart: UInt64 = 0
    /// The last value the client saw or wrote for each key (the expected value of its next
    /// compare-and-set on that key).
    var lastSeen: [String: String] = [:]
  }

  private struct Pending {
    var operationID: UInt64
    var client: Int
    var key: String
    var call: UInt64
    var kind: Kind

    enum Kind {
      case proposal(SimulatedProposal.ID, SimulatedKeyValueStore.Command.Action)
      case read(SimulatedRead.ID)
      case leaseRead(node: NodeID, index: UInt64)
      /// A put or compare-and-set whose client will never learn the outcome.
      case unknownWrite(SimulatedKeyValueStore.Command.Action)
    }
  }

  private struct CachedStore {
    var count: Int
    var lastTerm: UInt64
    var store: SimulatedKeyValueStore
  }

  /// Creates `clients` clients of the cluster `simulator` simulates, using `keys`.
  ///
  /// Their random choices follow the simulator's seed.
  public init(
    simulator: ClusterSimulator, clients: Int = 4, keys: [String] = ["x", "y"], readMode: ReadMode
  ) {
    precondition(clients > 0 && !keys.isEmpty, "a workload needs clients and keys")
    self.simulator = simulator
    self.readMode = readMode
    self.keys = keys
    self.random = SplitMix64(seed: ClusterSimulator.derive(simulator.seed, 77))
    self.clients = Array(repeating: Client(), count: clients)
  }

  // MARK: - Running

  /// Runs the simulation for `duration` milliseconds while the clients work.
  ///
  /// - Throws: ``SimulationFailure`` at the first invariant violation the simulator finds.
  public func run(for duration: UInt64) throws(SimulationFailure) {
    let end = simulator.now + duration
    while true {
      poll()
      try startDueOperations()
      guard simulator.now < end else { return }
      var wake = end
      for client in clients {
        if client.current != nil {
          wake = min(wake, client.deadline)
        } else if startsOperations {
          wake = min(wake, client.nextStart)
        }
      }
      wake = max(wake, simulator.now + 1)
      wakeRequested = false
      try simulator.run(for: wake - simulator.now) { _ in
        self.poll()
        return self.wakeRequested
      }
    }
  }

  /// Stops starting operations and runs for `duration` milliseconds, so that the operations
  /// under way can end.
  ///
  /// - Throws: ``SimulationFailure`` at the first invariant violation the simulator finds.
  public func settle(for duration: UInt64) throws(SimulationFailure) {
    startsOperations = false
    try run(for: duration)
  }

  /// The history so far: every answered operation, and every put or compare-and-set whose outcome
  /// is not known (see the type's description for those left out).
  public var operations: [LinearizabilityChecker.Operation] {
    refreshStores()
    let everythingCommittedIsApplied = simulator.nodeIDs.contains { id in
      simulator.isUp(id)
        && UInt64(simulator.appliedEntries(of: id).count) >= simulator.checker.highestCommitted
    }
    var result = history
    for operation in pending {
      let action: SimulatedKeyValueStore.Command.Action
      switch operation.kind {
      case .proposal(_, let proposed), .unknownWrite(let proposed): action = proposed
      case .read, .leaseRead: continue
      }
      if everythingCommittedIsApplied, appliedResponses[operation.operationID] == nil { continue }
      result.append(unknown(operation, action: action))
    }
    return result
  }

  /// The number of commands the cluster applied twice, found in the stores of the running nodes
  /// (a store ignores the second copy).
  public var duplicatesApplied: Int {
    simulator.nodeIDs.compactMap { store(of: $0)?.duplicates }.max() ?? 0
  }

  /// Checks ``operations`` with `checker`.
  public func check(with checker: LinearizabilityChecker = LinearizabilityChecker())
    -> LinearizabilityChecker.Verdict
  {
    checker.check(operations)
  }

  /// Throws unless ``operations`` is linearizable.
  ///
  /// - Throws: ``SimulationFailure`` naming the seed, the key and its operations in call order
  ///   (or that the checker gave up).
  public func requireLinearizable(with checker: LinearizabilityChecker = LinearizabilityChecker())
    throws(SimulationFailure)
  {
    switch check(with: checker) {
    case .linearizable:
      return
    case .undecided(let key):
      throw simulator.failure(
        "the linearizability checker gave up on key \(key) (\(readMode) reads; \(counts))")
    case .violation(let key, let operations):
      throw simulator.failure(
        "the history of key \(key) is not linearizable (\(readMode) reads; \(counts)):\n"
          + operations.map(\.description).joined(separator: "\n"))
    }
  }

  // MARK: - Starting operations

  /// Makes clients give up on operations past their deadline, and start new ones when they are
  /// due (unless ``startsOperations`` is off).
  private func startDueOperations() throws(SimulationFailure) {
    let now = simulator.now
    for position in clients.indices {
      if clients[position].current != nil {
        // Give up after the timeout; the operation is still followed.
        guard clients[position].deadline <= now else { continue }
        clients[position].current = nil
        clients[position].nextStart = now
      }
      guard startsOperations, clients[position].nextStart <= now else { continue }
      try start(client: position)
    }
  }

  private func start(client position: Int) throws(SimulationFailure) {
    let now = simulator.now
    let operationID = nextOperationID
    nextOperationID += 1
    counts.started += 1
    let key = keys[Int.random(in: 0..<keys.count, using: &random)]
    let target = chooseNode()
    let roll = Int.random(in: 0..<100, using: &random)
    var kind: Pending.Kind?
    if roll < readPercentage {
      kind = try startRead(client: position, key: key, on: target)
    } else {
      let value = "c\(position).\(operationID)"
      let action: SimulatedKeyValueStore.Command.Action
      if roll < readPercentage + compareAndSetPercentage {
        // Mostly the value this client last saw, sometimes absent, so that some succeed.
        let expected =
          Int.random(in: 0..<4, using: &random) == 0 ? nil : clients[position].lastSeen[key]
        action = .compareAndSet(expected: expected, new: value)
      } else {
        action = .put(value)
      }
      let command = SimulatedKeyValueStore.Command(operationID: operationID, key: key, action: action)
      let proposal = try simulator.propose(command.encoded, on: target)
      kind = .proposal(proposal, action)
    }
    if let kind {
      clients[position].current = operationID
      clients[position].deadline = now + operationTimeout
      pending.append(Pending(operationID: operationID, client: position, key: key, call: now, kind: kind))
    } else {
      clients[position].nextStart = now + pause()
    }
    // The operation may have ended at once (a refusal, a single-node cluster).
    poll()
  }

  /// Starts a read; returns what to follow, or nil when it was answered or refused at once.
  private func startRead(client: Int, key: String, on target: NodeID) throws(SimulationFailure)
    -> Pending.Kind?
  {
    switch readMode {
    case .readIndex:
      return .read(try simulator.read(on: target))
    case .lease:
      // Ask a node that believes it leads, stale or not: only a leader has a lease.
      let leaders = simulator.leaders()
      let node = leaders.isEmpty ? target : leaders[Int.random(in: 0..<leaders.count, using: &random)]
      if let index = try simulator.leaseRead(on: node) {
        return .leaseRead(node: node, index: index)
      }
      return .read(try simulator.read(on: node))
    case .localUnsafe:
      // The classic mistake: a node that believes it leads answers from its state machine without
      // checking that it still leads, or that it has applied what its predecessors committed.
      let leaders = simulator.leaders()
      guard !leaders.isEmpty,
        let store = store(of: leaders[Int.random(in: 0..<leaders.count, using: &random)])
      else {
        counts.unansweredReads += 1
        return nil
      }
      let now = simulator.now
      record(client: client, key: key, call: now, returned: now, kind: .read(observed: store[key]))
      counts.localReads += 1
      if let value = store[key] { clients[client].lastSeen[key] = value }
      return nil
    }
  }

  /// Any running node, or half the time one that believes it leads (perhaps a stale leader).
  private func chooseNode() -> NodeID {
    let leaders = simulator.leaders()
    if !leaders.isEmpty, Bool.random(using: &random) {
      return leaders[Int.random(in: 0..<leaders.count, using: &random)]
    }
    return simulator.nodeIDs[Int.random(in: 0..<simulator.nodeIDs.count, using: &random)]
  }

  private func pause() -> UInt64 {
    max(1, UInt64.random(in: thinkTime, using: &random))
  }

  // MARK: - Following operations

  /// Looks at every operation under way and records those that ended.
  private func poll() {
    guard !pending.isEmpty else { return }
    if unknownPending > 0 { refreshStores() }
    var stillPending: [Pending] = []
    for operation in pending {
      if let next = follow(operation) { stillPending.append(next) }
    }
    pending = stillPending
  }

  /// Records `operation` if it ended; returns it, perhaps changed, while it goes on.
  private func follow(_ operation: Pending) -> Pending? {
    switch operation.kind {
    case .proposal(let id, let action):
      return followProposal(operation, id: id, action: action)
    case .read(let id):
      return followRead(operation, id: id) ? nil : operation
    case .leaseRead(let node, let index):
      guard let store = store(of: node), store.appliedIndex >= index else { return operation }
      counts.leaseReads += 1
      answer(operation, kind: .read(observed: store[operation.key]))
      return nil
    case .unknownWrite(let action):
      guard let response = appliedResponses[operation.operationID] else { return operation }
      unknownPending -= 1
      counts.unknownWritesSeenApplied += 1
      answer(operation, action: action, response: response)
      return nil
    }
  }

  /// Follows a proposal: records it when it ended, turns it into an unknown write when its client
  /// will never learn the outcome.
  private func followProposal(
    _ operation: Pending, id: SimulatedProposal.ID, action: SimulatedKeyValueStore.Command.Action
  ) -> Pending? {
    let proposal = simulator.proposal(id)
    switch proposal.status {
    case .pending:
      // A client that gave up never learns the outcome.
      return clients[operation.client].current == operation.operationID ? operation : becomeUnknown(operation)
    case .succeeded:
      guard let response = store(of: proposal.node)?.responses[operation.operationID] else {
        // The node went down before its store could be read: the client never heard.
        return becomeUnknown(operation)
      }
      counts.acknowledgedWrites += 1
      answer(operation, action: action, response: response)
      return nil
    case .dropped:
      // Another entry took the proposal's index in the leader's own log: never applied.
      counts.refusedWrites += 1
      finish(operation)
      return nil
    case .failed:
      guard proposal.ticket != nil else {
        // Refused at once by the node: never appended.
        counts.refusedWrites += 1
        finish(operation)
        return nil
      }
      // A forwarded proposal that the leader refused; a duplicate of the message might still have
      // been appended.
      return becomeUnknown(operation)
    case .interrupted:
      return becomeUnknown(operation)
    }
  }

  /// The operation as a write whose client never learns the outcome; frees the client.
  private func becomeUnknown(_ operation: Pending) -> Pending {
    guard case .proposal(_, let action) = operation.kind else { return operation }
    var unknown = operation
    unknown.kind = .unknownWrite(action)
    counts.unknownWrites += 1
    unknownPending += 1
    finish(operation)
    return unknown
  }

  /// Records a ReadIndex read that ended; returns whether it did.
  private func followRead(_ operation: Pending, id: SimulatedRead.ID) -> Bool {
    let read = simulator.read(id)
    switch read.status {
    case .pending, .indexKnown:
      return false
    case .served:
      guard let store = store(of: read.node) else {
        counts.unansweredReads += 1
        finish(operation)
        return true
      }
      counts.readIndexReads += 1
      answer(operation, kind: .read(observed: store[operation.key]))
      if let value = store[operation.key] { clients[operation.client].lastSeen[operation.key] = value }
      return true
    case .failed, .interrupted:
      counts.unansweredReads += 1
      finish(operation)
      return true
    }
  }

  /// Records a put or compare-and-set that ended now with `response`.
  private func answer(
    _ operation: Pending, action: SimulatedKeyValueStore.Command.Action,
    response: SimulatedKeyValueStore.Response
  ) {
    switch (action, response) {
    case (.put(let value), _):
      clients[operation.client].lastSeen[operation.key] = value
      answer(operation, kind: .write(value))
    case (.compareAndSet(let expected, let new), .compared(let succeeded)):
      if succeeded {
        counts.successfulCompareAndSets += 1
        clients[operation.client].lastSeen[operation.key] = new
      }
      answer(operation, kind: .compareAndSet(from: expected, to: new, succeeded: succeeded))
    case (.compareAndSet, .written):
      preconditionFailure("operation \(operation.operationID) was answered as a put")
    }
  }

  /// Records an operation that ended now with `kind`.
  private func answer(_ operation: Pending, kind: LinearizabilityChecker.Operation.Kind) {
    record(
      client: operation.client, key: operation.key, call: operation.call, returned: simulator.now, kind: kind)
    finish(operation)
  }

  private func unknown(_ operation: Pending, action: SimulatedKeyValueStore.Command.Action)
    -> LinearizabilityChecker.Operation
  {
    let kind: LinearizabilityChecker.Operation.Kind
    switch action {
    case .put(let value):
      kind = .write(value)
    case .compareAndSet(let expected, let new):
      kind = .compareAndSet(from: expected, to: new, succeeded: nil)
    }
    return LinearizabilityChecker.Operation(
      client: operation.client, key: operation.key, call: operation.call, returned: .max, kind: kind)
  }

  private func record(
    client: Int, key: String, call: UInt64, returned: UInt64, kind: LinearizabilityChecker.Operation.Kind
  ) {
    history.append(
      LinearizabilityChecker.Operation(client: client, key: key, call: call, returned: returned, kind: kind))
  }

  /// Frees the client of `operation` if it still waits for it.
  private func finish(_ operation: Pending) {
    let client = operation.client
    guard clients[client].current == operation.operationID else { return }
    clients[client].current = nil
    clients[client].nextStart = simulator.now + pause()
    wakeRequested = true
  }

  // MARK: - Stores

  /// Brings every running node's store up to date, noting the responses of newly applied commands.
  private func refreshStores() {
    for id in simulator.nodeIDs { _ = store(of: id) }
  }

  /// The store of running node `id`, built from the entries it applied (incrementally when its
  /// state machine only grew since the last look).
  private func store(of id: NodeID) -> SimulatedKeyValueStore? {
    guard simulator.isUp(id) else { return nil }
    let entries = simulator.appliedEntries(of: id)
    if var cached = stores[id], cached.count <= entries.count,
      cached.count == 0 || entries[cached.count - 1].term == cached.lastTerm
    {
      if cached.count < entries.count {
        for entry in entries[cached.count...] {
          cached.store.apply(entry)
          noteResponse(to: entry, in: cached.store)
        }
        cached.count = entries.count
        cached.lastTerm = entries.last?.term ?? 0
        stores[id] = cached
      }
      return cached.store
    }
    let store = SimulatedKeyValueStore(replaying: entries)
    for entry in entries { noteResponse(to: entry, in: store) }
    stores[id] = CachedStore(count: entries.count, lastTerm: entries.last?.term ?? 0, store: store)
    return store
  }

  private func noteResponse(to entry: LogEntry, in store: SimulatedKeyValueStore) {
    guard case .command(let data) = entry.payload,
      let command = SimulatedKeyValueStore.Command(decoding: data),
      appliedResponses[command.operationID] == nil
    else { return }
    appliedResponses[command.operationID] = store.responses[command.operationID]
  }
}
