import Testing
import WebRaft
import WebRaftTesting

/// InstallSnapshot under faults: a follower that missed entries the others compacted away must
/// catch up from a snapshot, sent in chunks, whatever happens to it, to the leader or to the
/// network meanwhile.
///
/// Every scenario runs 30 seeds (`WEBRAFT_SEED=N` runs just N). Nodes snapshot their state
/// machines every 10 applied entries and compact their logs; snapshots (104 bytes) go out in
/// 16-byte chunks, 7 per snapshot. Besides the simulator's invariant checker, which watches every
/// step, each scenario checks that the follower got its state from a snapshot and that no node's
/// persisted log grows past ``logBound`` entries.
@Suite("Simulation: snapshot install")
struct SnapshotInstallTests {
  static let seeds = SimulationEnvironment.scenarioSeeds(count: 30)
  /// A node snapshots once it has applied this many entries since its last snapshot.
  static let snapshotInterval: UInt64 = 10
  /// The most entries a persisted log may hold. A node snapshots as soon as it has applied
  /// `snapshotInterval` entries since its last snapshot, so it keeps at most 9 applied entries;
  /// on top of those come the entries it stored but has not applied yet: in these scenarios the
  /// command in flight (clients wait for each agreement) and its retry, a no-op per new term, and
  /// the up to 2 commands proposed just before everyone crashes. 5 leaves room for those (the
  /// none of 300 seeds of any scenario went past 13 entries); a log that is not compacted
  /// grows far past it, as every scenario commits 25 or more entries.
  static let logBound = Int(snapshotInterval) + 5

  static func makeSimulator(seed: UInt64, nodes: Int = 3) throws -> ClusterSimulator {
    var configuration = RaftConfiguration()
    configuration.snapshotChunkSize = 16
    let simulator = try ClusterSimulator(seed: seed, nodes: nodes, configuration: configuration)
    simulator.snapshotInterval = snapshotInterval
    return simulator
  }

  /// How a follower misses entries.
  enum Absence {
    /// It is cut off from the others and keeps running.
    case disconnected
    /// It is down.
    case crashed
  }

  /// A follower that missed entries the others compacted away.
  struct FollowerBehind {
    /// The follower.
    let follower: NodeID
    /// The lowest snapshot index of the other nodes: the follower can only get here by snapshot.
    let compacted: UInt64
    /// The number of snapshots installed when the follower came back.
    let installedBefore: Int
  }

  /// Commits `before` commands on all three nodes, takes a random follower away, commits 25–54
  /// more without it so that the others compact their logs past its last entry, and brings it
  /// back.
  static func leaveFollowerBehind(
    _ simulator: ClusterSimulator, _ absence: Absence, before: Int, timeout: UInt64 = 10_000
  ) throws -> FollowerBehind {
    try simulator.agreeWatchingLogs(prefix: "before", count: before, expectedNodes: 3, timeout: timeout)
    let leader = try simulator.awaitLeader(within: timeout)
    let follower = simulator.node(simulator.position(of: leader) + 1 + simulator.randomInt(0..<2))
    switch absence {
    case .disconnected: simulator.disconnect(follower)
    case .crashed: try simulator.crash(follower)
    }
    try simulator.agreeWatchingLogs(
      prefix: "apart", count: 25 + simulator.randomInt(0..<30), expectedNodes: 2, timeout: timeout)
    let compacted = try simulator.requireCompactedPast(follower)
    let installed = simulator.snapshotsInstalled
    switch absence {
    case .disconnected: simulator.connect(follower)
    case .crashed: try simulator.restart(follower)
    }
    return FollowerBehind(follower: follower, compacted: compacted, installedBefore: installed)
  }

  @Test("a disconnected follower catches up by InstallSnapshot once reconnected", arguments: seeds)
  func disconnectedFollower(seed: UInt64) throws {
    let simulator = try Self.makeSimulator(seed: seed)
    let behind = try Self.leaveFollowerBehind(simulator, .disconnected, before: 3)
    try simulator.agreeWatchingLogs(prefix: "after", count: 3, expectedNodes: 3)
    try simulator.requireInstalled(behind)
  }

