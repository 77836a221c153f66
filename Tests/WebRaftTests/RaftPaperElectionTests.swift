import Testing

@testable import WebRaft

// Paper tests for leader election: Raft paper Figure 2 ("Rules for Servers", "RequestVote RPC",
// "Persistent state") and §5.1, §5.2, §5.4.1, plus pre-vote (dissertation §9.6) and check-quorum
// (dissertation §6.2, §4.2.3). Each test drives one or a few `RaftCore` values by hand.

/// The kinds of message that carry a term, for the "higher term" rules.
enum TermCarrier: String, CaseIterable, Sendable {
  case appendEntries, heartbeat, voteRequest, voteResponse, appendEntriesResponse, heartbeatResponse

  /// A message of this kind from `from` to `to` at `term`, with a log that is up to date.
  func message(from: NodeID, to: NodeID, term: UInt64) -> RaftMessage {
    switch self {
    case .appendEntries:
      return append(from, to, term: term, prevIndex: 0, prevTerm: 0)
    case .heartbeat:
      return WebRaftTests.message(from, to, term: term, .heartbeat(Heartbeat(commit: 0)))
    case .voteRequest:
      return WebRaftTests.voteRequest(from, to, term: term, lastIndex: 100, lastTerm: term)
    case .voteResponse:
      return WebRaftTests.voteResponse(from, to, term: term, granted: false)
    case .appendEntriesResponse:
      return WebRaftTests.message(
        from, to, term: term,
        .appendEntriesResponse(AppendEntriesResponse(success: false, index: 0, conflictIndex: 1)))
    case .heartbeatResponse:
      return WebRaftTests.message(from, to, term: term, .heartbeatResponse(HeartbeatResponse()))
    }
  }
}

@Suite("Raft paper: leader election (§5.1, §5.2, §5.4.1)")
struct RaftPaperElectionTests {
  // MARK: §5.1 terms

  @Test(
    "§5.1 Figure 2 Rules for All Servers: a message with a higher term makes a follower adopt that term",
    arguments: TermCarrier.allCases)
  func followerAdoptsHigherTerm(kind: TermCarrier) throws {
    var core = try makeCore("a", terms: [1], term: 2, votedFor: "c")
    core.step(kind.message(from: "b", to: "a", term: 5))
    #expect(core.term == 5)
    #expect(core.role == .follower)
    #expect(core.votedFor != "c", "the vote of the older term must not carry over")
    let ready = try core.nextReady()
    #expect(ready.hardState?.term == 5, "the new term is handed out to be stored")
    #expect(ready.events.contains(.termChanged(5)))
  }

  @Test(
    "§5.1 Figure 2 Rules for All Servers: a leader that sees a higher term steps down to follower",
    arguments: TermCarrier.allCases)
  func leaderStepsDownOnHigherTerm(kind: TermCarrier) throws {
    // Without check-quorum, so that a vote request is not ignored under the leader's lease.
    var leader = try makeLeader(
      "a", term: 2, configuration: testConfiguration(preVote: false, checkQuorum: false))
    leader.step(kind.message(from: "b", to: "a", term: 5))
    #expect(leader.role == .follower)
    #expect(leader.term == 5)
    #expect(leader.leader != "a")
    let ready = try leader.nextReady()
    #expect(ready.events.contains(.stateChanged(from: .leader, to: .follower)))
    #expect(ready.hardState?.term == 5)
  }

  @Test(
    "§5.1 Figure 2 Rules for All Servers: a candidate that sees a higher term steps down to follower",
    arguments: TermCarrier.allCases)
  func candidateStepsDownOnHigherTerm(kind: TermCarrier) throws {
    var candidate = try makeCore("a", terms: [1], configuration: testConfiguration(preVote: false))
    candidate.campaign()
    #expect(candidate.role == .candidate)
    #expect(candidate.term == 2)
    candidate.step(kind.message(from: "b", to: "a", term: 5))
    #expect(candidate.role == .follower)
    #expect(candidate.term == 5)
    #expect(candidate.votedFor != "a", "the self-vote of term 2 does not carry over to term 5")
  }

