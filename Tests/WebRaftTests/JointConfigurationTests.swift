import Testing

@testable import WebRaft

/// The arithmetic of joint configurations (dissertation §4.3) and how a set of changes becomes
/// one configuration entry.
@Suite("Joint configurations: quorums and transitions")
struct JointConfigurationTests {
  static let joint = Membership(voters: ["c", "d", "e"], outgoingVoters: ["a", "b", "c"])

  @Test("a joint commit index is what a majority of both voter sets holds")
  func jointCommitIndex() {
    let match: [NodeID: UInt64] = ["a": 9, "b": 9, "c": 5, "d": 3, "e": 1]
    // Old {a,b,c} holds 9; new {c,d,e} holds 3: the joint index is 3.
    func committed(_ membership: Membership) -> UInt64 {
      Quorum.committedIndex(voters: membership.voters, outgoing: membership.outgoingVoters) { match[$0]! }
    }
    #expect(committed(Self.joint) == 3)
    #expect(committed(Self.joint.leavingJoint) == 3)
    #expect(committed(Membership(voters: ["a", "b", "c"])) == 9)
  }

  struct VoteCase: Sendable, CustomTestStringConvertible {
    var votes: [NodeID: Bool]
    var expected: Quorum.VoteResult
    var testDescription: String { "\(votes.sorted { $0.key < $1.key }) -> \(expected)" }
  }

  @Test(
    "a joint election needs both majorities and is lost when either refuses",
    arguments: [
      VoteCase(votes: ["a": true, "b": true, "c": true], expected: .pending),
      VoteCase(votes: ["a": true, "b": true, "c": true, "d": true], expected: .won),
      VoteCase(votes: ["c": true, "d": true, "e": true], expected: .pending),
      VoteCase(votes: ["a": false, "b": false, "c": true, "d": true], expected: .lost),
      VoteCase(votes: ["d": false, "e": false, "a": true, "b": true], expected: .lost),
      VoteCase(votes: ["a": true, "d": true], expected: .pending),
    ])
  func jointVotes(example: VoteCase) {
    #expect(Quorum.voteResult(in: Self.joint, votes: example.votes) == example.expected)
  }

  @Test("a joint leader is active only when both majorities answered")
  func jointActivity() {
    #expect(!Quorum.isActive(in: Self.joint, me: "c") { ["a"].contains($0) })
    #expect(!Quorum.isActive(in: Self.joint, me: "c") { ["d"].contains($0) })
    #expect(Quorum.isActive(in: Self.joint, me: "c") { ["a", "d"].contains($0) })
    #expect(Self.joint.isQuorum(["a", "c", "d"]))
    #expect(!Self.joint.isQuorum(["a", "b", "d"]))
  }

  @Test("a lease holds from the later of the two majorities' confirmations")
  func jointMajorityTime() {
    let times: [NodeID: UInt64] = ["a": 100, "b": 90, "c": 80, "d": 50, "e": 40]
    #expect(Quorum.majorityTime(in: Self.joint) { times[$0] } == 50)
    #expect(Quorum.majorityTime(in: Self.joint) { $0 == "e" || $0 == "d" ? nil : times[$0] } == nil)
  }

  @Test("several changes that move two voters make a joint configuration; one voter makes a plain entry")
  func transitions() throws {
    let start = Membership(voters: ["a", "b", "c"], learners: ["l"], attributes: ["c": ["x": "1"]])
    let replace = try start.transition(for: [.promote("l"), .remove("c")])
    #expect(replace.isJoint)
    #expect(replace.outgoingVoters == ["a", "b", "c"])
    #expect(replace.voters == ["a", "b", "l"])
    #expect(replace.attributes["c"] == ["x": "1"], "an outgoing voter stays reachable while joint")
    #expect(replace.leavingJoint.attributes["c"] == nil)
    #expect(replace.leavingJoint == Membership(voters: ["a", "b", "l"]))

    let plain = try start.transition(for: [.addLearner("m"), .remove("c")])
    #expect(!plain.isJoint)
    #expect(plain.voters == ["a", "b"])
    #expect(plain.learners == ["l", "m"])

    let demote = try start.transition(for: [.demote("a"), .demote("b")])
    #expect(demote.isJoint && demote.voters == ["c"] && demote.learners == ["a", "b", "l"])
    #expect(demote.members == ["a", "b", "c", "l"])
  }

  @Test(
    "a set of changes is refused with a reason when it cannot apply",
    arguments: [
      [MembershipChange](),
      [.remove("a"), .remove("a")],
      [.addVoter("a"), .remove("b")],
      [.promote("a"), .remove("b")],
      [.demote("l"), .remove("b")],
      [.remove("a"), .remove("b"), .remove("c")],
      [.remove("z"), .remove("a")],
    ])
  func refused(changes: [MembershipChange]) {
    let start = Membership(voters: ["a", "b", "c"], learners: ["l"])
    #expect(throws: RaftError.self) { try start.transition(for: changes) }
  }

  @Test("no change starts while the configuration is joint")
  func noChangeWhileJoint() {
    #expect(throws: RaftError.self) { try Self.joint.transition(for: [.addLearner("x")]) }
  }

  @Test("promote and demote alone: a promotion waits for the learner to catch up, a demotion is at once")
  func singlePromoteAndDemote() throws {
    let start = Membership(voters: ["a", "b", "c"], learners: ["l"])
    let promoted = try start.applying(.promote("l"))
    #expect(promoted.voters == ["a", "b", "c"] && promoted.learnersToPromote == ["l"])
    let demoted = try start.applying(.demote("c"))
    #expect(demoted.voters == ["a", "b"] && demoted.learners == ["c", "l"])
    #expect(throws: RaftError.self) { try Membership(voters: ["a"]).applying(.demote("a")) }
  }

  @Test("a joint leader commits an entry only once a majority of each voter set holds it")
  func jointLeaderCommitsWithBothMajorities() throws {
    let joint = Membership(voters: ["a", "d", "e"], outgoingVoters: ["a", "b", "c"])
    let state = PersistentState(
      hardState: HardState(), snapshot: SnapshotMetadata(index: 0, term: 0, membership: joint),
      entries: [])
    var leader = try RaftCore(
      id: "a", configuration: testConfiguration(preVote: false), state: state, seed: 1, now: 0)
    leader.votesHeldUntil = 0
    leader.campaign()
    leader.step(voteResponse("b", term: 1, granted: true))
    leader.step(voteResponse("d", term: 1, granted: true))
    #expect(leader.role == .leader)
    leader.drain()
    #expect(leader.lastIndex == 1 && leader.commitIndex == 0)

    // The incoming voters a, d, e hold the no-op; of the outgoing a, b, c only a does.
    leader.step(appendAccepted("d", term: 1, index: 1))
    leader.step(appendAccepted("e", term: 1, index: 1))
    leader.drain()
    #expect(leader.commitIndex == 0, "a majority of the outgoing voters does not hold entry 1")

    leader.step(appendAccepted("b", term: 1, index: 1))
    leader.drain()
    #expect(leader.commitIndex == 1)
  }
}
