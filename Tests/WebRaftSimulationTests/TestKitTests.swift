import Foundation
import Testing
import WebRaft
import WebRaftTesting

/// What the simulator offers scenario writers beyond faults: brand-new nodes, partition-aware
/// helpers and the committed configuration.
@Suite("Simulation: the test kit")
struct TestKitTests {
  @Test(
    "a brand-new node with empty storage joins as a learner, catches up, and is promoted",
    arguments: scenarioSeeds)
  func newcomerJoins(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 4, newcomers: 1)
    #expect(simulator.committedMembership(of: "n4") == .empty)
    for number in 0..<20 {
      try simulator.agree(command("before \(number)"), expectedNodes: 3)
    }
    let leader = try simulator.awaitLeader()
    #expect(leader != "n4")
    try simulator.proposeMembershipChange(.addVoter("n4"), on: leader)
    let promoted = try simulator.run(for: 5000) { simulator in
      simulator.establishedLeader().flatMap { simulator.committedMembership(of: $0) }?.voters.contains("n4")
        ?? false
    }
    try simulator.require(promoted, "n4 was not promoted; \(simulator.summary())")
    try simulator.agree(command("after"), expectedNodes: 4)
    #expect(simulator.appliedCommands(of: "n4").count == 21)
    #expect(simulator.appliedMembership(of: "n4")?.voters == ["n1", "n2", "n3", "n4"])
  }

  @Test(
    "establishedLeader does not name a leader a partition cut off from its quorum", arguments: scenarioSeeds)
  func partitionAwareLeader(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    let leader = try simulator.awaitLeader()
    try simulator.agree(command("first"), expectedNodes: 5)
    let others = simulator.nodeIDs.filter { $0 != leader }
    simulator.network.partition([[leader, others[0]], Array(others[1...])])
    // At once, before any timeout: the old leader still believes it leads, but can reach only one
    // follower.
    #expect(simulator.core(of: leader)?.role == .leader)
    #expect(simulator.establishedLeader() == nil)
    #expect(!simulator.canReach(leader, others[1]) && simulator.canReach(leader, others[0]))
    let newLeader = try simulator.awaitLeader()
    #expect(newLeader != leader && newLeader != others[0])
    try simulator.agree(command("second"), expectedNodes: 3)
  }
}
