import Testing

@testable import WebRaft

// Paper tests for leader election, continued: pre-vote (dissertation §9.6), heartbeats, and
// check-quorum with the leader lease on votes (dissertation §6.2, §4.2.3).

extension RaftPaperElectionTests {
  // MARK: Pre-vote (dissertation §9.6)

  @Test("§9.6 pre-vote: a follower that times out asks for pre-votes without changing its term or vote")
  func followerTimesOutIntoPreVote() throws {
    var core = try makeCore("a", terms: [1, 1], term: 1, votedFor: "b")
    core.tick(now: core.nextDeadline)
    #expect(core.role == .preCandidate)
    #expect(core.term == 1)
    #expect(core.votedFor == "b")
    let ready = try core.nextReady()
    #expect(ready.hardState == nil, "a pre-vote stores nothing")
    #expect(ready.events.contains(.heartbeatTimeout))
    #expect(ready.events.contains(.startElection(term: 2, preVote: true)))
    let requests = voteRequests(in: ready.messages)
    #expect(requests.map(\.message.to) == ["b", "c"])
    for (message, request) in requests {
      #expect(message.term == 2, "a pre-vote asks at the term the node would campaign in")
      #expect(request == VoteRequest(preVote: true, lastLogIndex: 2, lastLogTerm: 1))
    }
  }

  @Test("§9.6 pre-vote: granting a pre-vote changes neither the voter's term nor its vote")
  func preVoteChangesNothingOnVoter() throws {
    var voter = try makeCore("b", terms: [1, 1], term: 1, votedFor: "c")
    voter.step(voteRequest("a", "b", term: 2, lastIndex: 2, lastTerm: 1, preVote: true))
    #expect(voter.term == 1)
    #expect(voter.votedFor == "c")
    #expect(voter.role == .follower)
    let ready = try voter.nextReady()
    #expect(ready.hardState == nil)
    #expect(ready.messages == [voteResponse("b", "a", term: 2, granted: true, preVote: true)])
  }

  @Test("§9.6 pre-vote: a pre-candidate that wins the pre-vote starts the real election")
  func preCandidateWinsIntoCandidate() throws {
    var core = try makeCore("a", terms: [1], term: 1)
    core.campaign()
    core.drain()
    core.step(voteResponse("b", term: 2, granted: true, preVote: true))
    #expect(core.role == .candidate)
    #expect(core.term == 2)
    #expect(core.votedFor == "a")
    let ready = try core.nextReady()
    #expect(ready.hardState == HardState(term: 2, votedFor: "a", commitIndex: 0))
    #expect(voteRequests(in: ready.messages).allSatisfy { !$0.request.preVote && $0.message.term == 2 })
  }

  @Test("§9.6 pre-vote: a pre-candidate refused by a majority returns to follower in its old term")
  func preCandidateLosesIntoFollower() throws {
    var core = try makeCore("a", terms: [1], term: 1)
    core.campaign()
    core.step(voteResponse("b", term: 1, granted: false, preVote: true))
    #expect(core.role == .preCandidate)
    core.step(voteResponse("c", term: 1, granted: false, preVote: true))
    #expect(core.role == .follower)
    #expect(core.term == 1)
    #expect(core.votedFor == nil)
  }

  @Test("§9.6 pre-vote: a node cut off from the cluster keeps its term while its pre-votes go unanswered")
  func isolatedPreCandidateKeepsTerm() throws {
    var core = try makeCore("a", terms: [1], term: 1)
    var now: UInt64 = 0
    for _ in 0..<50 {
      now = core.nextDeadline
      core.tick(now: now)
      core.drain()
    }
    #expect(core.term == 1)
    #expect(core.role == .preCandidate)
  }

  // MARK: Heartbeats

