#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A whole Raft cluster in one process, driven by simulated time: deterministic, seeded, with
/// fault injection and an ``InvariantChecker`` that runs after every step.
///
/// Each of the 1–9 nodes (`n1`, `n2`, …) is a ``RaftCore`` driven exactly as the ``Ready``
/// contract asks: a Ready's hard state and entries go to the node's ``SimulatedStorage`` and become
/// durable after a simulated disk delay (``diskDelay``); only then are its messages handed to the
/// ``SimulatedNetwork`` (but for a leader's early appends, ``Ready/earlyMessageCount``, which go
/// out when the write starts) and its committed entries applied to a simulated state machine (a list of
/// applied entries per node), and the core is told with ``RaftCore/advance()``. Ticks, messages and
/// proposals keep arriving while a write is under way, as they would on a real node.
///
/// With ``snapshotInterval`` set, nodes snapshot their state machines and compact their logs, and
/// leaders bring lagging followers up to date with InstallSnapshot, chunk by chunk (set
/// `snapshotChunkSize` in the configuration to split snapshots). Linearizable reads
/// (``read(on:)``, ``leaseRead(on:)``) and leadership transfers
/// (``transferLeadership(on:to:)``) can be mixed in.
///
/// Time only moves inside ``run(for:)`` and friends, which pop events from a queue ordered by
/// (time, sequence number). Every random choice comes from generators seeded by ``seed``, so the
/// same seed and the same scenario give the same run, and the same ``traceHash``. A violation
/// throws a ``SimulationFailure`` that names the seed; replay it with
/// `ClusterSimulator(seed:nodes:configuration:)` and the same scenario.
///
/// ```swift
/// let simulator = try ClusterSimulator(seed: 42, nodes: 3)
/// let leader = try simulator.awaitLeader()
/// simulator.disconnect(leader)
/// let index = try simulator.agree(Data("x".utf8), expectedNodes: 2)
/// ```
public final class ClusterSimulator {
  /// The seed every random choice follows.
  public let seed: UInt64
  /// The nodes, `n1` to `nN`.
  public let nodeIDs: [NodeID]
  /// The configuration of every node.
  public let configuration: RaftConfiguration
  /// The network: set loss, delays and duplicates, cut links, isolate and partition nodes.
  public var network: SimulatedNetwork
  /// The time a storage write takes to become durable, in milliseconds.
  public var diskDelay: ClosedRange<UInt64> = 0...2
  /// Whether a leader's early appends (``Ready/earlyMessageCount``) go out when its write starts,
  /// as ``RaftNode`` sends them, rather than once it is durable. Scripted scenarios that must cut a
  /// new leader off before its first append reaches anyone turn it off.
  public var sendsEarlyMessages = true
  /// A generator for a scenario's own random choices, seeded from ``seed``.
  public var random: SplitMix64
  /// How many recent steps to keep as text for failure reports (0: none, the fastest).
  public var recentTraceCapacity: Int
  /// Every how many steps the invariant checker also checks every log in full.
  public var fullCheckInterval = 500
  /// The current simulated time, in milliseconds.
  public private(set) var now: UInt64 = 0
  /// The running hash of every step so far.
  public private(set) var trace = TraceHash()
  /// The number of events processed so far.
  public private(set) var stepCount = 0
  /// The invariant checker, as it stands.
  public private(set) var checker: InvariantChecker
  /// Every proposal made, in order (see ``propose(_:on:)``).
  public private(set) var proposals: [SimulatedProposal] = []
  /// The identifiers of the acknowledged proposals, in the order they were acknowledged.
  public private(set) var acknowledgedProposals: [SimulatedProposal.ID] = []
  /// The number of messages the nodes handed to the network.
  public private(set) var messagesSent = 0
  /// When set, a node snapshots its state machine and compacts its log once it has applied this
  /// many entries since its last snapshot.
  public var snapshotInterval: UInt64?
  /// The filler bytes in each simulated snapshot, so that a small `snapshotChunkSize` splits it.
  public var snapshotFillerBytes = 64
  /// Every read asked with ``read(on:)``, in order.
  public private(set) var reads: [SimulatedRead] = []
  /// The number of snapshots the nodes took of their own state machines.
  public private(set) var snapshotsTaken = 0
  /// The number of snapshots followers installed from their leader (InstallSnapshot).
  public private(set) var snapshotsInstalled = 0
  /// Called with every change to a node's durable storage, in the order the changes happen: the
  /// node, the change, and the node's storage after it. A test can replay the writes into a real
  /// storage and check that it recovers what the simulator keeps after a crash.
  public var storageObserver: ((NodeID, SimulatedStorageEvent, SimulatedStorage) -> Void)?

