#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension ClusterSimulator {
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
      .crashed(lostHardState: node.pendingWrite?.hardState, lostEntries: node.pendingWrite?.entries ?? []),
      node.storage)
    node.driver = nil
    node.reset()
    node.incarnation += 1
    // The node's clients lose track of what they proposed and read there.
    for position in reads.indices where reads[position].node == id {
      switch reads[position].status {
      case .pending, .indexKnown: reads[position].status = .interrupted
      default: break
      }
    }
    for position in proposals.indices where proposals[position].node == id {
      if proposals[position].status == .pending { proposals[position].status = .interrupted }
    }
    note(.crash, node.position, "crash \(id)")
    specTrace?.recordEvent("crash", node: id, time: now)
    try checker.nodeCrashed(id)
  }

  /// Restarts a crashed node from its durable storage, with a new core. Does nothing if it runs.
  ///
  /// - Throws: ``SimulationFailure`` if the stored state is refused or breaks an invariant (for
  ///   example a term lower than one the node sent messages in).
  public func restart(_ id: NodeID) throws(SimulationFailure) {
    let node = node(id)
    guard !node.isUp else { return }
    note(.restart, node.position, "restart \(id)")
    do throws(SimulationFailure) {
      try start(node)
    } catch {
      throw withRecentTrace(error)
    }
  }

  func start(_ node: SimulatedNode) throws(SimulationFailure) {
    let coreSeed = Self.derive(seed, 1000 + UInt64(node.position) * 1_000_003 + UInt64(node.starts))
    let state = node.storage.state
    // The state machine is volatile: it comes back from the durable snapshot, if any.
    var contents: [LogEntry] = []
    if state.snapshot.index > 0 {
      contents = try snapshotContents(node.storage.snapshotData, metadata: state.snapshot, on: node)
    }
    do {
      let core = try RaftCore(
        id: node.id, configuration: configuration, state: state, appliedIndex: state.snapshot.index,
        seed: coreSeed, now: localTime(of: node))
      node.driver = RaftDriver(
        core: core, appliedIndex: state.snapshot.index, appliedMembership: state.snapshot.membership,
        snapshotPolicy: RaftDriver.SnapshotPolicy(entryInterval: snapshotInterval, logBytes: nil))
    } catch {
      throw failure("\(node.id) could not start from its storage: \(error)")
    }
    node.starts += 1
    node.incarnation += 1
    node.reset()
    node.stateMachine = contents
    traceSpec(node, "restart")
    try checker.nodeStarted(node.core!)
    if state.snapshot.index > 0 {
      try checker.snapshot(state.snapshot, contents: contents, restoredOn: node.id)
    }
    try afterInput(node)
  }

  /// Holds back `id`'s timer for `duration` milliseconds, as a starved tick task or a paused
  /// process would: messages, proposals and reads still reach the node, but its clock only moves
  /// when they do.
  public func stallTimer(of id: NodeID, for duration: UInt64) {
    let node = node(id)
    node.timerStalledUntil = now + duration
    node.tickGeneration += 1
    node.scheduledTick = nil
    note(.timerStalled, node.position, "\(id)'s timer stalls for \(duration) ms")
    scheduleTick(node)
  }
}
