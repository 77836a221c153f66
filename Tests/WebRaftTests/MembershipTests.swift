import Testing

@testable import WebRaft

@Suite("Membership: voters, learners and single-server changes")
struct MembershipTests {
  @Test("a member is a voter or a learner, never both; the quorum is a majority of voters")
  func basics() {
    let membership = Membership(
      voters: ["a", "b", "c"], learners: ["c", "d"], learnersToPromote: ["a", "d"])
    #expect(membership.learners == ["d"], "a voter listed as a learner is a voter")
    #expect(membership.learnersToPromote == ["d"], "only learners can be waiting for promotion")
    #expect(membership.members == ["a", "b", "c", "d"])
    #expect(membership.contains("d"))
    #expect(!membership.contains("e"))
    let literal: Membership = ["x", "y"]
    #expect(literal == Membership(voters: ["x", "y"]))
    #expect(Membership.empty.members.isEmpty)
  }

  @Test(
    "the quorum is a strict majority of the voters",
    arguments: [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (6, 4), (7, 4)])
  func quorum(voters: Int, quorum: Int) {
    let names = (0..<voters).map { NodeID("n\($0)") }
    let membership = Membership(voters: Set(names), learners: ["l1", "l2"])
    #expect(membership.isQuorum(Set(names.prefix(quorum))))
    #expect(!membership.isQuorum(Set(names.prefix(quorum - 1)).union(["l1", "l2"])))
  }

  @Test("addVoter of a new node adds it as a learner to promote once it has caught up")
  func addVoterJoinsAsLearner() throws {
    let start = Membership(voters: ["a", "b", "c"])
    let next = try start.applying(.addVoter("d", attributes: ["address": "d:7000"]))
    #expect(next.voters == ["a", "b", "c"], "a new, empty node never counts in a quorum at once")
    #expect(next.learners == ["d"])
    #expect(next.learnersToPromote == ["d"])
    #expect(next.attributes["d"] == ["address": "d:7000"])
    #expect(start == Membership(voters: ["a", "b", "c"]), "applying returns a new value")
  }

  @Test("addVoter of a learner marks it for promotion; it stays a learner until the leader promotes it")
  func addVoterMarksLearnerForPromotion() throws {
    let plainLearner = Membership(voters: ["a"], learners: ["r"])
    let next = try plainLearner.applying(.addVoter("r", attributes: ["address": "r:7000"]))
    #expect(next.voters == ["a"], "the learner may lag: it does not count in a quorum yet")
    #expect(next.learners == ["r"])
    #expect(next.learnersToPromote == ["r"])
    #expect(next.attributes["r"] == ["address": "r:7000"])
    // Asking again changes nothing (a retried join).
    #expect(try next.applying(.addVoter("r")) == next)
  }

  @Test("promoting a learner makes it a voter")
  func promotingMakesVoter() {
    let start = Membership(voters: ["a", "b", "c"], learners: ["d"], learnersToPromote: ["d"])
    let next = start.promoting("d")
    #expect(next.voters == ["a", "b", "c", "d"])
    #expect(next.learners.isEmpty)
    #expect(next.learnersToPromote.isEmpty)
  }

  @Test("addLearner adds a non-voting member that is not promoted")
  func addLearner() throws {
    let next = try Membership(voters: ["a"]).applying(.addLearner("r", attributes: ["role": "replica"]))
    #expect(next.learners == ["r"])
    #expect(next.learnersToPromote.isEmpty)
    #expect(next.voters == ["a"])
    #expect(next.attributes["r"] == ["role": "replica"])
  }

  @Test("remove takes a voter or a learner out, with its attributes")
  func remove() throws {
    let start = Membership(
      voters: ["a", "b", "c"], learners: ["d", "e"], attributes: ["b": ["k": "v"], "d": ["k": "w"]],
      learnersToPromote: ["d"])
    let withoutVoter = try start.applying(.remove("b"))
    #expect(withoutVoter.voters == ["a", "c"])
    #expect(withoutVoter.attributes["b"] == nil)
    #expect(withoutVoter.attributes["d"] == ["k": "w"])
    let withoutLearner = try start.applying(.remove("d"))
    #expect(withoutLearner.learners == ["e"])
    #expect(withoutLearner.learnersToPromote.isEmpty)
    #expect(withoutLearner.attributes["d"] == nil)
  }

  struct RefusedChange: Sendable, CustomTestStringConvertible {
    var change: MembershipChange
    var reason: String
    var testDescription: String { "\(change)" }
  }

  @Test(
    "a change that does not apply is refused with membershipChangeRejected saying why",
    arguments: [
      RefusedChange(change: .addVoter("a"), reason: "a is already a voter"),
      RefusedChange(change: .addLearner("a"), reason: "a is already a member"),
      RefusedChange(change: .addLearner("l"), reason: "l is already a member"),
      RefusedChange(change: .remove("z"), reason: "z is not a member"),
    ])
  func refusedChanges(refused: RefusedChange) {
    let membership = Membership(voters: ["a", "b"], learners: ["l"])
    #expect(throws: RaftError.membershipChangeRejected(refused.reason)) {
      try membership.applying(refused.change)
    }
  }

  @Test("the last voter cannot be removed")
  func lastVoterStays() {
    #expect(throws: RaftError.membershipChangeRejected("a is the last voter; a cluster cannot be emptied")) {
      try Membership(voters: ["a"], learners: ["l"]).applying(.remove("a"))
    }
  }
}
