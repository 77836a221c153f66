#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A whole Raft cluster in one process, driven by simulated time: deterministic, seeded, with
/// fault injection and an ``InvariantChecker`` that runs after every step.
///
/// Each of the 1–9 nodes (`n1`, `n2`, …) is a ``RaftCore`` carried out by the same ``RaftDriver``
/// that ``RaftNode`` runs: the simulator only supplies the driver's storage (a
/// ``SimulatedStorage``), network (a ``SimulatedNetwork``), state machine (the list of entries the
/// node applied) and clock, and schedules the driver's asynchronous steps as events that the seed
/// orders: a storage write becomes durable after ``diskDelay``, a batch of committed entries is
/// applied after ``applyDelay`` (a slow state machine, which applies one batch after the other
/// while the node goes on storing, sending and voting), a snapshot captured at an apply boundary
/// is written out in the background after ``diskDelay``, and a timer fires up to ``tickDelay``
/// late (a starved tick task or a paused process). Ticks, messages and proposals keep arriving
/// while any of these is under way, as they would on a real node.
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
  /// The time a batch of committed entries takes to apply, in milliseconds (a slow state machine).
  /// Batches are applied one after the other; the node carries on with messages, timers and
  /// writes while they are.
  public var applyDelay: ClosedRange<UInt64> = 0...0
  /// How late a node's timer may fire, in milliseconds (a starved tick task or a paused process).
  public var tickDelay: ClosedRange<UInt64> = 0...0
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
  public internal(set) var now: UInt64 = 0
  /// The running hash of every step so far.
  public internal(set) var trace = TraceHash()
  /// The number of events processed so far.
  public internal(set) var stepCount = 0
  /// The invariant checker, as it stands.
  public internal(set) var checker: InvariantChecker
  /// Every proposal made, in order (see ``propose(_:on:)``).
  public internal(set) var proposals: [SimulatedProposal] = []
  /// The identifiers of the acknowledged proposals, in the order they were acknowledged.
  public internal(set) var acknowledgedProposals: [SimulatedProposal.ID] = []
  /// The number of messages the nodes handed to the network.
  public internal(set) var messagesSent = 0
  /// When set, a node snapshots its state machine and compacts its log once it has applied this
  /// many entries since its last snapshot.
  public var snapshotInterval: UInt64?
  /// The filler bytes in each simulated snapshot, so that a small `snapshotChunkSize` splits it.
  public var snapshotFillerBytes = 64
  /// Every read asked with ``read(on:)``, in order.
  public internal(set) var reads: [SimulatedRead] = []
  /// The number of snapshots the nodes took of their own state machines.
  public internal(set) var snapshotsTaken = 0
  /// The number of snapshots followers installed from their leader (InstallSnapshot).
  public internal(set) var snapshotsInstalled = 0
  /// Called with every change to a node's durable storage, in the order the changes happen: the
  /// node, the change, and the node's storage after it. A test can replay the writes into a real
  /// storage and check that it recovers what the simulator keeps after a crash.
  public var storageObserver: ((NodeID, SimulatedStorageEvent, SimulatedStorage) -> Void)?
  /// When set, every step is also written in the TLA+ specification's terms, for
  /// `scripts/check-trace.py` (see ``SpecTrace``).
  public var specTrace: SpecTrace?

  var nodes: [SimulatedNode] = []
  let positions: [NodeID: Int]
  var queue = EventQueue<SimulationEvent>()
  var diskRandom: SplitMix64
  /// The contents of every snapshot taken, by the identifier its bytes carry.
  var snapshotContents: [UInt64: [LogEntry]] = [:]
  var nextSnapshotID: UInt64 = 1
  static let readRequestBase: UInt64 = 1 << 48
  var messageCounts: [MessageCountKey: Int] = [:]
  var recentLines: [String] = []
  /// Steps taken at the current time; too many means nodes answer each other forever at once.
  var stepsAtThisTime = 0
  static let livelockLimit = 100_000
  var recentStart = 0

  struct MessageCountKey: Hashable {
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
  ///   - newcomers: how many of the last `nodes` start as brand-new nodes with empty storage that
  ///     belong to no cluster yet (``Membership/empty``), as a server started to join one does;
  ///     add them with ``proposeMembershipChange(_:on:)`` (`.addVoter` or `.addLearner`).
  /// - Throws: ``SimulationFailure`` when the configuration is invalid.
  public init(
    seed: UInt64, nodes count: Int, configuration: RaftConfiguration = RaftConfiguration(),
    newcomers: Int = 0
  ) throws(SimulationFailure) {
    precondition((1...9).contains(count), "a simulated cluster has 1 to 9 nodes, not \(count)")
    precondition((0..<count).contains(newcomers), "a simulated cluster needs at least one founding voter")
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
    let founders = ids.prefix(count - newcomers)
    let membership = Membership(voters: Set(founders))
    nodes = ids.enumerated().map { position, id in
      SimulatedNode(id: id, position: position, membership: founders.contains(id) ? membership : .empty)
    }
    trace.combine(seed)
    trace.combine(UInt64(count))
    trace.combine(UInt64(newcomers))
    for node in nodes {
      try start(node)
    }
  }

  /// Lets every node's clock run at its own rate, drawn at random (from the seed) between
  /// `-bound` and `bound` (0.02: up to 2 % fast or slow). Two clocks then drift apart by up to
  /// `2 * bound` of the time that passes: lease reads are safe while that stays below
  /// ``RaftConfiguration/maxClockDrift`` over a heartbeat timeout.
  public func setClockDrift(_ bound: Double) {
    var generator = SplitMix64(seed: Self.derive(seed, 4))
    for node in nodes {
      node.clockRate = bound == 0 ? 0 : Double.random(in: -bound...bound, using: &generator)
      if node.isUp { scheduleTick(node) }
    }
  }

  /// A seed for one purpose of one run, mixed from the run's seed and a salt.
  static func derive(_ seed: UInt64, _ salt: UInt64) -> UInt64 {
    var generator = SplitMix64(seed: seed ^ (salt &* 0xD1B5_4A32_D192_ED03))
    return generator.next()
  }

  // MARK: - Reading the cluster

  func node(_ id: NodeID) -> SimulatedNode {
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
        note(.tick, node.position, "tick \(node.id)")
        node.driver!.tick(now: localTime(of: node))
        traceSpec(node, "tick")
        node.driver!.expire(now: localTime(of: node)) { node.settled.append(($0, $1)) }
        try settleBuffered(on: node)
        try afterInput(node)
      case .writeDone(let position, let token):
        let node = nodes[position]
        guard node.isUp, node.writeToken == token else { return true }
        try persisted(on: node)
        try afterInput(node)
      case .applyDone(let position, let token):
        let node = nodes[position]
        guard node.isUp, node.applyToken == token else { return true }
        try applyPending(on: node)
        traceSpec(node, "applied")
        try afterInput(node)
      case .snapshotWritten(let position, let token):
        let node = nodes[position]
        guard node.isUp, node.snapshotToken == token, let metadata = node.snapshotBeingWritten else {
          return true
        }
        node.snapshotBeingWritten = nil
        note(.snapshotWritten, node.position, "\(node.id) wrote its snapshot at \(metadata.index)")
        node.driver!.snapshotWritten(metadata)
        traceSpec(node, "internal")
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
      if node.storage.state.snapshot.index == node.core!.snapshotIndex {
        try checker.checkConfiguration(node.core!, snapshotMembership: node.storage.state.snapshot.membership)
      }
    }
    try checkLeaders()
  }

  func checkLeaders() throws(SimulationFailure) {
    for node in nodes where node.core?.role == .leader {
      try checker.checkLeaderCompleteness(node.core!)
    }
  }

}
