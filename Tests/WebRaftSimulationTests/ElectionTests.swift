import Testing
import WebRaft
import WebRaftTesting

/// Leader election on the simulator with the seed's default timeouts (the labs' 2A tests).
@Suite("Simulation: leader election")
struct ElectionTests {
  @Test(
    "initial election: a leader is elected and stays leader, in the same term, when nothing fails",
    arguments: scenarioSeeds)
  func initialElection(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    let leader = try simulator.awaitLeader(within: 2000)
    let term = simulator.term(of: leader)
    try simulator.require(term >= 1, "the leader is in term \(term)")
    try simulator.run(for: 3000)
    try simulator.require(simulator.establishedLeader() == leader, "the leader changed with no failure")
    try simulator.require(simulator.term(of: leader) == term, "the term changed with no failure")
    for id in simulator.nodeIDs {
      try simulator.require(simulator.core(of: id)?.leader == leader, "\(id) does not know the leader")
    }
  }

  @Test(
    "re-election: a new leader when the leader is cut off, no disruption when it rejoins, none in a minority",
    arguments: scenarioSeeds)
  func reElection(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    let leader1 = try simulator.awaitLeader()

    // The leader is cut off: the two others elect a new one.
    simulator.disconnect(leader1)
    let leader2 = try simulator.awaitLeader()
    try simulator.require(leader2 != leader1, "the cut-off leader \(leader1) is still the leader")

    // The old leader comes back: pre-vote keeps it from disturbing the new leader.
    simulator.connect(leader1)
    try simulator.run(for: 1000)
    try simulator.require(
      simulator.establishedLeader() == leader2, "the returning old leader displaced \(leader2)")

    // With only one node of three connected, nobody may be elected.
    let position2 = simulator.position(of: leader2)
    simulator.disconnect(leader2)
    simulator.disconnect(simulator.node(position2 + 1))
    try simulator.run(for: 2000)
    try simulator.requireNoLeader()

    // A quorum again: a leader is elected.
    simulator.connect(simulator.node(position2 + 1))
    _ = try simulator.awaitLeader()

    // Everyone back: still one leader.
    simulator.connect(leader2)
    _ = try simulator.awaitLeader()
  }

  @Test(
    "many elections: 9 rounds of cutting 3 random nodes of 7 always leave a leader",
    arguments: scenarioSeeds)
  func manyElections(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 7)
    _ = try simulator.awaitLeader()
    for _ in 0..<9 {
      var cut: [NodeID] = []
      while cut.count < 3 {
        let candidate = simulator.node(simulator.randomInt(0..<7))
        if !cut.contains(candidate) { cut.append(candidate) }
      }
      for id in cut { simulator.disconnect(id) }
      // Four of seven are connected: a majority, which must elect (or keep) a leader.
      _ = try simulator.awaitLeader()
      for id in cut { simulator.connect(id) }
    }
    _ = try simulator.awaitLeader()
  }
}