  var nodes: [SimulatedNode] = []
  private let positions: [NodeID: Int]
  private var queue = EventQueue<SimulationEvent>()
  private var diskRandom: SplitMix64
  private var waitingForwarded: [ProposalOrigin: Int] = [:]
  private var waitingReads: [UInt64: Int] = [:]
  /// The contents of every snapshot taken, by the identifier its bytes carry.
  private var snapshotContents: [UInt64: [LogEntry]] = [:]
  private var nextSnapshotID: UInt64 = 1
  private static let readRequestBase: UInt64 = 1 << 48
  private var messageCounts: [MessageCountKey: Int] = [:]
  private var recentLines: [String] = []
  /// Steps taken at the current time; too many means nodes answer each other forever at once.
  private var stepsAtThisTime = 0
  private static let livelockLimit = 100_000
  private var recentStart = 0

  private struct MessageCountKey: Hashable {
    var from: Int
    var to: Int
    var kind: String
  }

  /// Creates a cluster of `nodes` voters (1 to 9) that have never run, and starts them at time 0.
  ///
  /// - Parameters:
  ///   - seed: fixes every random choice of the run.
  ///   - nodes: the number of nodes, 1 to 9.
  ///   - configuration: the configuration of every node.
  /// - Throws: ``SimulationFailure`` when the configuration is invalid.
  public init(seed: UInt64, nodes count: Int, configuration: RaftConfiguration = RaftConfiguration())
    throws(SimulationFailure)
  {
    precondition((1...9).contains(count), "a simulated cluster has 1 to 9 nodes, not \(count)")
    self.seed = seed
    self.configuration = configuration
    let ids = (1...count).map { NodeID("n\($0)") }
    self.nodeIDs = ids
    var map: [NodeID: Int] = [:]
    for (position, id) in ids.enumerated() { map[id] = position }
    self.positions = map
    self.network = SimulatedNetwork(seed: Self.derive(seed, 1))
    self.random = SplitMix64(seed: Self.derive(seed, 2))
    self.diskRandom = SplitMix64(seed: Self.derive(seed, 3))
    self.checker = InvariantChecker(seed: seed, nodes: ids)
    self.recentTraceCapacity = SimulationEnvironment.traceCapacity
    let membership = Membership(voters: Set(ids))
    nodes = ids.enumerated().map { SimulatedNode(id: $1, position: $0, membership: membership) }
    trace.combine(seed)
    trace.combine(UInt64(count))
    for node in nodes {
      try start(node)
    }
  }

  /// A seed for one purpose of one run, mixed from the run's seed and a salt.
  static func derive(_ seed: UInt64, _ salt: UInt64) -> UInt64 {
    var generator = SplitMix64(seed: seed ^ (salt &* 0xD1B5_4A32_D192_ED03))
    return generator.next()
  }

  // MARK: - Reading the cluster

  private func node(_ id: NodeID) -> SimulatedNode {
    guard let position = positions[id] else {
      preconditionFailure("\(id) is not a node of this simulated cluster")
    }
    return nodes[position]
  }

  /// Whether `id` is running (not crashed).
  public func isUp(_ id: NodeID) -> Bool { node(id).isUp }

  /// Whether `id` is running and not isolated by ``disconnect(_:)``.
  public func isConnected(_ id: NodeID) -> Bool {
    node(id).isUp && !network.isolated.contains(id)
  }

  /// A copy of the core of `id`, nil while it is down.
  public func core(of id: NodeID) -> RaftCore? { node(id).core }

  /// The status of `id`, nil while it is down.
  public func status(of id: NodeID) -> RaftStatus? { node(id).core?.status }

  /// What the state machine of `id` holds: the entries from index 1 to the last one applied
  /// (restored from a snapshot or applied), in order. Empty while the node is down.
  public func appliedEntries(of id: NodeID) -> [LogEntry] { node(id).stateMachine }

  /// The commands the state machine of `id` holds, in order.
  public func appliedCommands(of id: NodeID) -> [Data] {
    node(id).stateMachine.compactMap { entry in
      if case .command(let data) = entry.payload { return data }
      return nil
    }
  }

  /// What `id` would read back from storage if it restarted now.
  public func durableState(of id: NodeID) -> PersistentState { node(id).storage.state }

  /// The running nodes that believe they lead, in node order.
  public func leaders() -> [NodeID] {
    nodes.filter { $0.core?.role == .leader }.map(\.id)
  }

  /// The leader of the highest term among the running nodes (only connected ones when
  /// `connectedOnly`), or nil when none leads.
  public func currentLeader(connectedOnly: Bool = false) -> NodeID? {
    var best: (id: NodeID, term: UInt64)?
    for node in nodes {
      guard let core = node.core, core.role == .leader else { continue }
      if connectedOnly, network.isolated.contains(node.id) { continue }
      if best == nil || core.term > best!.term { best = (node.id, core.term) }
    }
    return best?.id
  }

  /// The proposal with identifier `id`.
  public func proposal(_ id: SimulatedProposal.ID) -> SimulatedProposal { proposals[id.rawValue] }

  /// The read with identifier `id`.
  public func read(_ id: SimulatedRead.ID) -> SimulatedRead { reads[id.rawValue] }

