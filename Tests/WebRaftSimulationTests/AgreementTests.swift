import Testing
import WebRaft
import WebRaftTesting

/// Log replication and commitment on the simulator (the labs' 2B tests).
@Suite("Simulation: agreement")
struct AgreementTests {
  @Test(
    "basic agreement: each command is applied by all 5 nodes at the next index",
    arguments: scenarioSeeds)
  func basicAgreement(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    _ = try simulator.awaitLeader()
    var previous: UInt64?
    for round in 1...3 {
      let expected = (previous ?? simulator.core(of: simulator.currentLeader()!)!.lastIndex) + 1
      try simulator.require(
        simulator.committedCount(at: expected).count == 0, "index \(expected) applied before any proposal")
      let index = try simulator.agree(command("basic \(round)"), expectedNodes: 5, retry: false)
      try simulator.require(index == expected, "command \(round) went to index \(index), not \(expected)")
      previous = index
    }
  }

  @Test(
    "no commit without a majority: a leader cut off from a majority commits nothing",
    arguments: [3, 5], scenarioSeeds)
  func noCommitWithoutMajority(nodes: Int, seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: nodes)
    try simulator.agree(command("before"), expectedNodes: nodes, retry: false)
    let leader = try simulator.awaitLeader()
    let position = simulator.position(of: leader)
    // Keep the leader and fewer than half of the others.
    let majority = nodes / 2 + 1
    for offset in 1...majority {
      simulator.disconnect(simulator.node(position + offset))
    }
    let proposalID = try simulator.propose(command("minority"), on: leader)
    guard case .appended(let index, _)? = simulator.proposal(proposalID).ticket else {
      throw simulator.failure("the leader did not append the proposal: \(simulator.proposal(proposalID))")
    }
    try simulator.run(for: 2000)
    try simulator.require(
      simulator.committedCount(at: index).count == 0,
      "index \(index) was applied with only a minority connected")
    for id in simulator.nodeIDs {
      try simulator.require(
        (simulator.core(of: id)?.commitIndex ?? 0) < index, "\(id) committed index \(index) in a minority")
    }
    // Repair: the cluster works again and the minority's fate is settled.
    simulator.reconnectAll()
    try simulator.agree(command("after"), expectedNodes: nodes)
    try simulator.require(
      simulator.proposal(proposalID).status != .pending,
      "the minority proposal is still pending after the repair")
  }

  @Test(
    "a follower that misses commits while cut off catches up when it returns",
    arguments: scenarioSeeds)
  func followerCatchesUp(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    try simulator.agree(command("101"), expectedNodes: 3, retry: false)
    let leader = try simulator.awaitLeader()
    let follower = simulator.node(simulator.position(of: leader) + 1)
    simulator.disconnect(follower)
    var indexes: [UInt64] = []
    for value in 102...105 {
      indexes.append(try simulator.agree(command("\(value)"), expectedNodes: 2, retry: false))
    }
    try simulator.run(for: 1000)
    try simulator.require(
      simulator.appliedEntry(of: follower, at: indexes[0]) == nil,
      "\(follower) applied an entry while cut off")
    simulator.connect(follower)
    try simulator.agree(command("106"), expectedNodes: 3)
    try simulator.run(for: 500)
    for index in indexes {
      try simulator.require(
        simulator.committedCount(at: index).count == 3, "index \(index) is not on every node after catch-up")
    }
  }

  @Test(
    "concurrent proposals in one term are all committed, at distinct indexes",
    arguments: scenarioSeeds)
  func concurrentProposals(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    let leader = try simulator.awaitLeader()
    let term = simulator.term(of: leader)
    var ids: [SimulatedProposal.ID] = []
    for value in 0..<5 {
      ids.append(try simulator.propose(command("concurrent \(value)"), on: leader))
    }
    try simulator.awaitSettled(ids, within: 3000)
    try simulator.require(simulator.term(of: leader) == term, "the term changed with no failure")
    var indexes: Set<UInt64> = []
    for id in ids {
      guard case .succeeded(let index, let entryTerm) = simulator.proposal(id).status else {
        throw simulator.failure("proposal \(id) did not succeed: \(simulator.proposal(id).status)")
      }
      try simulator.require(entryTerm == term, "proposal \(id) committed in term \(entryTerm)")
      indexes.insert(index)
    }
    try simulator.require(indexes.count == 5, "two proposals share an index: \(indexes.sorted())")
    try simulator.run(for: 500)
    try simulator.requireAcknowledgedEverywhere()
  }

  @Test("a stale leader's uncommitted entries are overwritten when it rejoins", arguments: scenarioSeeds)
  func staleLeaderOverwritten(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    try simulator.agree(command("101"), expectedNodes: 3)

    // The leader is cut off and takes proposals it can never commit.
    let leader1 = try simulator.awaitLeader()
    simulator.disconnect(leader1)
    var stale: [SimulatedProposal.ID] = []
    for value in 102...104 {
      stale.append(try simulator.propose(command("stale \(value)"), on: leader1))
    }
    // The two others elect a new leader and commit.
    try simulator.agree(command("103"), expectedNodes: 2)
    // The new leader is cut off; the old one returns.
    let leader2 = try simulator.awaitLeader()
    simulator.disconnect(leader2)
    simulator.connect(leader1)
    try simulator.agree(command("104"), expectedNodes: 2)
    // Everyone back.
    simulator.connect(leader2)
    try simulator.agree(command("105"), expectedNodes: 3)
    try simulator.run(for: 500)

    for id in stale {
      guard case .dropped = simulator.proposal(id).status else {
        throw simulator.failure("stale proposal \(id) was not dropped: \(simulator.proposal(id).status)")
      }
    }
    for node in simulator.nodeIDs {
      let applied = Set(simulator.appliedCommands(of: node))
      for value in 102...104 {
        try simulator.require(
          !applied.contains(command("stale \(value)")), "\(node) applied the stale entry \(value)")
      }
    }
  }

  @Test(
    "backup: a leader brings followers with 50-entry conflicting logs up to date (5 nodes)",
    arguments: scenarioSeeds)
  func backupOfConflictingLogs(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    try simulator.agree(command("start"), expectedNodes: 5)

    // The leader and one follower in a minority: 50 entries that never commit.
    let leader1 = try simulator.awaitLeader()
    let p = simulator.position(of: leader1)
    for offset in 2...4 { simulator.disconnect(simulator.node(p + offset)) }
    for value in 0..<50 {
      try simulator.propose(command("lost A\(value)"), on: leader1)
    }
    try simulator.run(for: 500)

    // The other three elect a leader and commit 50 entries.
    simulator.disconnect(simulator.node(p))
    simulator.disconnect(simulator.node(p + 1))
    for offset in 2...4 { simulator.connect(simulator.node(p + offset)) }
    for value in 0..<50 {
      try simulator.agree(command("kept B\(value)"), expectedNodes: 3)
    }

    // Their leader and one follower in a minority: another 50 entries that never commit.
    let leader2 = try simulator.awaitLeader()
    let other = [2, 3, 4].map { simulator.node(p + $0) }.first { $0 != leader2 }!
    simulator.disconnect(other)
    for value in 0..<50 {
      try simulator.propose(command("lost C\(value)"), on: leader2)
    }
    try simulator.run(for: 500)

    // The first minority returns with the remaining follower: they must agree over 50 entries.
    for id in simulator.nodeIDs { simulator.disconnect(id) }
    simulator.connect(simulator.node(p))
    simulator.connect(simulator.node(p + 1))
    simulator.connect(other)
    for value in 0..<50 {
      try simulator.agree(command("kept D\(value)"), expectedNodes: 3)
    }

    // Everyone.
    simulator.reconnectAll()
    try simulator.agree(command("end"), expectedNodes: 5)
    for id in simulator.nodeIDs {
      let applied = Set(simulator.appliedCommands(of: id))
      try simulator.require(
        !applied.contains { String(decoding: $0, as: UTF8.self).hasPrefix("lost") },
        "\(id) applied an entry of a minority")
    }
    try simulator.requireAcknowledgedEverywhere()
  }
}
