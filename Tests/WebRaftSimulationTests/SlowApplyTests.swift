import Testing
import WebRaft
import WebRaftTesting

/// A state machine slower than the election timeout, on the simulator: applying runs behind
/// replication, so it costs no election.
@Suite("Simulation: a slow state machine")
struct SlowApplySimulationTests {
  @Test(
    "with every batch taking 400 ms to apply, the leader keeps its term and commits run ahead of applying",
    arguments: scenarioSeeds)
  func slowStateMachineCausesNoElection(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    let leader = try simulator.awaitLeader()
    try simulator.agree(command("first"), expectedNodes: 3)
    let term = simulator.term(of: leader)
    // Longer than the heartbeat timeout (200 ms) and the election timeout (150–300 ms): a node
    // that waited for its state machine before stepping messages and ticking would let its
    // followers time out.
    simulator.applyDelay = 400...400
    var widestLag: UInt64 = 0
    for number in 0..<100 {
      _ = try simulator.propose(command("c\(number)"), on: leader)
      try simulator.run(for: 20)
      for id in simulator.nodeIDs {
        let commit = simulator.status(of: id)?.commitIndex ?? 0
        let applied = UInt64(simulator.appliedEntries(of: id).count)
        widestLag = max(widestLag, commit > applied ? commit - applied : 0)
      }
    }
    try simulator.require(
      simulator.establishedLeader() == leader && simulator.term(of: leader) == term,
      "the leadership changed: \(simulator.summary())")
    try simulator.require(widestLag >= 10, "the commit index ran at most \(widestLag) ahead of applying")
    simulator.applyDelay = 0...0
    try simulator.agree(command("last"), expectedNodes: 3)
    try simulator.requireAcknowledgedEverywhere()
  }
}