  /// The number of messages of `kind` (a ``RaftMessage/kindName``, or nil for all kinds) sent from
  /// `from` to `to` so far.
  public func messageCount(from: NodeID, to: NodeID, kind: String? = nil) -> Int {
    guard let fromPosition = positions[from], let toPosition = positions[to] else { return 0 }
    if let kind {
      return messageCounts[MessageCountKey(from: fromPosition, to: toPosition, kind: kind)] ?? 0
    }
    var total = 0
    for (key, count) in messageCounts where key.from == fromPosition && key.to == toPosition {
      total += count
    }
    return total
  }

  /// The trace hash as a number: same seed and scenario, same value.
  public var traceHash: UInt64 { trace.value }

  // MARK: - Running

  /// Runs the simulation for `duration` milliseconds of simulated time.
  ///
  /// - Throws: ``SimulationFailure`` at the first invariant violation.
  public func run(for duration: UInt64) throws(SimulationFailure) {
    let end = now + duration
    while let next = queue.nextTime, next <= end {
      try step()
    }
    now = end
  }

  /// Runs the simulation until `condition` holds (checked after every step) or `duration`
  /// milliseconds have passed; returns whether the condition holds.
  ///
  /// - Throws: ``SimulationFailure`` at the first invariant violation.
  @discardableResult
  public func run(
    for duration: UInt64, until condition: (ClusterSimulator) -> Bool
  ) throws(SimulationFailure) -> Bool {
    if condition(self) { return true }
    let end = now + duration
    while let next = queue.nextTime, next <= end {
      try step()
      if condition(self) { return true }
    }
    now = end
    return condition(self)
  }

  /// Processes the next event, if any; returns whether there was one.
  ///
  /// - Throws: ``SimulationFailure`` when the step violates an invariant.
  @discardableResult
  public func step() throws(SimulationFailure) -> Bool {
    guard let item = queue.pop() else { return false }
    if item.time > now {
      now = item.time
      stepsAtThisTime = 0
    }
    checker.time = now
    stepCount += 1
    stepsAtThisTime += 1
    if stepsAtThisTime > Self.livelockLimit {
      throw failure(
        "livelock: more than \(Self.livelockLimit) steps without simulated time moving on")
    }
    do throws(SimulationFailure) {
      switch item.payload {
      case .deliver(let message, let incarnation):
        try deliver(message, incarnation: incarnation)
      case .tick(let position, let generation):
        let node = nodes[position]
        guard node.isUp, node.tickGeneration == generation else { return true }
        node.scheduledTick = nil
        note(1, node.position, "tick \(node.id)")
        node.core!.tick(now: now)
        try afterInput(node)
      case .writeDone(let position, let token):
        let node = nodes[position]
        guard node.isUp, node.writeToken == token, let ready = node.pendingReady else { return true }
        node.pendingReady = nil
        try complete(ready, on: node, earlySent: node.earlySent)
        try afterInput(node)
      }
      try checkLeaders()
      if fullCheckInterval > 0, stepCount % fullCheckInterval == 0 {
        try checkEverything()
      }
    } catch {
      throw withRecentTrace(error)
    }
    return true
  }

  /// Checks every running node's whole log now (the simulator also does it every
  /// ``fullCheckInterval`` steps).
  ///
  /// - Throws: ``SimulationFailure`` on a violation.
  public func checkEverything() throws(SimulationFailure) {
    for node in nodes where node.isUp {
      try checker.observe(node.core!)
      try checker.checkFully(node.core!)
    }
    try checkLeaders()
  }

  private func checkLeaders() throws(SimulationFailure) {
    for node in nodes where node.core?.role == .leader {
      try checker.checkLeaderCompleteness(node.core!)
    }
  }

  private func deliver(_ message: RaftMessage, incarnation: UInt64) throws(SimulationFailure) {
    guard let position = positions[message.to] else { return }
    let node = nodes[position]
    guard node.isUp, node.incarnation == incarnation,
      network.canDeliver(from: message.from, to: message.to)
    else {
      note(2, position, "lost \(self.describe(message))")
      return
    }
    noteMessage(3, message)
    node.core!.tick(now: now)
    node.core!.step(message)
    try afterInput(node)
  }

  /// Hands out the node's Ready objects, completes those with nothing to store, and schedules
  /// the durable write of the first one that has; then reschedules its timer and checks it.
  private func afterInput(_ node: SimulatedNode) throws(SimulationFailure) {
    try pump(node)
    guard let core = node.core else { return }
    scheduleTick(node)
    try checker.observe(core)
  }

