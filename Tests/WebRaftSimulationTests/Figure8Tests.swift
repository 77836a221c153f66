import Testing
import WebRaft
import WebRaftTesting

/// The scenario of Figure 8 of the Raft paper, scripted step by step.
@Suite("Simulation: Figure 8 of the Raft paper")
struct Figure8Tests {
  /// Runs until `condition` holds, or fails naming `what`.
  private func waitFor(
    _ simulator: ClusterSimulator, _ what: String, within timeout: UInt64 = 5000,
    _ condition: (ClusterSimulator) -> Bool
  ) throws {
    try simulator.run(for: timeout, until: condition)
    try simulator.require(
      condition(simulator), "\(what) did not happen within \(timeout) ms; \(simulator.summary())")
  }

  @Test(
    "Figure 8: an entry of an earlier term stored on a majority is not committed until an entry of the leader's term is",
    arguments: scenarioSeeds)
  func earlierTermEntryIsNotCommittedByCounting(seed: UInt64) throws {
    // One entry per append and one append in flight, so that the new leader's no-op travels after
    // the earlier term's entry and can be cut off between the two.
    var configuration = RaftConfiguration()
    configuration.maxEntriesPerAppend = 1
    configuration.maxInflightAppends = 1
    let simulator = try ClusterSimulator(seed: seed, nodes: 5, configuration: configuration)
    // S5's no-op must not leave before S5 is cut off: no appends sent while a write is under way.
    simulator.sendsEarlyMessages = false
    let base = try simulator.agree(command("base"), expectedNodes: 5)
    let s1 = try simulator.awaitLeader()
    let others = simulator.nodeIDs.filter { $0 != s1 }
    let s2 = others[0]
    let rest = Array(others[1...])  // S3, S4, S5 in the paper

    // (a) S1 leads and replicates an entry of its term to S2 only.
    simulator.network.partition([[s1, s2], rest])
    let proposal = try simulator.propose(command("term-2 entry"), on: s1)
    guard case .appended(let index, let entryTerm)? = simulator.proposal(proposal).ticket else {
      throw simulator.failure("S1 did not append the proposal")
    }
    try simulator.require(index == base + 1, "the entry went to index \(index), not \(base + 1)")
    try waitFor(simulator, "replication to S2") { $0.core(of: s2)?.term(at: index) == entryTerm }

    // (b) S1 crashes; S5 (whichever of the three wins) is elected and appends its no-op at the same
    // index, but is cut off before it reaches anyone.
    try simulator.crash(s1)
    try waitFor(simulator, "an election among S3, S4, S5") { simulator in
      rest.contains { simulator.core(of: $0)?.role == .leader }
    }
    let s5 = rest.first { simulator.core(of: $0)?.role == .leader }!
    simulator.disconnect(s5)
    let s5Term = simulator.term(of: s5)
    try simulator.require(
      simulator.core(of: s5)?.term(at: index) == s5Term, "S5 holds no entry of its term at index \(index)")
    let middle = rest.filter { $0 != s5 }  // S3 and S4

    // (c) S1 restarts and, with S2, S3 and S4, a leader holding the term-2 entry is elected (S1 or
    // S2). It replicates the term-2 entry, then its own no-op, one append at a time.
    try simulator.restart(s1)
    simulator.network.partition([[s1, s2] + middle, [s5]])
    try waitFor(simulator, "an election among S1, S2, S3, S4") { simulator in
      [s1, s2].contains { simulator.core(of: $0)?.role == .leader }
    }
    let leader = [s1, s2].first { simulator.core(of: $0)?.role == .leader }!
    let follower = leader == s1 ? s2 : s1
    // The moment the leader commits the index (counting the term-2 entry on a majority would be
    // the Figure 8 bug), it is cut off.
    try waitFor(simulator, "the commit of index \(index)", within: 10_000) {
      ($0.core(of: leader)?.commitIndex ?? 0) >= index
    }
    simulator.disconnect(leader)

    // (d) S5 comes back with S3 and S4, a majority. If the leader committed the index by counting
    // the term-2 entry on S1, S2 and S3, S3 and S4 may lack the leader's no-op and elect S5, which
    // would overwrite a committed entry: the invariant checker fails the test. Committing only with
    // an entry of the leader's own term puts that entry on S3 or S4, and S5 cannot win.
    simulator.network.partition([[s5] + middle, [leader, follower]])
    simulator.connect(s5)
    try simulator.run(for: 3000)

    // Everyone back: the cluster agrees and keeps every committed entry.
    simulator.reconnectAll()
    simulator.network.partition([simulator.nodeIDs])
    try simulator.agree(command("after"), expectedNodes: 5)
    try simulator.requireAcknowledgedEverywhere()
  }
}
