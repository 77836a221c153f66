import Testing
import WebRaft
import WebRaftTesting

/// Snapshots, reads, leadership transfer and flow control on the simulator.
@Suite("Simulation: snapshots, reads, transfer, flow control")
struct LifecycleTests {
  /// A configuration that splits snapshots into 16-byte chunks.
  private static var smallChunks: RaftConfiguration {
    var configuration = RaftConfiguration()
    configuration.snapshotChunkSize = 16
    return configuration
  }

  @Test(
    "a follower cut off while the others compact their logs catches up by InstallSnapshot in chunks",
    arguments: scenarioSeeds)
  func followerCatchesUpBySnapshot(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3, configuration: Self.smallChunks)
    simulator.snapshotInterval = 10
    try simulator.agree(command("first"), expectedNodes: 3)
    let leader = try simulator.awaitLeader()
    let follower = simulator.node(simulator.position(of: leader) + 1)
    simulator.disconnect(follower)
    for value in 0..<60 {
      try simulator.agree(command("s\(value)"), expectedNodes: 2)
    }
    try simulator.require(
      (simulator.core(of: leader)?.snapshotIndex ?? 0) > 0, "the leader did not compact its log")
    simulator.connect(follower)
    try simulator.agree(command("last"), expectedNodes: 3)
    try simulator.require(simulator.snapshotsInstalled >= 1, "the follower caught up without a snapshot")
    try simulator.requireAcknowledgedEverywhere()
  }

  @Test("crashes and restarts from snapshots keep every commit (5 nodes)", arguments: scenarioSeeds)
  func restartsFromSnapshots(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5, configuration: Self.smallChunks)
    simulator.snapshotInterval = 7
    for round in 0..<8 {
      for value in 0..<10 {
        try simulator.agree(command("r\(round) \(value)"), expectedNodes: 3)
      }
      let crashed = [simulator.node(simulator.randomInt(0..<5)), simulator.node(simulator.randomInt(0..<5))]
      for id in crashed { try simulator.crash(id) }
      try simulator.agree(command("r\(round) crashed"), expectedNodes: 3)
      if round % 3 == 2 {
        try simulator.crashAll()
      }
      try simulator.restartAll()
    }
    try simulator.agree(command("end"), expectedNodes: 5)
    try simulator.require(simulator.snapshotsTaken > 0, "no snapshot was taken")
    try simulator.requireAcknowledgedEverywhere()
  }

  @Test("Figure 8 with crashes and log compaction (5 nodes, 1000 rounds)", arguments: scenarioSeeds)
  func figure8WithSnapshots(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5, configuration: Self.smallChunks)
    simulator.snapshotInterval = 3
    try simulator.crashLeadersRepeatedly(label: "f8s")
  }

  @Test(
    "linearizable reads on any node never miss a write committed before they were asked",
    arguments: scenarioSeeds)
  func linearizableReads(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    simulator.network.makeUnreliable(drop: 0.05)
    _ = try simulator.awaitLeader()
    for round in 0..<300 {
      try simulator.propose(command("w\(round)"), on: simulator.node(simulator.randomInt(0..<5)))
      try simulator.read(on: simulator.node(simulator.randomInt(0..<5)))
      if round % 50 == 25 {
        simulator.disconnect(simulator.currentLeader() ?? simulator.node(0))
      }
      if round % 50 == 45 { simulator.reconnectAll() }
      try simulator.run(for: UInt64(simulator.randomInt(1..<30)))
    }
    simulator.reconnectAll()
    try simulator.run(for: 2000)
    let served = simulator.reads.filter { if case .served = $0.status { return true } else { return false } }
    try simulator.require(served.count > 100, "only \(served.count) of 300 reads were served")
  }

  /// A 3-node cluster whose leader held a lease and was just cut off from the others.
  private static func cutOffLeaderWithLease(seed: UInt64) throws -> (ClusterSimulator, NodeID) {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    try simulator.agree(command("first"), expectedNodes: 3)
    let leader = try simulator.awaitLeader()
    try simulator.run(for: 300)
    try simulator.require(try simulator.leaseRead(on: leader) != nil, "a healthy leader has no lease")
    simulator.disconnect(leader)
    return (simulator, leader)
  }

  @Test(
    "a leader cut off stops serving lease reads before a new leader can commit anything",
    arguments: scenarioSeeds)
  func leaseReadsExpire(seed: UInt64) throws {
    let (simulator, leader) = try Self.cutOffLeaderWithLease(seed: seed)
    // The others elect a new leader and commit while the old one keeps being asked for lease reads:
    // the checker fails the test if it ever answers with an index below what was committed.
    var leaseEnded = false
    for round in 0..<400 {
      if try simulator.leaseRead(on: leader) == nil { leaseEnded = true }
      if round % 20 == 0, let other = simulator.currentLeader(connectedOnly: true) {
        try simulator.propose(command("l\(round)"), on: other)
      }
      try simulator.run(for: 5)
    }
    try simulator.require(leaseEnded, "the cut-off leader kept its lease")
    try simulator.require(simulator.acknowledgedProposals.count > 1, "the others committed nothing")
  }

  @Test(
    "a cut-off leader whose timer stalls serves no lease read once the lease has run out by the clock",
    arguments: scenarioSeeds)
  func leaseReadsFollowTheClockNotTheLastTick(seed: UInt64) throws {
    let (simulator, leader) = try Self.cutOffLeaderWithLease(seed: seed)
    // The old leader's tick task starves: its core's clock stands still while the others elect a
    // new leader and commit. A lease judged by the last tick would still hold; the checker fails
    // the test if a lease read answers with an index below what was committed meanwhile.
    simulator.stallTimer(of: leader, for: 5000)
    let found = try simulator.run(for: 3000) { simulator in
      simulator.currentLeader(connectedOnly: true).map { $0 != leader } ?? false
    }
    try simulator.require(found, "the others elected no leader")
    let other = try #require(simulator.currentLeader(connectedOnly: true))
    let written = try simulator.propose(command("after"), on: other)
    try simulator.awaitSettled([written], within: 2000)
    try simulator.require(simulator.proposal(written).isAcknowledged, "the new leader committed nothing")
    #expect(try simulator.leaseRead(on: leader) == nil)
  }

  @Test(
    "leadership transfer hands leadership to the chosen node and loses no commit",
    arguments: scenarioSeeds)
  func leadershipTransfer(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    for round in 0..<5 {
      try simulator.agree(command("t\(round)"), expectedNodes: 5)
      let leader = try simulator.awaitLeader()
      let target = simulator.node(simulator.position(of: leader) + 1 + simulator.randomInt(0..<4))
      let refusal = try simulator.transferLeadership(on: leader, to: target)
      try simulator.require(refusal == nil, "the transfer was refused: \(String(describing: refusal))")
      try simulator.run(for: 1000) { $0.establishedLeader() == target }
      try simulator.require(
        simulator.establishedLeader() == target,
        "leadership went to \(String(describing: simulator.establishedLeader())), not \(target)")
    }
    try simulator.agree(command("end"), expectedNodes: 5)
    try simulator.requireAcknowledgedEverywhere()
  }

  @Test(
    "backup of conflicting logs with one entry per append and a window of two (flow control)",
    arguments: scenarioSeeds)
  func backupWithTinyAppends(seed: UInt64) throws {
    var configuration = RaftConfiguration()
    configuration.maxEntriesPerAppend = 1
    configuration.maxInflightAppends = 2
    let simulator = try ClusterSimulator(seed: seed, nodes: 5, configuration: configuration)
    try simulator.agree(command("start"), expectedNodes: 5)
    for round in 0..<3 {
      // The leader and one follower take entries that never commit, while the other three commit
      // more; then the two come back and must replace their conflicting suffix.
      let leader = try simulator.awaitLeader()
      let p = simulator.position(of: leader)
      for offset in 2...4 { simulator.disconnect(simulator.node(p + offset)) }
      for value in 0..<20 {
        try simulator.propose(command("lost \(round) \(value)"), on: leader)
      }
      try simulator.run(for: 300)
      simulator.disconnect(simulator.node(p))
      simulator.disconnect(simulator.node(p + 1))
      for offset in 2...4 { simulator.connect(simulator.node(p + offset)) }
      for value in 0..<30 {
        try simulator.agree(command("kept \(round) \(value)"), expectedNodes: 3)
      }
      simulator.reconnectAll()
      try simulator.agree(command("joined \(round)"), expectedNodes: 5)
    }
    for id in simulator.nodeIDs {
      try simulator.require(
        !simulator.appliedCommands(of: id).contains { String(decoding: $0, as: UTF8.self).hasPrefix("lost") },
        "\(id) applied an entry of a minority")
    }
    try simulator.requireAcknowledgedEverywhere()
  }
}
