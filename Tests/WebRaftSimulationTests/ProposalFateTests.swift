import Foundation
import Testing
import WebRaft
import WebRaftTesting

/// When a proposal ends: as soon as the node can know that it will never be applied, and within
/// about two election timeouts when it can no longer learn its fate at all.
@Suite("Simulation: proposals end as soon as their fate is known")
struct ProposalFateTests {
  @Test(
    "a cut-off leader's proposals end dropped once the new leader's entries commit, also the one at an index nothing was written to again",
    arguments: scenarioSeeds)
  func truncatedProposalsAreDropped(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    let oldLeader = try simulator.awaitLeader()
    try simulator.agree(command("before"), expectedNodes: 3)
    simulator.disconnect(oldLeader)
    let cutOff = try (1...3).map { number in
      try simulator.propose(command("cut-off \(number)"), on: oldLeader)
    }
    for id in cutOff {
      guard case .appended = simulator.proposal(id).ticket else {
        Issue.record("the old leader did not append \(id)")
        return
      }
    }
    // The others elect a leader, which writes its no-op and one command: two entries.
    let found = try simulator.run(for: 3000) { simulator in
      simulator.currentLeader(connectedOnly: true).map { $0 != oldLeader } ?? false
    }
    try #require(found)
    let newLeader = try #require(simulator.currentLeader(connectedOnly: true))
    let written = try simulator.propose(command("new leader"), on: newLeader)
    try simulator.awaitSettled([written], within: 2000)
    #expect(simulator.proposal(written).isAcknowledged)

    simulator.connect(oldLeader)
    // Well under one election timeout: the old leader hears the new leader's next heartbeat.
    try simulator.awaitSettled(cutOff, within: 200)
    for id in cutOff {
      guard case .dropped = simulator.proposal(id).status else {
        Issue.record("proposal \(id) ended as \(simulator.proposal(id).status), not dropped")
        continue
      }
    }
  }

  @Test(
    "a proposal forwarded to a leader that never got it ends within two election timeouts, saying it may have been applied",
    arguments: scenarioSeeds)
  func lostForwardEndsWithUnknownOutcome(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    let leader = try simulator.awaitLeader()
    try simulator.agree(command("before"), expectedNodes: 3)
    let follower = simulator.nodeIDs.first { $0 != leader }!
    simulator.disconnect(leader)
    let forwarded = try simulator.propose(command("forwarded"), on: follower)
    guard case .forwarded(let target)? = simulator.proposal(forwarded).ticket else {
      Issue.record("the follower did not forward the proposal")
      return
    }
    #expect(target == leader)
    let limit = 2 * simulator.configuration.electionTimeout.upperBound.wholeMillisecondsForTests + 50
    try simulator.awaitSettled([forwarded], within: limit)
    guard case .failed(.proposalOutcomeUnknown) = simulator.proposal(forwarded).status else {
      Issue.record("the lost forward ended as \(simulator.proposal(forwarded).status)")
      return
    }
  }
}

extension Duration {
  /// Whole milliseconds, for test arithmetic.
  var wholeMillisecondsForTests: UInt64 {
    let (seconds, attoseconds) = components
    return UInt64(seconds) * 1000 + UInt64(attoseconds / 1_000_000_000_000_000)
  }
}