  private func pump(_ node: SimulatedNode) throws(SimulationFailure) {
    while node.isUp, node.pendingReady == nil, let ready = node.core!.ready() {
      if ready.hardState == nil, ready.entries.isEmpty, ready.snapshotChunks.isEmpty {
        try complete(ready, on: node, earlySent: 0)
      } else {
        // A leader's appends go out while it writes (dissertation §10.2.1).
        let early = sendsEarlyMessages ? ready.earlyMessageCount : 0
        for message in ready.messages.prefix(early) {
          try send(message)
        }
        node.pendingReady = ready
        node.earlySent = early
        node.writeToken += 1
        let delay = UInt64.random(in: diskDelay, using: &diskRandom)
        queue.push(at: now + delay, .writeDone(node: node.position, token: node.writeToken))
        note(4, node.position, "\(node.id) writes \(ready.entries.count) entries, durable in \(delay) ms")
        trace.combine(delay)
      }
    }
  }

  /// Carries out a Ready whose write is durable: store, write snapshot chunks, send, settle,
  /// apply, advance; then takes a snapshot when one is due.
  private func complete(_ ready: Ready, on node: SimulatedNode, earlySent: Int) throws(SimulationFailure) {
    // Record what the node knows committed before it applies anything.
    try checker.observe(node.core!)
    if ready.hardState != nil || !ready.entries.isEmpty {
      if let problem = node.storage.write(hardState: ready.hardState, entries: ready.entries) {
        throw failure("\(node.id) broke the storage contract: \(problem)")
      }
      storageObserver?(node.id, .persisted(hardState: ready.hardState, entries: ready.entries), node.storage)
      if let first = ready.entries.first {
        let previousTerm =
          first.index - 1 == node.storage.state.snapshot.index
          ? node.storage.state.snapshot.term
          : node.storage.state.entries[Int(first.index - node.storage.state.snapshot.index) - 2].term
        try checker.stored(ready.entries, after: previousTerm, on: node.id)
      }
      if let hardState = ready.hardState {
        try checker.stored(hardState, on: node.id)
        trace.combine(hardState.term)
        trace.combine(hardState.commitIndex)
      }
      note(
        5, node.position,
        "\(node.id) stored \(ready.hardState.map { "\($0)" } ?? "") \(ready.entries.count) entries")
      trace.combine(UInt64(ready.entries.count))
    }
    for chunk in ready.snapshotChunks {
      try receive(chunk, on: node)
    }
    for message in ready.messages.dropFirst(earlySent) {
      try send(message)
    }
    for rejection in ready.rejectedProposals {
      let position = Int(rejection.requestID) - 1
      if proposals.indices.contains(position), proposals[position].status == .pending {
        proposals[position].status = .failed(rejection.error)
      }
    }
    for state in ready.readStates {
      try settle(state, on: node)
    }
    for request in ready.snapshotChunkRequests {
      sendChunk(request, from: node)
    }
    for entry in ready.committedEntries where entry.index > UInt64(node.stateMachine.count) {
      try apply(entry, on: node)
    }
    node.core!.advance()
    serveReads(on: node)
    try takeSnapshotIfDue(on: node)
  }

  private func send(_ message: RaftMessage) throws(SimulationFailure) {
    try checker.sent(message)
    messagesSent += 1
    guard let from = positions[message.from], let to = positions[message.to] else { return }
    messageCounts[MessageCountKey(from: from, to: to, kind: message.kindName), default: 0] += 1
    let recipient = nodes[to]
    let delays = network.delays(from: message.from, to: message.to)
    for delay in delays {
      queue.push(at: now + delay, .deliver(message, incarnation: recipient.incarnation))
    }
    noteMessage(6, message)
    trace.combine(UInt64(delays.count))
  }

  private func apply(_ entry: LogEntry, on node: SimulatedNode) throws(SimulationFailure) {
    try checker.applied(entry, on: node.id)
    node.stateMachine.append(entry)
    trace.combine(7)
    trace.combine(entry.index)
    trace.combine(entry.term)
    settleProposals(at: entry, on: node)
  }

  /// Settles the proposals made on `node` that `entry`, now in its state machine, decides.
  private func settleProposals(at entry: LogEntry, on node: SimulatedNode) {
    if let waiting = node.waitingAppended.removeValue(forKey: entry.index) {
      for position in waiting {
        guard case .appended(_, let term)? = proposals[position].ticket else { continue }
        if entry.term == term {
          acknowledge(position, index: entry.index, term: term, on: node)
        } else if proposals[position].status == .pending {
          proposals[position].status = .dropped(index: entry.index)
        }
      }
    }
    if let origin = entry.origin, origin.node == node.id,
      let position = waitingForwarded.removeValue(forKey: origin)
    {
      acknowledge(position, index: entry.index, term: entry.term, on: node)
    }
  }

  private func acknowledge(_ position: Int, index: UInt64, term: UInt64, on node: SimulatedNode) {
    guard !proposals[position].isAcknowledged else { return }
    proposals[position].status = .succeeded(index: index, term: term)
    acknowledgedProposals.append(proposals[position].id)
    checker.acknowledged(index: index, term: term, nodeTerm: node.core!.term)
  }