  @Test(
    "§5.2 Figure 2 Rules for Leaders: an idle leader sends each follower one heartbeat every heartbeatInterval, and nothing else"
  )
  func leaderHeartbeatsEveryInterval() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    var sentAt: [NodeID: [UInt64]] = [:]
    for now in UInt64(1)...1000 {
      leader.tick(now: now)
      let sent = leader.drainMessages()
      #expect(heartbeats(in: sent).count == sent.count, "an idle leader sends only heartbeats")
      for (beat, heartbeat) in heartbeats(in: sent) {
        sentAt[beat.to, default: []].append(now)
        #expect(heartbeat.commit == 1)
        #expect(beat.term == 1)
        leader.step(
          message(
            beat.to, "a", term: 1, .heartbeatResponse(HeartbeatResponse(readRound: heartbeat.readRound))))
      }
    }
    let expected = Array(stride(from: UInt64(100), through: 1000, by: 100))
    #expect(sentAt["b"] == expected)
    #expect(sentAt["c"] == expected)
    #expect(leader.role == .leader)
  }

  // MARK: Check-quorum (dissertation §6.2) and leader lease on votes (§4.2.3)

  @Test("§6.2 check-quorum: a leader that hears from no quorum for an election timeout steps down")
  func leaderWithoutQuorumStepsDown() throws {
    var leader = try makeLeader("a", term: 2)
    leader.tick(now: 100)
    leader.tick(now: 299)
    #expect(leader.role == .leader)
    #expect(heartbeats(in: leader.drainMessages()).count == 4)
    leader.tick(now: 300)
    #expect(leader.role == .follower)
    #expect(leader.term == 2, "stepping down does not change the term")
    #expect(leader.leader == nil)
  }

  @Test("§6.2 check-quorum: a leader that hears from a quorum in every election timeout stays leader")
  func leaderWithQuorumStays() throws {
    var leader = try makeReplicatingLeader("a", voters: ["a", "b", "c", "d", "e"], term: 2)
    var now: UInt64 = 0
    while now < 3000 {
      now += 100
      leader.tick(now: now)
      leader.drain()
      // Two of four followers answer: with the leader, three of five.
      leader.step(message("b", "a", term: 2, .heartbeatResponse(HeartbeatResponse())))
      leader.step(message("c", "a", term: 2, .heartbeatResponse(HeartbeatResponse())))
      #expect(leader.role == .leader)
    }
    // One follower alone is not a quorum.
    let stop = now
    while now < stop + 600 {
      now += 100
      leader.tick(now: now)
      leader.drain()
      leader.step(message("b", "a", term: 2, .heartbeatResponse(HeartbeatResponse())))
    }
    #expect(leader.role == .follower)
  }

  @Test("§6.2 without check-quorum a leader stays leader however long it hears nothing")
  func leaderWithoutCheckQuorumStays() throws {
    var leader = try makeReplicatingLeader(
      "a", term: 2, configuration: testConfiguration(preVote: false, checkQuorum: false))
    leader.tick(now: 100_000)
    #expect(leader.role == .leader)
  }

  @Test(
    "§4.2.3 check-quorum: a follower that heard from its leader within the heartbeat timeout ignores vote requests"
  )
  func followerInLeaseIgnoresVotes() throws {
    var core = try makeCore("a", terms: [1], term: 1, seed: 3)
    core.step(message("b", "a", term: 1, .heartbeat(Heartbeat(commit: 0))))
    core.drain()
    try #require(core.nextDeadline > 200)
    core.tick(now: 199)
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1))
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1, preVote: true))
    #expect(core.term == 1, "the vote request does not disrupt the follower")
    #expect(core.leader == "b")
    #expect(core.drainMessages().isEmpty)
    // Once the lease ran out, the same request is heard.
    core.tick(now: 200)
    #expect(core.role == .follower)
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1))
    #expect(core.term == 2)
    #expect(core.votedFor == "c")
  }

  @Test("§4.2.3 check-quorum: a leader ignores vote requests of a higher term while it leads")
  func leaderInLeaseIgnoresVotes() throws {
    var leader = try makeLeader("a", term: 2, configuration: testConfiguration(preVote: false))
    leader.step(voteRequest("c", term: 3, lastIndex: 5, lastTerm: 2))
    #expect(leader.role == .leader)
    #expect(leader.term == 2)
  }

  @Test("§4.2.3 without check-quorum a follower with a leader hears vote requests of a higher term")
  func followerWithoutCheckQuorumHearsVotes() throws {
    var core = try makeCore("a", terms: [1], term: 1, configuration: testConfiguration(checkQuorum: false))
    core.step(message("b", "a", term: 1, .heartbeat(Heartbeat(commit: 0))))
    core.drain()
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1))
    #expect(core.term == 2)
    #expect(core.votedFor == "c")
  }

  @Test("§5.2 a learner or a node outside the membership never campaigns")
  func nonVotersNeverCampaign() throws {
    var learner = try makeCore("l", voters: ["a", "b", "c"], learners: ["l"], terms: [1])
    var outsider = try makeCore("x", voters: ["a", "b", "c"], terms: [1])
    for now in stride(from: UInt64(1000), through: 20_000, by: 1000) {
      learner.tick(now: now)
      outsider.tick(now: now)
      #expect(voteRequests(in: learner.drainMessages()).isEmpty)
      #expect(voteRequests(in: outsider.drainMessages()).isEmpty)
    }
    #expect(learner.role == .follower)
    #expect(outsider.role == .follower)
    #expect(learner.term == 1)
  }
}