  @Test(
    "§5.1 Figure 2 Rules for All Servers: a pre-candidate that sees a higher term becomes its follower",
    arguments: [TermCarrier.appendEntries, .heartbeat, .voteResponse, .heartbeatResponse])
  func preCandidateStepsDownOnHigherTerm(kind: TermCarrier) throws {
    var core = try makeCore("a", terms: [1])
    core.campaign()
    #expect(core.role == .preCandidate)
    core.step(kind.message(from: "b", to: "a", term: 5))
    #expect(core.role == .follower)
    #expect(core.term == 5)
  }

  @Test(
    "§5.1 Figure 2 AppendEntries receiver rule 1: an append with a stale term is rejected and answered with the current term"
  )
  func staleAppendIsRejected() throws {
    var core = try makeCore("a", terms: [1, 1], term: 5)
    core.step(append("b", "a", term: 3, prevIndex: 2, prevTerm: 1, entries: [entry(3, 3)], commit: 3))
    #expect(core.lastIndex == 2, "nothing from a stale leader is stored")
    #expect(core.commitIndex == 0, "nothing is committed on a stale leader's word")
    #expect(core.term == 5)
    #expect(core.leader == nil, "a stale leader is not recognised")
    let ready = try core.nextReady()
    #expect(ready.entries.isEmpty)
    #expect(ready.messages == [message("a", "b", term: 5, .heartbeatResponse(HeartbeatResponse()))])
  }

  @Test(
    "§5.1 Figure 2 AppendEntries receiver rule 1: a heartbeat with a stale term is answered with the current term and commits nothing"
  )
  func staleHeartbeatIsRejected() throws {
    var core = try makeCore("a", terms: [1, 1], term: 5)
    core.step(message("b", "a", term: 4, .heartbeat(Heartbeat(commit: 2))))
    #expect(core.commitIndex == 0)
    #expect(core.leader == nil)
    let ready = try core.nextReady()
    #expect(ready.messages == [message("a", "b", term: 5, .heartbeatResponse(HeartbeatResponse()))])
  }

  @Test(
    "§5.1 Figure 2 RequestVote receiver rule 1: a vote request with a stale term is refused with the current term"
  )
  func staleVoteRequestIsRefused() throws {
    var core = try makeCore("a", terms: [1, 1], term: 5)
    core.step(voteRequest("b", term: 3, lastIndex: 9, lastTerm: 3))
    #expect(core.votedFor == nil)
    #expect(core.term == 5)
    let ready = try core.nextReady()
    #expect(ready.hardState == nil, "a refused stale request changes nothing to store")
    #expect(ready.messages == [voteResponse("a", "b", term: 5, granted: false)])

    // The stale candidate learns the newer term from the answer and steps down.
    var candidate = try makeCore(
      "b", terms: [1, 1], term: 2, configuration: testConfiguration(preVote: false))
    candidate.campaign()
    #expect(candidate.term == 3)
    candidate.step(ready.messages[0])
    #expect(candidate.role == .follower)
    #expect(candidate.term == 5)
  }

  @Test(
    "§5.1 Figure 2 RequestVote receiver rule 1: a pre-vote request with a stale term is refused with the current term"
  )
  func stalePreVoteIsRefused() throws {
    var core = try makeCore("a", terms: [1, 1], term: 5)
    core.step(voteRequest("b", term: 4, lastIndex: 9, lastTerm: 4, preVote: true))
    let ready = try core.nextReady()
    #expect(ready.messages == [voteResponse("a", "b", term: 5, granted: false, preVote: true)])
  }

  @Test(
    "§5.1 Figure 2 Rules for All Servers: a stale response is ignored and changes nothing",
    arguments: [TermCarrier.voteResponse, .appendEntriesResponse, .heartbeatResponse])
  func staleResponseIsIgnored(kind: TermCarrier) throws {
    var leader = try makeLeader("a", term: 4)
    let before = leader.status
    leader.step(kind.message(from: "b", to: "a", term: 3))
    #expect(leader.status == before)
    leader.expectNoReady()
  }

  // MARK: §5.2 starting an election