  private func scheduleTick(_ node: SimulatedNode) {
    guard let core = node.core else { return }
    // Every deadline at or before `now` has fired: a later one is the next tick.
    let deadline = core.nextDeadline > now ? core.nextDeadline : now + 1
    if node.scheduledTick == deadline { return }
    node.tickGeneration += 1
    node.scheduledTick = deadline
    queue.push(at: deadline, .tick(node: node.position, generation: node.tickGeneration))
  }

  // MARK: - Faults

  /// Crashes `id`: its volatile state and unsynced write are lost, messages in flight to it are
  /// dropped, its state machine is gone. Does nothing if it is down already.
  ///
  /// - Throws: ``SimulationFailure`` if the checker objects.
  public func crash(_ id: NodeID) throws(SimulationFailure) {
    let node = node(id)
    guard node.isUp else { return }
    storageObserver?(
      id,
      .crashed(lostHardState: node.pendingReady?.hardState, lostEntries: node.pendingReady?.entries ?? []),
      node.storage)
    node.core = nil
    node.pendingReady = nil
    node.writeToken += 1
    node.tickGeneration += 1
    node.scheduledTick = nil
    node.stateMachine = []
    node.incomingSnapshot = nil
    node.readsAwaitingApply = []
    node.incarnation += 1
    // The node's clients lose track of what they proposed and read there.
    for (requestID, position) in waitingReads where reads[position].node == id {
      reads[position].status = .interrupted
      waitingReads[requestID] = nil
    }
    for position in reads.indices where reads[position].node == id {
      if case .indexKnown = reads[position].status { reads[position].status = .interrupted }
    }
    for (_, waiting) in node.waitingAppended {
      for position in waiting where proposals[position].status == .pending {
        proposals[position].status = .interrupted
      }
    }
    node.waitingAppended = [:]
    for (origin, position) in waitingForwarded where origin.node == id {
      if proposals[position].status == .pending { proposals[position].status = .interrupted }
      waitingForwarded[origin] = nil
    }
    note(8, node.position, "crash \(id)")
    try checker.nodeCrashed(id)
  }

  /// Restarts a crashed node from its durable storage, with a new core. Does nothing if it runs.
  ///
  /// - Throws: ``SimulationFailure`` if the stored state is refused or breaks an invariant (for
  ///   example a term lower than one the node sent messages in).
  public func restart(_ id: NodeID) throws(SimulationFailure) {
    let node = node(id)
    guard !node.isUp else { return }
    note(9, node.position, "restart \(id)")
    do throws(SimulationFailure) {
      try start(node)
    } catch {
      throw withRecentTrace(error)
    }
  }

  private func start(_ node: SimulatedNode) throws(SimulationFailure) {
    let coreSeed = Self.derive(seed, 1000 + UInt64(node.position) * 1_000_003 + UInt64(node.starts))
    let state = node.storage.state
    // The state machine is volatile: it comes back from the durable snapshot, if any.
    var contents: [LogEntry] = []
    if state.snapshot.index > 0 {
      contents = try snapshotContents(node.storage.snapshotData, metadata: state.snapshot, on: node)
    }
    do {
      node.core = try RaftCore(
        id: node.id, configuration: configuration, state: state, appliedIndex: state.snapshot.index,
        seed: coreSeed, now: now)
    } catch {
      throw failure("\(node.id) could not start from its storage: \(error)")
    }
    node.starts += 1
    node.incarnation += 1
    node.stateMachine = contents
    node.incomingSnapshot = nil
    node.readsAwaitingApply = []
    node.pendingReady = nil
    node.scheduledTick = nil
    node.tickGeneration += 1
    try checker.nodeStarted(node.core!)
    if state.snapshot.index > 0 {
      try checker.snapshot(state.snapshot, contents: contents, restoredOn: node.id)
    }
    try afterInput(node)
  }

  // MARK: - Snapshots

  /// The contents of the snapshot whose bytes are `data`.
  private func snapshotContents(_ data: Data, metadata: SnapshotMetadata, on node: SimulatedNode)
    throws(SimulationFailure) -> [LogEntry]
  {
    switch SnapshotImage.decode(data, metadata: metadata) {
    case .success(let id):
      guard let contents = snapshotContents[id] else {
        throw failure("\(node.id) holds snapshot \(id), which was never taken")
      }
      return contents
    case .failure(let problem):
      throw failure(
        "\(node.id) holds a corrupt snapshot at index \(metadata.index): \(problem.description)")
    }
  }