  @Test(
    "a follower that crashed and restarted from its storage catches up by InstallSnapshot",
    arguments: seeds)
  func crashedFollower(seed: UInt64) throws {
    let simulator = try Self.makeSimulator(seed: seed)
    let behind = try Self.leaveFollowerBehind(simulator, .crashed, before: 5 + simulator.randomInt(0..<15))
    try simulator.agreeWatchingLogs(prefix: "after", count: 3, expectedNodes: 3)
    try simulator.requireInstalled(behind)
  }

  @Test(
    "InstallSnapshot completes on an unreliable network (10% loss, duplicates, 0–26 ms delays)",
    arguments: seeds)
  func unreliableNetwork(seed: UInt64) throws {
    let simulator = try Self.makeSimulator(seed: seed)
    simulator.network.makeUnreliable(drop: 0.1)
    simulator.network.duplicateProbability = 0.05
    let behind = try Self.leaveFollowerBehind(simulator, .disconnected, before: 3, timeout: 30_000)
    // Chunks are lost, duplicated and reordered on the way; the transfer must resume.
    try simulator.agreeWatchingLogs(prefix: "after", count: 3, expectedNodes: 3, timeout: 30_000)
    try simulator.requireInstalled(behind)
  }

  @Test(
    "crashes of the follower or of the leader in the middle of InstallSnapshot: the transfer starts over and completes",
    arguments: seeds)
  func crashesDuringInstall(seed: UInt64) throws {
    let simulator = try Self.makeSimulator(seed: seed)
    let behind = try Self.leaveFollowerBehind(simulator, .disconnected, before: 3)
    let follower = behind.follower
    let installed = behind.installedBefore

    // Let some of the 7 chunks go out, then crash one end of the transfer.
    var interrupted = 0
    for round in 0..<2 {
      guard let sender = simulator.currentLeader(connectedOnly: true) else { break }
      let chunksBefore = simulator.chunksSent(to: follower)
      let wanted = 1 + simulator.randomInt(0..<5)
      try simulator.runWatchingLogs(for: 3000) {
        $0.chunksSent(to: follower) >= chunksBefore + wanted || $0.snapshotsInstalled > installed
      }
      guard simulator.snapshotsInstalled == installed else { break }
      try simulator.require(
        simulator.chunksSent(to: follower) > chunksBefore, "\(sender) sent no snapshot chunk to \(follower)")
      interrupted += 1
      let victim = round == 0 && simulator.randomInt(0..<2) == 0 ? follower : sender
      try simulator.crash(victim)
      try simulator.runWatchingLogs(for: UInt64(simulator.randomInt(0..<400)))
      try simulator.restart(victim)
    }
    try simulator.require(interrupted > 0, "the snapshot was installed before any crash")
    try simulator.agreeWatchingLogs(prefix: "after", count: 3, expectedNodes: 3, timeout: 20_000)
    try simulator.requireInstalled(behind)
  }

  @Test(
    "all nodes crash and restart from their snapshots again and again; every commit survives (5 nodes)",
    arguments: seeds)
  func allNodesCrashRepeatedly(seed: UInt64) throws {
    let simulator = try Self.makeSimulator(seed: seed, nodes: 5)
    for round in 0..<6 {
      try simulator.agreeWatchingLogs(
        prefix: "round \(round)", count: 5 + simulator.randomInt(0..<15), expectedNodes: 5)
      // Crash everyone, some of them while commands are still on their way.
      for _ in 0..<simulator.randomInt(0..<3) {
        if let leader = simulator.currentLeader() {
          try simulator.propose(command("doomed \(round)"), on: leader)
        }
      }
      try simulator.runWatchingLogs(for: UInt64(simulator.randomInt(0..<10)))
      try simulator.crashAll()
      // Restart them in a random order, a little apart.
      var order = simulator.nodeIDs
      order.shuffle(using: &simulator.random)
      for id in order {
        try simulator.restart(id)
        try simulator.runWatchingLogs(for: UInt64(simulator.randomInt(0..<100)))
      }
      // From the fourth round on, every node has applied more than 10 entries before crashing,
      // so each one restarts from a snapshot and replays only the log after it.
      for id in simulator.nodeIDs where round >= 3 {
        try simulator.require(
          simulator.durableState(of: id).snapshot.index > 0, "\(id) restarted without a snapshot")
      }
    }
    try simulator.agreeWatchingLogs(prefix: "end", count: 1, expectedNodes: 5)
    try simulator.require(simulator.snapshotsTaken >= 5, "only \(simulator.snapshotsTaken) snapshots")
  }
}