  @Test(
    "§5.2 Figure 2 Rules for Followers: a follower that hears from no leader for an election timeout becomes a candidate (no pre-vote)"
  )
  func followerTimesOutAndCampaigns() throws {
    var core = try makeCore("a", terms: [1], configuration: testConfiguration(preVote: false))
    let deadline = core.nextDeadline
    core.tick(now: deadline - 1)
    #expect(core.role == .follower)
    core.expectNoReady("nothing happens before the timeout")
    core.tick(now: deadline)
    #expect(core.role == .candidate)
    #expect(core.term == 2)
    let ready = try core.nextReady()
    #expect(ready.events.contains(.heartbeatTimeout))
    #expect(ready.events.contains(.startElection(term: 2, preVote: false)))
    #expect(ready.events.contains(.candidate(term: 2)))
    #expect(voteRequests(in: ready.messages).count == 2)
  }

  @Test(
    "§5.2 Figure 2 Rules for Followers: AppendEntries from the leader resets the election timer, so a follower with a live leader never campaigns"
  )
  func heartbeatsKeepFollowerFromCampaigning() throws {
    var core = try makeCore("a", terms: [1], configuration: testConfiguration(preVote: false))
    var now: UInt64 = 0
    while now < 5000 {
      now += 100
      core.tick(now: now)
      core.step(message("b", "a", term: 1, .heartbeat(Heartbeat(commit: 0))))
      #expect(core.role == .follower)
      core.drain()
    }
    #expect(core.term == 1)
    #expect(core.leader == "b")
    // Once the leader goes quiet, the follower campaigns within heartbeatTimeout + the spread of
    // the election timeout range.
    core.tick(now: now + 200 + 150)
    #expect(core.role == .candidate)
  }

  @Test(
    "§5.2 Figure 2 Rules for Followers: granting a vote resets the election timer"
  )
  func grantingVoteResetsTimer() throws {
    var core = try makeCore("a", terms: [1], term: 2, configuration: testConfiguration(preVote: false))
    try #require(core.nextDeadline < 350)
    core.tick(now: 150)
    #expect(core.role == .follower)
    core.step(voteRequest("b", term: 2, lastIndex: 1, lastTerm: 1))
    #expect(core.votedFor == "b")
    #expect(core.nextDeadline >= 150 + 200, "the timer restarts when the vote is granted")
    #expect(core.nextDeadline <= 150 + 350)
  }

  @Test(
    "§5.2 Figure 2 Rules for Candidates: on conversion to candidate, increment currentTerm, vote for self, send RequestVote to all other servers"
  )
  func candidateIncrementsTermVotesForSelfAndRequestsVotes() throws {
    var core = try makeCore(
      "a", voters: ["a", "b", "c", "d", "e"], terms: [1, 1, 2], term: 3,
      configuration: testConfiguration(preVote: false))
    core.tick(now: core.nextDeadline)
    #expect(core.role == .candidate)
    #expect(core.term == 4)
    #expect(core.votedFor == "a")
    let ready = try core.nextReady()
    let requests = voteRequests(in: ready.messages)
    #expect(requests.map(\.message.to) == ["b", "c", "d", "e"])
    for (message, request) in requests {
      #expect(message.from == "a")
      #expect(message.term == 4)
      #expect(request == VoteRequest(preVote: false, lastLogIndex: 3, lastLogTerm: 2))
    }
  }

  @Test(
    "§5.2 Figure 2 Persistent state: the candidate's term and self-vote are in the same Ready as its vote requests"
  )
  func candidateVoteIsPersistedWithRequests() throws {
    var core = try makeCore("a", terms: [1], configuration: testConfiguration(preVote: false))
    core.campaign()
    let ready = try core.nextReady()
    #expect(ready.hardState == HardState(term: 2, votedFor: "a", commitIndex: 0))
    #expect(!voteRequests(in: ready.messages).isEmpty)
    core.expectNoReady("no further Ready before this one is carried out")
  }

  // MARK: §5.2 winning, losing, timing out

  struct ElectionCase: Sendable, CustomTestStringConvertible {
    var voters: Int
    var granted: [NodeID]
    var refused: [NodeID]
    var expected: RaftRole
    var testDescription: String {
      "\(voters) voters, granted by \(granted), refused by \(refused) -> \(expected)"
    }
  }