  /// Takes a snapshot of the node's state machine when ``snapshotInterval`` entries were applied
  /// since its last one, stores it durably and lets the core compact its log.
  private func takeSnapshotIfDue(on node: SimulatedNode) throws(SimulationFailure) {
    guard let interval = snapshotInterval, let core = node.core else { return }
    let applied = core.appliedIndex
    guard applied >= core.snapshotIndex + interval else { return }
    guard UInt64(node.stateMachine.count) == applied else {
      throw failure(
        "\(node.id)'s state machine holds \(node.stateMachine.count) entries, its core applied \(applied)")
    }
    guard let metadata = core.snapshotMetadata(at: applied) else { return }
    let id = nextSnapshotID
    nextSnapshotID += 1
    snapshotContents[id] = node.stateMachine
    try checker.snapshot(metadata, contents: node.stateMachine, restoredOn: nil)
    let data = SnapshotImage.encode(id: id, metadata: metadata, fillerLength: snapshotFillerBytes)
    node.storage.commitSnapshot(metadata, data: data)
    storageObserver?(node.id, .snapshotCommitted(metadata, data: data), node.storage)
    node.core!.snapshotCommitted(metadata)
    snapshotsTaken += 1
    note(15, node.position, "\(node.id) took a snapshot at \(metadata.index)/\(metadata.term)")
    trace.combine(metadata.index)
  }

  /// Writes a snapshot chunk received from the leader; after the last one, makes the snapshot
  /// durable, restores the state machine from it and tells the core.
  private func receive(_ chunk: InstallSnapshot, on node: SimulatedNode) throws(SimulationFailure) {
    if chunk.offset == 0 {
      node.incomingSnapshot = (chunk.metadata, Data())
    }
    guard var incoming = node.incomingSnapshot, incoming.metadata == chunk.metadata else { return }
    incoming.data.append(chunk.data)
    note(16, node.position, "\(node.id) writes snapshot chunk at \(chunk.offset), done \(chunk.done)")
    guard chunk.done else {
      node.incomingSnapshot = incoming
      return
    }
    node.incomingSnapshot = nil
    let metadata = chunk.metadata
    let contents = try snapshotContents(incoming.data, metadata: metadata, on: node)
    if UInt64(node.stateMachine.count) > metadata.index {
      throw failure(
        "\(node.id) was sent a snapshot at index \(metadata.index) but has applied "
          + "\(node.stateMachine.count) entries")
    }
    node.storage.commitSnapshot(metadata, data: incoming.data)
    storageObserver?(node.id, .snapshotCommitted(metadata, data: incoming.data), node.storage)
    let previouslyApplied = node.stateMachine.count
    node.stateMachine = contents
    try checker.snapshot(metadata, contents: contents, restoredOn: node.id)
    // Proposals made on this node whose entries the snapshot covers are settled by it.
    for entry in contents[previouslyApplied...] {
      settleProposals(at: entry, on: node)
    }
    node.core!.snapshotInstalled(metadata)
    snapshotsInstalled += 1
    note(17, node.position, "\(node.id) installed a snapshot at \(metadata.index)/\(metadata.term)")
    trace.combine(metadata.index)
  }

  /// Reads a chunk of the node's current snapshot for a follower and hands it to the core.
  private func sendChunk(_ request: SnapshotChunkRequest, from node: SimulatedNode) {
    let metadata = node.storage.state.snapshot
    guard metadata.index > 0 else { return }
    let data = node.storage.snapshotData
    let start = Int(min(request.offset, UInt64(data.count)))
    let end = min(start + request.maxLength, data.count)
    node.core!.sendSnapshotChunk(
      to: request.peer, metadata: metadata, totalSize: UInt64(data.count), offset: request.offset,
      data: data.subdata(in: start..<end))
  }

  // MARK: - Reads

  /// Asks `id` for a linearizable read (ReadIndex). The read is served once the node applied the
  /// read index; the checker verifies that index against what was committed when it was asked.
  ///
  /// - Throws: ``SimulationFailure`` on a violation (a refused read is not an error: its status
  ///   says why).
  @discardableResult
  public func read(on id: NodeID) throws(SimulationFailure) -> SimulatedRead.ID {
    let node = node(id)
    let position = reads.count
    let requestID = Self.readRequestBase + UInt64(position)
    reads.append(
      SimulatedRead(
        id: SimulatedRead.ID(position), node: id, requestID: requestID, time: now,
        committedWhenAsked: checker.highestCommitted, status: .pending))
    guard node.isUp else {
      reads[position].status = .failed(.shutdown)
      return reads[position].id
    }
    checker.time = now
    node.core!.tick(now: now)
    do {
      try node.core!.readIndex(requestID: requestID)
      waitingReads[requestID] = position
      note(18, node.position, "read \(position) on \(id)")
    } catch {
      reads[position].status = .failed(error)
      note(19, node.position, "read \(position) on \(id) refused: \(error)")
    }
    do throws(SimulationFailure) {
      try afterInput(node)
      try checkLeaders()
    } catch {
      throw withRecentTrace(error)
    }
    return reads[position].id
  }

  /// Asks the leader `id` for a lease read: the commit index when its lease holds, checked against
  /// the highest index any node knows committed; nil when the lease does not hold.
  ///
  /// - Throws: ``SimulationFailure`` when the lease read index is stale.
  public func leaseRead(on id: NodeID) throws(SimulationFailure) -> UInt64? {
    let node = node(id)
    guard node.isUp else { return nil }
    checker.time = now
    node.core!.tick(now: now)
    let index = node.core!.leaseReadIndex(now: now)
    do throws(SimulationFailure) {
      if let index {
        try checker.readResolved(
          on: id, index: index, committedWhenAsked: checker.highestCommitted, lease: true)
      }
      try afterInput(node)
    } catch {
      throw withRecentTrace(error)
    }
    return index
  }

