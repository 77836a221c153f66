import Testing
import WebRaft
import WebRaftTesting

/// Joint consensus (dissertation §4.3) on the simulator: several voters change at once through a
/// joint configuration that needs a majority of the old voters and of the new ones, and the
/// leader leaves it on its own once it has committed.
@Suite("Simulation: joint consensus")
struct JointConsensusTests {
  /// Proposes `changes` on the established leader until they are committed.
  private func commit(_ changes: [MembershipChange], on simulator: ClusterSimulator) throws {
    for _ in 0..<20 {
      let leader = try simulator.awaitLeader()
      let id = try simulator.proposeMembershipChanges(changes, on: leader)
      try simulator.run(for: 2000) { $0.proposal(id).status != .pending }
      if case .succeeded = simulator.proposal(id).status { return }
      try simulator.run(for: 200)
    }
    throw simulator.failure("\(changes) were never committed")
  }

  /// Runs until the established leader's membership is `voters`, not joint, and committed.
  private func awaitMembership(_ voters: Set<NodeID>, on simulator: ClusterSimulator) throws {
    let reached = try simulator.run(for: 5000) { simulator in
      guard let leader = simulator.establishedLeader(), let core = simulator.core(of: leader) else {
        return false
      }
      return core.membership.voters == voters && !core.membership.isJoint
        && core.committedMembership == core.membership
    }
    let leader = simulator.currentLeader().flatMap { simulator.core(of: $0)?.membership }
    try simulator.require(
      reached, "the membership never became \(voters.sorted()): \(String(describing: leader))")
  }

  @Test(
    "moving a whole cluster to new members is one call, through a joint configuration",
    arguments: scenarioSeeds)
  func moveCluster(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 6, newcomers: 3)
    let old = Set((0..<3).map { simulator.node($0) })
    let new = Set((3..<6).map { simulator.node($0) })
    try simulator.agree(command("old"), expectedNodes: 3)
    for member in new.sorted() { try commit([.addLearner(member)], on: simulator) }
    try simulator.run(for: 500)

    let leader = try simulator.awaitLeader()
    let changes: [MembershipChange] = new.sorted().map { .promote($0) } + old.sorted().map { .remove($0) }
    let id = try simulator.proposeMembershipChanges(changes, on: leader)
    let entered = simulator.core(of: leader)!.membership
    try simulator.require(entered.isJoint, "the change is not joint: \(entered)")
    try simulator.require(entered.outgoingVoters == old && entered.voters == new, "joint: \(entered)")
    // A change proposed while joint is refused, not queued.
    let second = try simulator.proposeMembershipChange(.addLearner("late"), on: leader)
    try simulator.require(
      simulator.proposal(second).status == .failed(.membershipChangeInProgress),
      "a change during the joint configuration was \(simulator.proposal(second).status)")

    try simulator.run(for: 2000) { $0.proposal(id).status != .pending }
    try simulator.require(simulator.proposal(id).status.isSucceeded, "\(simulator.proposal(id).status)")
    try awaitMembership(new, on: simulator)
    let newLeader = try simulator.awaitLeader()
    try simulator.require(new.contains(newLeader), "\(newLeader) leads the new cluster")
    for member in new {
      try simulator.require(
        simulator.appliedMembership(of: member)?.voters == new, "\(member) applied another membership")
    }
    try simulator.agree(command("new"), expectedNodes: 3)
    try simulator.requireAcknowledgedEverywhere(among: new)
  }

  @Test("while joint, a majority of the old voters alone commits nothing", arguments: scenarioSeeds)
  func jointNeedsBothMajorities(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5, newcomers: 2)
    let ids = (0..<5).map { simulator.node($0) }
    try simulator.agree(command("start"), expectedNodes: 3)
    try commit([.addLearner(ids[3])], on: simulator)
    try commit([.addLearner(ids[4])], on: simulator)
    try simulator.run(for: 500)
    // Old {0,1,2}, new {2,3,4}: the newcomers are cut off as the joint entry is appended, so the
    // new configuration has no majority (only ids[2]).
    let leader = try simulator.awaitLeader()
    simulator.disconnect(ids[3])
    simulator.disconnect(ids[4])
    let changes: [MembershipChange] = [.promote(ids[3]), .promote(ids[4]), .remove(ids[0]), .remove(ids[1])]
    let id = try simulator.proposeMembershipChanges(changes, on: leader)
    try simulator.run(for: 1500)
    try simulator.require(
      !simulator.proposal(id).status.isSucceeded,
      "the joint entry committed with only the old majority: \(simulator.proposal(id).status)")
    for node in ids[0...2] {
      let membership = simulator.committedMembership(of: node)
      try simulator.require(membership?.isJoint != true, "\(node) committed the joint configuration")
    }
    simulator.connect(ids[3])
    simulator.connect(ids[4])
    try awaitMembership(Set(ids[2...4]), on: simulator)
    try simulator.agree(command("after"), expectedNodes: 3)
    try simulator.requireAcknowledgedEverywhere(among: Set(ids[2...4]))
  }

  @Test("replacing the leader: it leaves the joint configuration, then hands over", arguments: scenarioSeeds)
  func replaceLeader(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 4, newcomers: 1)
    let newcomer = simulator.node(3)
    try simulator.agree(command("start"), expectedNodes: 3)
    try commit([.addLearner(newcomer)], on: simulator)
    try simulator.run(for: 500)
    let leader = try simulator.awaitLeader()
    let others = Set((0..<3).map { simulator.node($0) }).subtracting([leader])
    let id = try simulator.proposeMembershipChanges([.remove(leader), .promote(newcomer)], on: leader)
    try simulator.run(for: 3000) { $0.proposal(id).status != .pending }
    try awaitMembership(others.union([newcomer]), on: simulator)
    let successor = try simulator.awaitLeader()
    try simulator.require(successor != leader, "the replaced leader \(leader) still leads")
    try simulator.agree(command("after"), expectedNodes: 3)
    try simulator.requireAcknowledgedEverywhere(among: others.union([newcomer]))
  }

  @Test("a voter demoted with another change becomes a learner that keeps the log", arguments: scenarioSeeds)
  func demote(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    let ids = (0..<5).map { simulator.node($0) }
    try simulator.agree(command("start"), expectedNodes: 5)
    try commit([.demote(ids[3]), .demote(ids[4])], on: simulator)
    try awaitMembership(Set(ids[0...2]), on: simulator)
    let leader = try simulator.awaitLeader()
    let membership = simulator.core(of: leader)!.membership
    try simulator.require(membership.learners == Set(ids[3...4]), "learners \(membership.learners.sorted())")
    let index = try simulator.agree(command("three voters"), expectedNodes: 5)
    try simulator.require(simulator.appliedEntry(of: ids[4], at: index) != nil, "the learner lags")
    try simulator.requireAcknowledgedEverywhere()
  }
}

extension SimulatedProposal.Status {
  var isSucceeded: Bool {
    if case .succeeded = self { return true }
    return false
  }
}
