import Foundation
import Testing

@testable import WebRaft

/// Joint membership changes through ``RaftNode``: the calls a user makes, on the in-memory network.
@Suite("Runtime: joint membership changes")
struct JointMembershipRuntimeTests {
  @Test(
    "replace(_:with:) adds the newcomer as a learner, then swaps it in for the old voter in one joint change")
  func replaceVoter() async throws {
    var cluster = try await SnapshotCluster(["a", "b", "c"]) { $0.snapshotEntryInterval = nil }
    let leader = try await cluster.leader()
    _ = try await cluster.nodes[leader]!.propose(Data("x=1".utf8))
    try await cluster.start("d", bootstrap: .empty, storage: InMemoryStorage())
    let leaving: NodeID = leader == "c" ? "b" : "c"
    var seen: [Membership] = []
    let events = cluster.nodes[leader]!.events
    let watcher = Task {
      var memberships: [Membership] = []
      for await event in events {
        if case .membershipChanged(let membership) = event { memberships.append(membership) }
        if memberships.last.map({ !$0.isJoint && $0.voters.contains("d") }) == true { break }
      }
      return memberships
    }
    try await cluster.nodes[leader]!.replace(leaving, with: "d")
    seen = await watcher.value
    let membership = await cluster.nodes[leader]!.committedMembership
    #expect(membership.voters == Set(["a", "b", "c", "d"]).subtracting([leaving]))
    #expect(!membership.isJoint)
    #expect(
      seen.contains { $0.isJoint && $0.outgoingVoters == ["a", "b", "c"] }, "no joint configuration: \(seen)")
    #expect(
      seen.contains { $0.learners.contains("d") && !$0.voters.contains("d") }, "d was never a learner first")
    #expect(await eventually { cluster.machines["d"]!.contents["x"] == "1" })
    _ = try await cluster.nodes[leader]!.propose(Data("y=2".utf8))
    #expect(await eventually { cluster.machines["d"]!.contents["y"] == "2" })
    await cluster.shutdown()
  }

  @Test("a second change while one is under way is refused with membershipChangeInProgress")
  func secondChangeRefused() async throws {
    let cluster = try await SnapshotCluster(["a", "b", "c"]) { $0.snapshotEntryInterval = nil }
    let leader = try await cluster.leader()
    let node = cluster.nodes[leader]!
    let others = ["a", "b", "c"].map { NodeID($0) }.filter { $0 != leader }
    // Cut the others off: the demotion cannot commit, so it stays uncommitted.
    for other in others { cluster.network.isolate(other) }
    let first = Task { try await node.changeMembership([.demote(others[0]), .demote(others[1])]) }
    #expect(await eventually { await node.membership.isJoint })
    await #expect(throws: RaftError.membershipChangeInProgress) {
      try await node.changeMembership(.addLearner("e"))
    }
    first.cancel()
    cluster.network.heal()
    _ = await first.result
    await cluster.shutdown()
  }

  @Test("changeVoters(to:) moves the cluster to the named voters and demote(_:) keeps a learner")
  func moveAndDemote() async throws {
    var cluster = try await SnapshotCluster(["a", "b", "c"]) { $0.snapshotEntryInterval = nil }
    let leader = try await cluster.leader()
    try await cluster.start("d", bootstrap: .empty, storage: InMemoryStorage())
    try await cluster.start("e", bootstrap: .empty, storage: InMemoryStorage())
    let kept: NodeID = leader
    try await cluster.nodes[leader]!.changeVoters(to: [kept: [:], "d": ["zone": "2"], "e": [:]])
    let membership = await cluster.nodes[leader]!.committedMembership
    #expect(membership.voters == [kept, "d", "e"])
    #expect(membership.attributes["d"] == ["zone": "2"])
    #expect(!membership.isJoint)
    let current = try await cluster.leader()
    try await cluster.nodes[current]!.demote("e")
    #expect(await cluster.nodes[current]!.committedMembership.learners.contains("e"))
    _ = try await cluster.nodes[current]!.propose(Data("z=3".utf8))
    #expect(await eventually { cluster.machines["e"]!.contents["z"] == "3" })
    await cluster.shutdown()
  }
}