  private func settle(_ state: ReadState, on node: SimulatedNode) throws(SimulationFailure) {
    guard let position = waitingReads.removeValue(forKey: state.requestID) else { return }
    switch state.result {
    case .success(let index):
      try checker.readResolved(
        on: node.id, index: index, committedWhenAsked: reads[position].committedWhenAsked, lease: false)
      reads[position].status = .indexKnown(index)
      node.readsAwaitingApply.append(position)
    case .failure(let error):
      reads[position].status = .failed(error)
    }
  }

  private func serveReads(on node: SimulatedNode) {
    guard !node.readsAwaitingApply.isEmpty else { return }
    let applied = UInt64(node.stateMachine.count)
    node.readsAwaitingApply.removeAll { position in
      guard case .indexKnown(let index) = reads[position].status else { return true }
      guard index <= applied else { return false }
      reads[position].status = .served(index: index)
      return true
    }
  }

  // MARK: - Leadership transfer

  /// Asks the leader `id` to hand leadership to `target` (or to the most up-to-date voter); returns
  /// the core's refusal, if any.
  ///
  /// - Throws: ``SimulationFailure`` on a violation.
  @discardableResult
  public func transferLeadership(on id: NodeID, to target: NodeID?) throws(SimulationFailure) -> RaftError? {
    let node = node(id)
    guard node.isUp else { return .shutdown }
    checker.time = now
    node.core!.tick(now: now)
    var refusal: RaftError?
    do {
      try node.core!.transferLeadership(to: target)
    } catch {
      refusal = error
    }
    note(
      20, node.position,
      "transfer leadership from \(id) to \(target?.rawValue ?? "any"): \(refusal.map { "\($0)" } ?? "started")"
    )
    do throws(SimulationFailure) {
      try afterInput(node)
      try checkLeaders()
    } catch {
      throw withRecentTrace(error)
    }
    return refusal
  }

  /// Cuts `id` off from every other node, both ways (it keeps running).
  public func disconnect(_ id: NodeID) {
    network.isolate(id)
    note(10, positions[id] ?? 0, "disconnect \(id)")
  }

  /// Reconnects a node cut off with ``disconnect(_:)``.
  public func connect(_ id: NodeID) {
    network.rejoin(id)
    note(11, positions[id] ?? 0, "connect \(id)")
  }

  // MARK: - Proposals

  /// Proposes `command` on `id`, as a client of that node would.
  ///
  /// The proposal succeeds when the node applies its entry: at the (index, term) the core
  /// returned when the node leads, or the entry whose origin is this proposal when the node
  /// forwarded it. Follow it with ``proposal(_:)``.
  ///
  /// - Throws: ``SimulationFailure`` if the step violates an invariant (a refused proposal is
  ///   not an error: its status says why).
  @discardableResult
  public func propose(_ command: Data, on id: NodeID) throws(SimulationFailure) -> SimulatedProposal.ID {
    try makeProposal(command: command, change: nil, on: id)
  }

  /// Proposes a membership change on `id` (the seed's `join` and `leave`), followed like a command.
  ///
  /// - Throws: ``SimulationFailure`` if the step violates an invariant (a refused change is not an
  ///   error: its status says why).
  @discardableResult
  public func proposeMembershipChange(_ change: MembershipChange, on id: NodeID) throws(SimulationFailure)
    -> SimulatedProposal.ID
  {
    try makeProposal(command: Data(), change: change, on: id)
  }

  private func makeProposal(command: Data, change: MembershipChange?, on id: NodeID)
    throws(SimulationFailure) -> SimulatedProposal.ID
  {
    let node = node(id)
    let position = proposals.count
    let requestID = UInt64(position + 1)
    let proposalID = SimulatedProposal.ID(position)
    proposals.append(
      SimulatedProposal(
        id: proposalID, node: id, command: command, membershipChange: change, requestID: requestID,
        time: now, ticket: nil, status: .pending))
    guard node.isUp else {
      proposals[position].status = .failed(.shutdown)
      note(12, node.position, "propose \(proposalID) on \(id), which is down")
      return proposalID
    }
    checker.time = now
    node.core!.tick(now: now)
    do {
      let ticket: ProposalTicket
      if let change {
        ticket = try node.core!.proposeMembershipChange(change, requestID: requestID)
      } else {
        ticket = try node.core!.propose(command, requestID: requestID)
      }
      proposals[position].ticket = ticket
      switch ticket {
      case .appended(let index, _):
        node.waitingAppended[index, default: []].append(position)
      case .forwarded:
        waitingForwarded[ProposalOrigin(node: id, requestID: requestID)] = position
      }
      note(13, node.position, "propose \(proposalID) \(change.map { "\($0)" } ?? "") on \(id): \(ticket)")
    } catch {
      proposals[position].status = .failed(error)
      note(14, node.position, "propose \(proposalID) on \(id) refused: \(error)")
    }
    do throws(SimulationFailure) {
      try afterInput(node)
      try checkLeaders()
    } catch {
      throw withRecentTrace(error)
    }
    return proposalID
  }