  @Test(
    "§5.2 Figure 2 Rules for Candidates: votes from a majority of servers make the candidate leader",
    arguments: [
      ElectionCase(voters: 1, granted: [], refused: [], expected: .leader),
      ElectionCase(voters: 2, granted: [], refused: [], expected: .candidate),
      ElectionCase(voters: 2, granted: ["b"], refused: [], expected: .leader),
      ElectionCase(voters: 2, granted: [], refused: ["b"], expected: .follower),
      ElectionCase(voters: 3, granted: ["b"], refused: [], expected: .leader),
      ElectionCase(voters: 3, granted: [], refused: ["b"], expected: .candidate),
      ElectionCase(voters: 3, granted: [], refused: ["b", "c"], expected: .follower),
      ElectionCase(voters: 4, granted: ["b"], refused: [], expected: .candidate),
      ElectionCase(voters: 4, granted: ["b", "c"], refused: [], expected: .leader),
      ElectionCase(voters: 4, granted: ["b"], refused: ["c"], expected: .candidate),
      ElectionCase(voters: 4, granted: [], refused: ["b", "c"], expected: .follower),
      ElectionCase(voters: 5, granted: ["b"], refused: [], expected: .candidate),
      ElectionCase(voters: 5, granted: ["b", "c"], refused: [], expected: .leader),
      ElectionCase(voters: 5, granted: ["b"], refused: ["c", "d"], expected: .candidate),
      ElectionCase(voters: 5, granted: [], refused: ["b", "c", "d"], expected: .follower),
      ElectionCase(voters: 5, granted: ["b"], refused: ["c", "d", "e"], expected: .follower),
    ])
  func candidateWinsWithMajority(election: ElectionCase) throws {
    let names: [NodeID] = ["a", "b", "c", "d", "e"]
    let voters = Set(names.prefix(election.voters))
    var core = try makeCore(
      "a", voters: voters, terms: [1], configuration: testConfiguration(preVote: false))
    core.campaign()
    for voter in election.granted {
      core.step(voteResponse(voter, term: 2, granted: true))
    }
    for voter in election.refused {
      core.step(voteResponse(voter, term: 2, granted: false))
    }
    #expect(core.role == election.expected)
    #expect(core.term == 2, "winning or losing does not change the term")
    if election.expected == .leader {
      #expect(core.leader == "a")
    }
  }

  @Test("§5.2 a vote counts once per voter, and only votes of voters in the candidate's term count")
  func duplicateAndForeignVotesDoNotCount() throws {
    var core = try makeCore(
      "a", voters: ["a", "b", "c", "d", "e"], learners: ["l"], terms: [1],
      configuration: testConfiguration(preVote: false))
    core.campaign()
    core.step(voteResponse("b", term: 2, granted: true))
    core.step(voteResponse("b", term: 2, granted: true))
    core.step(voteResponse("l", term: 2, granted: true))
    core.step(voteResponse("z", term: 2, granted: true))
    core.step(voteResponse("c", term: 1, granted: true))
    core.step(voteResponse("c", term: 2, granted: true, preVote: true))
    #expect(core.role == .candidate)
    core.step(voteResponse("d", term: 2, granted: true))
    #expect(core.role == .leader)
  }

  @Test(
    "§5.2 Figure 2 Rules for Candidates: AppendEntries from a new leader of the same term makes the candidate a follower"
  )
  func candidateStepsDownOnAppendOfSameTerm() throws {
    var candidate = try makeCore("a", terms: [1], configuration: testConfiguration(preVote: false))
    candidate.campaign()
    candidate.step(append("b", "a", term: 2, prevIndex: 1, prevTerm: 1, entries: [entry(2, 2)]))
    #expect(candidate.role == .follower)
    #expect(candidate.term == 2, "the term does not change")
    #expect(candidate.votedFor == "a", "the vote cast in this term is kept")
    #expect(candidate.leader == "b")
    #expect(candidate.lastIndex == 2, "the append is then handled as by any follower")
    let ready = try candidate.nextReady()
    #expect(appendResponses(in: ready.messages).map(\.response.success) == [true])
  }