extension ClusterSimulator {
  /// The most entries any node's persisted log holds now.
  fileprivate var longestPersistedLog: Int {
    nodeIDs.map { durableState(of: $0).entries.count }.max() ?? 0
  }

  /// Throws if a persisted log holds more than ``SnapshotInstallTests/logBound`` entries.
  fileprivate func requireBoundedLogs() throws {
    for id in nodeIDs {
      let count = durableState(of: id).entries.count
      try require(
        count <= SnapshotInstallTests.logBound,
        "\(id)'s persisted log holds \(count) entries, more than \(SnapshotInstallTests.logBound)")
    }
  }

  /// Reaches agreement on `count` commands, one after the other, checking the persisted logs
  /// after each.
  fileprivate func agreeWatchingLogs(
    prefix: String, count: Int, expectedNodes: Int, timeout: UInt64 = 10_000
  ) throws {
    for value in 0..<count {
      try agree(command("\(prefix) \(value)"), expectedNodes: expectedNodes, timeout: timeout)
      try requireBoundedLogs()
    }
  }

  /// Runs for `duration` milliseconds or until `condition` holds, checking the persisted logs
  /// after every step.
  fileprivate func runWatchingLogs(
    for duration: UInt64, until condition: (ClusterSimulator) -> Bool = { _ in false }
  ) throws {
    var longest = 0
    try run(for: duration) { simulator in
      longest = max(longest, simulator.longestPersistedLog)
      return condition(simulator)
    }
    try require(
      longest <= SnapshotInstallTests.logBound,
      "a persisted log held \(longest) entries, more than \(SnapshotInstallTests.logBound)")
  }

  /// The number of InstallSnapshot chunks any node sent to `follower`.
  fileprivate func chunksSent(to follower: NodeID) -> Int {
    nodeIDs.map { messageCount(from: $0, to: follower, kind: "installSnapshot") }.reduce(0, +)
  }

  /// Throws unless every running node other than `follower` compacted its log past everything
  /// `follower` holds, so that it can only catch up from a snapshot; returns the lowest
  /// compaction index.
  fileprivate func requireCompactedPast(_ follower: NodeID) throws -> UInt64 {
    let followerLast =
      durableState(of: follower).snapshot.index
      + UInt64(durableState(of: follower).entries.count)
    let compacted =
      nodeIDs.filter { $0 != follower && isUp($0) }.map {
        durableState(of: $0).snapshot.index
      }.min() ?? 0
    try require(
      compacted > followerLast,
      "the others compacted only through \(compacted); \(follower)'s log reaches \(followerLast)")
    return compacted
  }

  /// Throws unless the follower installed a snapshot since it came back and applied everything
  /// through the others' compaction index, and unless every acknowledged command is applied on
  /// every running node and every log checks out in full.
  fileprivate func requireInstalled(_ behind: SnapshotInstallTests.FollowerBehind) throws {
    let follower = behind.follower
    try require(
      snapshotsInstalled > behind.installedBefore, "\(follower) caught up without installing a snapshot")
    try require(chunksSent(to: follower) >= 7, "fewer than 7 snapshot chunks were sent to \(follower)")
    try require(
      UInt64(appliedEntries(of: follower).count) >= behind.compacted,
      "\(follower) applied \(appliedEntries(of: follower).count) entries, not \(behind.compacted)")
    try require(durableState(of: follower).snapshot.index > 0, "\(follower) persisted no snapshot")
    try checkEverything()
    try requireAcknowledgedEverywhere()
    try requireBoundedLogs()
  }
}