  /// Proposes `command` on the current leader (the leader of the highest term), or returns nil
  /// when no running node leads.
  ///
  /// - Throws: ``SimulationFailure`` if the step violates an invariant.
  @discardableResult
  public func proposeOnLeader(_ command: Data) throws(SimulationFailure) -> SimulatedProposal.ID? {
    guard let leader = currentLeader() else { return nil }
    return try propose(command, on: leader)
  }

  // MARK: - Failures and the trace

  /// A failure at the current time, naming the seed.
  public func failure(_ message: String) -> SimulationFailure {
    withRecentTrace(SimulationFailure(seed: seed, time: now, message: message))
  }

  /// Throws a failure naming the seed unless `condition` holds.
  public func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(SimulationFailure) {
    if !condition { throw failure(message()) }
  }

  private func withRecentTrace(_ error: SimulationFailure) -> SimulationFailure {
    var result = error
    if result.recentTrace.isEmpty, !recentLines.isEmpty {
      result.recentTrace = Array(recentLines[recentStart...] + recentLines[..<recentStart])
    }
    return result
  }

  private func note(_ kind: UInt64, _ position: Int, _ text: @autoclosure () -> String) {
    trace.combine(kind)
    trace.combine(UInt64(position))
    trace.combine(now)
    if recentTraceCapacity > 0 { keep(text()) }
  }

  private func noteMessage(_ kind: UInt64, _ message: RaftMessage) {
    trace.combine(kind)
    trace.combine(now)
    trace.combine(UInt64(positions[message.from] ?? 99))
    trace.combine(UInt64(positions[message.to] ?? 99))
    trace.combine(message.term)
    switch message.body {
    case .voteRequest(let request):
      trace.combine(request.preVote ? 10 : 11)
      trace.combine(request.lastLogIndex)
      trace.combine(request.lastLogTerm)
    case .voteResponse(let response):
      trace.combine(response.preVote ? 12 : 13)
      trace.combine(response.granted)
    case .appendEntries(let append):
      trace.combine(14)
      trace.combine(append.prevLogIndex)
      trace.combine(append.prevLogTerm)
      trace.combine(UInt64(append.entries.count))
      trace.combine(append.leaderCommit)
    case .appendEntriesResponse(let response):
      trace.combine(response.success ? 15 : 16)
      trace.combine(response.index)
      trace.combine(response.conflictIndex)
    case .heartbeat(let heartbeat):
      trace.combine(17)
      trace.combine(heartbeat.commit)
    case .heartbeatResponse(let response):
      trace.combine(18)
      trace.combine(response.readRound)
    case .proposal(let proposal):
      trace.combine(19)
      trace.combine(proposal.requestID)
    case .proposalRejected(let rejection):
      trace.combine(20)
      trace.combine(rejection.requestID)
    default:
      trace.combine(message.kindName)
    }
    if recentTraceCapacity > 0 {
      keep((kind == 3 ? "deliver " : "send ") + describe(message))
    }
  }

  private func keep(_ line: String) {
    let text = "\(now) ms  \(line)"
    if recentLines.count < recentTraceCapacity {
      recentLines.append(text)
    } else {
      recentLines[recentStart] = text
      recentStart = (recentStart + 1) % recentLines.count
    }
  }

  private func describe(_ message: RaftMessage) -> String {
    let head = "\(message.from)→\(message.to) t\(message.term) "
    switch message.body {
    case .voteRequest(let request):
      return head
        + "\(request.preVote ? "preVote" : "vote")(last \(request.lastLogIndex)/\(request.lastLogTerm))"
    case .voteResponse(let response):
      return head + "\(response.preVote ? "preVote" : "vote")Response(\(response.granted))"
    case .appendEntries(let append):
      let range =
        append.entries.isEmpty ? "none" : "\(append.entries.first!.index)...\(append.entries.last!.index)"
      return head
        + "append(prev \(append.prevLogIndex)/\(append.prevLogTerm), entries \(range), commit \(append.leaderCommit))"
    case .appendEntriesResponse(let response):
      return head
        + "appendResponse(\(response.success), \(response.index), conflict \(response.conflictTerm.map { "\($0)" } ?? "-")/\(response.conflictIndex))"
    case .heartbeat(let heartbeat):
      return head + "heartbeat(commit \(heartbeat.commit), read round \(heartbeat.readRound))"
    case .proposal(let proposal):
      return head + "proposal(\(proposal.requestID))"
    case .proposalRejected(let rejection):
      return head + "proposalRejected(\(rejection.requestID), \(rejection.error))"
    default:
      return head + "\(message.body)"
    }
  }
}