  @Test(
    "§5.2 pre-vote: a heartbeat from a leader of the current term makes a pre-candidate a follower"
  )
  func preCandidateStepsDownOnHeartbeatOfSameTerm() throws {
    var core = try makeCore("a", terms: [1], term: 3)
    core.campaign()
    #expect(core.role == .preCandidate)
    core.step(message("b", "a", term: 3, .heartbeat(Heartbeat(commit: 0))))
    #expect(core.role == .follower)
    #expect(core.leader == "b")
    #expect(core.term == 3)
  }

  @Test(
    "§5.2 Figure 2 Rules for Candidates: if the election timeout elapses, start a new election with a new term"
  )
  func candidateTimesOutAndRestarts() throws {
    var core = try makeCore("a", terms: [1], configuration: testConfiguration(preVote: false), now: 1000)
    core.campaign()
    core.step(voteResponse("b", term: 2, granted: false))
    #expect(core.role == .candidate)
    core.drain()
    let deadline = core.nextDeadline
    #expect((1150...1300).contains(deadline), "a candidate's timeout is drawn from electionTimeout")
    core.tick(now: deadline - 1)
    #expect(core.term == 2)
    core.tick(now: deadline)
    #expect(core.role == .candidate)
    #expect(core.term == 3)
    #expect(core.votedFor == "a")
    let ready = try core.nextReady()
    #expect(ready.hardState == HardState(term: 3, votedFor: "a", commitIndex: 0))
    #expect(voteRequests(in: ready.messages).map(\.message.term) == [3, 3])
    #expect((deadline + 150...deadline + 300).contains(core.nextDeadline))
    // The old election's refusal does not count in the new one: with b's refusal of term 2
    // still counted, c's refusal would make a majority against.
    core.step(voteResponse("c", term: 3, granted: false))
    #expect(core.role == .candidate)
    core.step(voteResponse("b", term: 3, granted: true))
    #expect(core.role == .leader)
  }

  @Test("§9.6 pre-vote: a candidate whose election times out asks for pre-votes before taking a new term")
  func candidateTimesOutIntoPreVote() throws {
    var core = try makeCore("a", terms: [1])
    core.campaign()
    core.step(voteResponse("b", term: 2, granted: true, preVote: true))
    #expect(core.role == .candidate)
    #expect(core.term == 2)
    core.drain()
    core.tick(now: core.nextDeadline)
    #expect(core.role == .preCandidate)
    #expect(core.term == 2, "a pre-vote does not take a new term")
    let ready = try core.nextReady()
    #expect(voteRequests(in: ready.messages).allSatisfy { $0.request.preVote && $0.message.term == 3 })
  }

  @Test("§5.2 election timeouts are randomized within the configured range")
  func electionTimeoutsAreRandomized() throws {
    var followerTimeouts: Set<UInt64> = []
    var candidateTimeouts: Set<UInt64> = []
    for seed in UInt64(1)...300 {
      var core = try makeCore(
        "a", terms: [1], configuration: testConfiguration(preVote: false), seed: seed, now: 1000)
      let followerTimeout = core.nextDeadline - 1000
      #expect(
        (200...350).contains(followerTimeout),
        "a follower waits heartbeatTimeout plus up to the width of electionTimeout")
      followerTimeouts.insert(followerTimeout)
      core.campaign()
      let candidateTimeout = core.nextDeadline - 1000
      #expect((150...300).contains(candidateTimeout), "a candidate waits within electionTimeout")
      candidateTimeouts.insert(candidateTimeout)
    }
    #expect(followerTimeouts.count > 50, "timeouts are spread, not fixed")
    #expect(candidateTimeouts.count > 50)
    #expect(candidateTimeouts.contains { $0 < 175 } && candidateTimeouts.contains { $0 > 275 })

