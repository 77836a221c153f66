import Testing

@testable import WebRaft

// A follower that hears from a leader ignores vote requests for a heartbeat timeout, which is
// what keeps the leader's lease safe. A node that restarts has forgotten when it last heard a
// leader, so it treats its start as such contact: otherwise it could help elect a new leader
// while the old one still serves lease reads.

@Suite("Restarted voters hold their vote while a lease they acknowledged may run")
struct RestartedVoterTests {
  /// Follower a, restarted at 1000 ms from storage holding term 1 and entries of term 1, with no
  /// vote cast.
  private func restartedFollower(configuration: RaftConfiguration = testConfiguration()) throws -> RaftCore {
    try makeCore(
      "a", terms: [1, 1], term: 1, configuration: configuration, now: 1000, holdsVoteAtStart: true)
  }

  @Test(
    "check-quorum: a restarted node grants no vote nor pre-vote for a heartbeat timeout after it starts, as if it had just heard a leader"
  )
  func restartedNodeHoldsItsVote() throws {
    var core = try restartedFollower()
    core.tick(now: 1001)
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1))
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1, preVote: true))
    #expect(core.term == 1, "the request does not disrupt the term either")
    #expect(voteResponses(in: core.drainMessages()).allSatisfy { !$0.response.granted })

    // Something else moves it to term 2 without a leader: it still grants nothing.
    core.step(
      message(
        "b", "a", term: 2,
        .appendEntriesResponse(AppendEntriesResponse(success: false, index: 0, conflictIndex: 1))))
    #expect(core.term == 2)
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1))
    core.step(voteRequest("c", term: 3, lastIndex: 5, lastTerm: 1, preVote: true))
    #expect(core.votedFor == nil)
    #expect(voteResponses(in: core.drainMessages()).allSatisfy { !$0.response.granted })

    // Once a heartbeat timeout passed since the start, it votes as usual.
    core.tick(now: 1199)
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1))
    #expect(core.votedFor == nil)
    core.tick(now: 1200)
    #expect(core.role == .follower)
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1))
    #expect(core.votedFor == "c")
    #expect(voteResponses(in: core.drainMessages()).contains { $0.response.granted })
  }

  @Test("a restarted node votes at once for a leadership transfer, which the old leader asked for")
  func restartedNodeVotesForLeadershipTransfer() throws {
    var core = try restartedFollower()
    core.tick(now: 1001)
    core.step(
      message(
        "c", "a", term: 2,
        .voteRequest(VoteRequest(preVote: false, lastLogIndex: 5, lastLogTerm: 1, leadershipTransfer: true))))
    #expect(core.votedFor == "c")
  }

  @Test("without check-quorum there are no leases, and a restarted node votes at once")
  func restartedNodeWithoutCheckQuorumVotes() throws {
    var core = try restartedFollower(configuration: testConfiguration(checkQuorum: false))
    core.tick(now: 1001)
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1))
    #expect(core.votedFor == "c")
  }
}
