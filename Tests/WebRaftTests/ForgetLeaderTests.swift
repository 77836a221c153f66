import Testing
import WebRaft

@Suite("forgetLeader: a follower stops trusting its leader")
struct ForgetLeaderTests {
  @Test(
    "a follower ignores another candidate while it hears its leader, and grants the vote once it forgot it")
  func forgottenLeaderFreesTheVote() throws {
    var follower = try makeCore("a", voters: ["a", "b", "c"], terms: [1], term: 1)
    follower.tick(now: 1000)
    follower.step(append("b", "a", term: 1, prevIndex: 1, prevTerm: 1))
    #expect(follower.leader == "b")
    _ = follower.drain()
    // Within the leader's lease, c's vote request is ignored (check-quorum).
    follower.tick(now: 1010)
    follower.step(voteRequest("c", "a", term: 2, lastIndex: 1, lastTerm: 1))
    #expect(voteResponses(in: follower.drainMessages()).isEmpty)
    #expect(follower.term == 1)

    follower.forgetLeader()
    #expect(follower.leader == nil)
    follower.step(voteRequest("c", "a", term: 2, lastIndex: 1, lastTerm: 1))
    let responses = voteResponses(in: follower.drainMessages())
    #expect(responses.count == 1 && responses.first?.response.granted == true)
    #expect(follower.votedFor == "c")
  }

  @Test("forgetLeader does nothing on a leader")
  func leaderKeepsItsRole() throws {
    var leader = try makeLeader()
    let term = leader.term
    leader.forgetLeader()
    #expect(leader.role == .leader && leader.leader == leader.id && leader.term == term)
  }
}