    // A custom range is honoured.
    var configuration = RaftConfiguration(
      electionTimeout: .milliseconds(1000)...(.milliseconds(2000)), heartbeatInterval: .milliseconds(50),
      heartbeatTimeout: .milliseconds(400))
    configuration.preVote = false
    for seed in UInt64(1)...100 {
      var core = try makeCore("a", configuration: configuration, seed: seed)
      #expect((400...1400).contains(core.nextDeadline))
      core.campaign()
      #expect((1000...2000).contains(core.nextDeadline))
    }
  }

  @Test("§5.2 nodes with different seeds draw different timeouts, so split votes are rare")
  func differentSeedsDrawDifferentTimeouts() throws {
    var deadlines: [UInt64] = []
    for seed in UInt64(1)...5 {
      deadlines.append(try makeCore("a", seed: seed).nextDeadline)
    }
    #expect(Set(deadlines).count >= 4)
  }

  // MARK: §5.2 and §5.4.1 granting votes

  @Test(
    "§5.2 Figure 2 RequestVote receiver rule 2: at most one vote per term, first come first served"
  )
  func atMostOneVotePerTerm() throws {
    var voter = try makeCore("a", terms: [1], configuration: testConfiguration(preVote: false))
    func answer(_ request: RaftMessage) -> Bool? {
      voter.step(request)
      return voteResponses(in: voter.drainMessages()).first?.response.granted
    }
    #expect(answer(voteRequest("b", term: 2, lastIndex: 1, lastTerm: 1)) == true)
    #expect(voter.votedFor == "b")
    #expect(answer(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 1)) == false)
    #expect(voter.votedFor == "b")
    #expect(
      answer(voteRequest("b", term: 2, lastIndex: 1, lastTerm: 1)) == true,
      "a repeated request from the same candidate is granted again")
    #expect(answer(voteRequest("c", term: 3, lastIndex: 1, lastTerm: 1)) == true, "a new term, a new vote")
    #expect(voter.votedFor == "c")
    #expect(voter.term == 3)
  }

  @Test("§5.2 Figure 2 Persistent state: a vote stored before a restart still refuses other candidates")
  func storedVoteSurvivesRestart() throws {
    var voter = try makeCore("a", terms: [1], term: 2, votedFor: "b")
    voter.step(voteRequest("c", term: 2, lastIndex: 1, lastTerm: 1))
    #expect(voteResponses(in: voter.drainMessages()).map(\.response.granted) == [false])
    voter.step(voteRequest("b", term: 2, lastIndex: 1, lastTerm: 1))
    #expect(voteResponses(in: voter.drainMessages()).map(\.response.granted) == [true])
  }

  @Test(
    "§5.2 Figure 2 Persistent state: a granted vote is in the hardState of the same Ready as the response that grants it"
  )
  func voteIsPersistedBeforeResponseLeaves() throws {
    var voter = try makeCore("a", terms: [1])
    voter.step(voteRequest("b", term: 2, lastIndex: 1, lastTerm: 1))
    let ready = try voter.nextReady()
    #expect(ready.hardState == HardState(term: 2, votedFor: "b", commitIndex: 0))
    #expect(ready.messages == [voteResponse("a", "b", term: 2, granted: true)])
    // A later vote request is answered in a later Ready only: the driver stores first.
    voter.step(voteRequest("b", term: 2, lastIndex: 1, lastTerm: 1))
    voter.expectNoReady()
    voter.advance()
    let next = try voter.nextReady()
    #expect(next.hardState == nil)
    #expect(next.messages == [voteResponse("a", "b", term: 2, granted: true)])
  }

  struct UpToDateCase: Sendable, CustomTestStringConvertible {
    var voterTerms: [UInt64]
    var candidateLastTerm: UInt64
    var candidateLastIndex: UInt64
    var granted: Bool
    var testDescription: String {
      "voter log terms \(voterTerms), candidate last (term \(candidateLastTerm), index \(candidateLastIndex)) -> \(granted ? "grant" : "refuse")"
    }
  }

  @Test(
    "§5.4.1 Figure 2 RequestVote receiver rule 2: vote only for a candidate whose log is at least as up to date, comparing (last term, last index)",
    arguments: [
      // The voter's log ends at (term 2, index 3).
      UpToDateCase(voterTerms: [1, 1, 2], candidateLastTerm: 2, candidateLastIndex: 3, granted: true),
      UpToDateCase(voterTerms: [1, 1, 2], candidateLastTerm: 2, candidateLastIndex: 4, granted: true),
      UpToDateCase(voterTerms: [1, 1, 2], candidateLastTerm: 2, candidateLastIndex: 2, granted: false),
      UpToDateCase(voterTerms: [1, 1, 2], candidateLastTerm: 3, candidateLastIndex: 1, granted: true),
      UpToDateCase(voterTerms: [1, 1, 2], candidateLastTerm: 3, candidateLastIndex: 9, granted: true),
      UpToDateCase(voterTerms: [1, 1, 2], candidateLastTerm: 1, candidateLastIndex: 9, granted: false),
      UpToDateCase(voterTerms: [1, 1, 2], candidateLastTerm: 1, candidateLastIndex: 3, granted: false),
      UpToDateCase(voterTerms: [1, 1, 2], candidateLastTerm: 0, candidateLastIndex: 0, granted: false),
      // An empty log is behind any non-empty log and as up to date as another empty log.
      UpToDateCase(voterTerms: [], candidateLastTerm: 0, candidateLastIndex: 0, granted: true),
      UpToDateCase(voterTerms: [], candidateLastTerm: 1, candidateLastIndex: 1, granted: true),
      UpToDateCase(voterTerms: [1], candidateLastTerm: 0, candidateLastIndex: 0, granted: false),
      // A longer log of an older term loses to a shorter log of a newer term (Figure 8's S5).
      UpToDateCase(voterTerms: [1, 2], candidateLastTerm: 3, candidateLastIndex: 2, granted: true),
      UpToDateCase(voterTerms: [1, 3], candidateLastTerm: 2, candidateLastIndex: 5, granted: false),
    ])
  func voteOnlyForUpToDateLog(example: UpToDateCase) throws {
    var voter = try makeCore("a", terms: example.voterTerms, term: 3)
    voter.step(
      voteRequest(
        "b", term: 4, lastIndex: example.candidateLastIndex, lastTerm: example.candidateLastTerm))
    let ready = try voter.nextReady()
    #expect(ready.messages == [voteResponse("a", "b", term: 4, granted: example.granted)])
    #expect(voter.votedFor == (example.granted ? "b" : nil))
    #expect(voter.term == 4, "the term is adopted whether or not the vote is granted")
    #expect(ready.hardState == HardState(term: 4, votedFor: example.granted ? "b" : nil, commitIndex: 0))
  }

  @Test("§5.4.1 a pre-vote is refused to a candidate whose log is behind")
  func preVoteRefusedToStaleLog() throws {
    var voter = try makeCore("a", terms: [1, 2], term: 2)
    voter.step(voteRequest("b", term: 3, lastIndex: 9, lastTerm: 1, preVote: true))
    #expect(voteResponses(in: voter.drainMessages()).map(\.response.granted) == [false])
    #expect(voter.term == 2)
  }

  @Test("§5.2 a node that knows the leader of its term refuses votes in that term")
  func followerWithLeaderRefusesSameTermVote() throws {
    var core = try makeCore("a", terms: [1], term: 2, configuration: testConfiguration(checkQuorum: false))
    core.step(message("b", "a", term: 2, .heartbeat(Heartbeat(commit: 0))))
    core.drain()
    core.step(voteRequest("c", term: 2, lastIndex: 5, lastTerm: 2))
    #expect(voteResponses(in: core.drainMessages()).map(\.response.granted) == [false])
    #expect(core.votedFor == nil)
  }

  @Test("§5.2 a leader and a candidate refuse other candidates of their own term")
  func leaderAndCandidateRefuseSameTermVotes() throws {
    var leader = try makeLeader("a", term: 2)
    leader.step(voteRequest("c", term: 2, lastIndex: 9, lastTerm: 2))
    #expect(voteResponses(in: leader.drainMessages()).map(\.response.granted) == [false])
    #expect(leader.role == .leader)

    var candidate = try makeCore("a", terms: [1], configuration: testConfiguration(preVote: false))
    candidate.campaign()
    candidate.drain()
    candidate.step(voteRequest("c", term: 2, lastIndex: 9, lastTerm: 2))
    #expect(voteResponses(in: candidate.drainMessages()).map(\.response.granted) == [false])
    #expect(candidate.votedFor == "a")
  }
}
