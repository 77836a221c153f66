import Testing
import WebRaft
import WebRaftTesting

/// Single-server membership changes on the simulator (the seed's `join` and `leave`).
@Suite("Simulation: membership changes")
struct MembershipTests {
  /// Proposes `change` on the established leader until it is committed, and returns the leader
  /// that committed it.
  @discardableResult
  private func commit(_ change: MembershipChange, on simulator: ClusterSimulator) throws -> NodeID {
    for _ in 0..<20 {
      let leader = try simulator.awaitLeader()
      let id = try simulator.proposeMembershipChange(change, on: leader)
      try simulator.run(for: 2000) { $0.proposal(id).status != .pending }
      if case .succeeded = simulator.proposal(id).status { return leader }
      try simulator.run(for: 200)
    }
    throw simulator.failure("\(change) was never committed")
  }

  @Test(
    "removing a follower and the leader itself, then adding both back, keeps every commit",
    arguments: scenarioSeeds)
  func removeAndAddBack(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    try simulator.agree(command("five"), expectedNodes: 5)
    let leader = try simulator.awaitLeader()
    let follower = simulator.node(simulator.position(of: leader) + 1)

    // A follower leaves; the four others go on.
    try commit(.remove(follower), on: simulator)
    let four = try simulator.agree(command("four"), expectedNodes: 4)
    try simulator.run(for: 500)
    try simulator.require(
      simulator.appliedEntry(of: follower, at: four) == nil, "the removed \(follower) applied index \(four)")

    // The leader removes itself: it steps down once the change is committed and the three others
    // elect a new leader.
    let oldLeader = try simulator.awaitLeader()
    try commit(.remove(oldLeader), on: simulator)
    try simulator.run(for: 1000)
    let newLeader = try simulator.awaitLeader()
    try simulator.require(newLeader != oldLeader, "the removed leader \(oldLeader) still leads")
    try simulator.agree(command("three"), expectedNodes: 3)

    // Both come back, one as a learner first. Each is a learner to promote then, and the leader
    // promotes each once it has caught up.
    try commit(.addLearner(follower), on: simulator)
    try commit(.addVoter(follower), on: simulator)
    try commit(.addVoter(oldLeader), on: simulator)
    let promoted = try simulator.run(for: 5000) { simulator in
      simulator.currentLeader().flatMap { simulator.core(of: $0)?.membership.voters.count } == 5
    }
    try simulator.require(promoted, "\(follower) and \(oldLeader) were not both promoted")
    try simulator.agree(command("five again"), expectedNodes: 5)
    let voters = simulator.core(of: try simulator.awaitLeader())?.membership.voters ?? []
    try simulator.require(voters.count == 5, "the voters are \(voters.sorted())")
    try simulator.requireAcknowledgedEverywhere()
  }

  @Test(
    "membership changes while nodes crash and the network partitions keep every commit",
    arguments: scenarioSeeds)
  func changesUnderFaults(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    simulator.network.makeUnreliable(drop: 0.05)
    try simulator.agree(command("start"), expectedNodes: 5)
    for round in 0..<6 {
      let target = simulator.node(simulator.randomInt(0..<5))
      let leader = try simulator.awaitLeader()
      let voters = simulator.core(of: leader)?.membership.voters ?? []
      let change: MembershipChange =
        voters.contains(target) && voters.count > 3 ? .remove(target) : .addVoter(target)
      try simulator.proposeMembershipChange(change, on: leader)
      // A fault while the change is in flight.
      if round % 2 == 0 {
        try simulator.crash(simulator.node(simulator.randomInt(0..<5)))
      } else {
        simulator.disconnect(leader)
      }
      try simulator.run(for: 600)
      simulator.reconnectAll()
      try simulator.restartAll()
      try simulator.agree(command("round \(round)"), expectedNodes: 3)
    }
    // Everyone a voter again.
    for id in simulator.nodeIDs {
      let leader = try simulator.awaitLeader()
      if simulator.core(of: leader)?.membership.voters.contains(id) == false {
        try commit(.addVoter(id), on: simulator)
      }
    }
    simulator.network.makeReliable()
    try simulator.agree(command("end"), expectedNodes: 5)
    try simulator.requireAcknowledgedEverywhere()
  }
}
