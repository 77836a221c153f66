import Foundation
import Testing
import WebRaft
import WebRaftTesting

/// The invariant checker catches each kind of violation it promises to catch.
@Suite("Simulation: the invariant checker catches violations")
struct InvariantCheckerTests {
  private let seed: UInt64 = 99

  private func entry(_ index: UInt64, _ term: UInt64, _ text: String = "x") -> LogEntry {
    LogEntry(index: index, term: term, payload: .command(Data(text.utf8)))
  }

  private func core(
    _ id: NodeID, voters: Set<NodeID> = ["n1", "n2", "n3"], term: UInt64 = 0, vote: NodeID? = nil,
    commit: UInt64 = 0, entries: [LogEntry] = []
  ) throws -> RaftCore {
    let state = PersistentState(
      hardState: HardState(term: term, votedFor: vote, commitIndex: commit),
      snapshot: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: voters)),
      entries: entries)
    return try RaftCore(id: id, state: state, seed: 1)
  }

  /// Runs `body` and checks that it throws a failure naming the seed and mentioning `words`.
  private func expectViolation(
    _ words: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
  ) {
    do {
      try body()
      Issue.record("no violation reported; expected one about \(words)", sourceLocation: sourceLocation)
    } catch let failure as SimulationFailure {
      #expect(failure.description.contains(words), "\(failure)", sourceLocation: sourceLocation)
      #expect(failure.description.contains("seed \(seed)"), sourceLocation: sourceLocation)
    } catch {
      Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test("two leaders in one term break election safety")
  func twoLeaders() throws {
    var first = try core("n1", voters: ["n1"])
    var second = try core("n2", voters: ["n2"])
    first.tick(now: 1000)
    second.tick(now: 1000)
    #expect(first.role == .leader && second.role == .leader && first.term == second.term)
    var checker = InvariantChecker(seed: seed, nodes: ["n1", "n2"])
    // Neither leadership could be seen yet (no message, nothing durable): no violation so far.
    try checker.nodeStarted(first)
    try checker.nodeStarted(second)
    try checker.stored(HardState(term: first.term, votedFor: "n1"), on: "n1")
    try checker.observe(first)
    expectViolation("election safety") {
      try checker.stored(HardState(term: second.term, votedFor: "n2"), on: "n2")
      try checker.observe(second)
    }
  }

  @Test("two different entries with the same index and term break log matching")
  func differentEntries() throws {
    var checker = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    let first = try core("n1", term: 1, entries: [entry(1, 1, "a")])
    let second = try core("n2", term: 1, entries: [entry(1, 1, "b")])
    expectViolation("log matching") {
      try checker.nodeStarted(first)
      try checker.nodeStarted(second)
    }
  }

  @Test("the same entry after different prefixes breaks log matching")
  func differentPrefixes() throws {
    var checker = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    let first = try core("n1", term: 2, entries: [entry(1, 1), entry(2, 2, "same")])
    let second = try core("n2", term: 2, entries: [entry(1, 2), entry(2, 2, "same")])
    expectViolation("log matching") {
      try checker.nodeStarted(first)
      try checker.nodeStarted(second)
    }
  }

  @Test("a leader without a committed entry breaks leader completeness")
  func leaderMissesCommittedEntry() throws {
    var checker = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    let follower = try core("n1", term: 1, commit: 2, entries: [entry(1, 1), entry(2, 1)])
    var leader = try core("n2", voters: ["n2"], term: 1, entries: [entry(1, 1)])
    leader.tick(now: 1000)
    #expect(leader.role == .leader)
    expectViolation("leader completeness") {
      try checker.nodeStarted(follower)
      try checker.nodeStarted(leader)
      try checker.checkLeaderCompleteness(leader)
    }
  }

  @Test("applying an uncommitted entry, a different entry or out of order breaks the state machine checks")
  func badApplies() throws {
    var checker = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    let node = try core("n1", term: 1, commit: 1, entries: [entry(1, 1), entry(2, 1)])
    try checker.nodeStarted(node)
    expectViolation("committed there has term 1") {
      try checker.applied(entry(1, 2), on: "n1")
    }
    var second = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    try second.nodeStarted(node)
    expectViolation("when index 1 was next") {
      try second.applied(entry(2, 1), on: "n1")
    }
    var third = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    try third.nodeStarted(node)
    expectViolation("no node knows committed") {
      try third.applied(entry(1, 1), on: "n1")
      try third.applied(entry(2, 1), on: "n1")
    }
  }

  @Test("a restart in a term below one the node sent messages in is a term going backwards")
  func termBackwardsAcrossRestart() throws {
    var checker = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    try checker.nodeStarted(try core("n1", term: 3))
    try checker.sent(RaftMessage(from: "n1", to: "n2", term: 5, body: .heartbeat(Heartbeat(commit: 0))))
    try checker.nodeCrashed("n1")
    expectViolation("went backwards") {
      try checker.nodeStarted(try! core("n1", term: 3))
    }
  }

  @Test("a restart that forgets a vote cast in its term is caught")
  func forgottenVote() throws {
    var checker = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    try checker.nodeStarted(try core("n1", term: 4))
    try checker.sent(
      RaftMessage(
        from: "n1", to: "n2", term: 4, body: .voteResponse(VoteResponse(preVote: false, granted: true))))
    try checker.nodeCrashed("n1")
    expectViolation("forgot its vote") {
      try checker.nodeStarted(try! core("n1", term: 4, vote: nil))
    }
  }

  @Test("a durable term or vote that goes backwards is caught")
  func durableStateBackwards() throws {
    var checker = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    try checker.stored(HardState(term: 5, votedFor: "n2"), on: "n1")
    expectViolation("stored vote") {
      try checker.stored(HardState(term: 5, votedFor: "n3"), on: "n1")
    }
    expectViolation("stored term 4") {
      try checker.stored(HardState(term: 4), on: "n1")
    }
  }

  @Test("an acknowledged proposal missing from a later leader's log is caught")
  func acknowledgedProposalMissing() throws {
    var checker = InvariantChecker(seed: seed, nodes: ["n1", "n2", "n3"])
    var leader = try core("n2", voters: ["n2"], term: 1, entries: [entry(1, 1)])
    leader.tick(now: 1000)
    checker.acknowledged(index: 2, term: 1, nodeTerm: 1)
    expectViolation("is missing from the log of n2") {
      try checker.nodeStarted(leader)
      try checker.checkLeaderCompleteness(leader)
    }
  }
}

@Suite("Simulation: the invariant checker sees commits without a durable quorum")
struct QuorumCommitCheckTests {
  /// A one-voter leader that has committed its first entry, and that entry.
  private func committedLeader() throws -> (RaftCore, [LogEntry]) {
    let state = PersistentState(
      hardState: HardState(term: 0, votedFor: nil, commitIndex: 0),
      snapshot: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: ["n1"])), entries: [])
    var leader = try RaftCore(id: "n1", state: state, seed: 1)
    leader.tick(now: 1000)
    let entries = leader.ready()?.entries ?? []
    leader.advance()
    return (leader, entries)
  }

  @Test("a leader's commit that no majority stores durably is reported; a stored one is not")
  func commitWithoutDurableQuorum() throws {
    let (leader, entries) = try committedLeader()
    #expect(leader.role == .leader && leader.commitIndex >= 1 && !entries.isEmpty)
    var unstored = InvariantChecker(seed: 99, nodes: ["n1"])
    do {
      try unstored.observe(leader)
      Issue.record("no violation reported for a commit nobody stored")
    } catch {
      #expect(error.description.contains("held durably only by"), "\(error)")
    }
    var stored = InvariantChecker(seed: 99, nodes: ["n1"])
    try stored.stored(entries, after: 0, on: "n1")
    try stored.observe(leader)
  }
}
