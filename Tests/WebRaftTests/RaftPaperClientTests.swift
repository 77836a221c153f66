import Testing

@testable import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// Paper tests for what clients see and for cluster membership: Raft paper §8 (client
// interaction), the dissertation's §4.1–§4.2 (single-server membership changes), and the leader's
// flow control (batching, pipelining window, probing), which the paper leaves to implementations.

@Suite("Raft paper: proposals, membership changes and flow control (§8, dissertation §4)")
struct RaftPaperClientTests {
  // MARK: Proposals (§8)

  @Test(
    "§8 client interaction: a proposal made on a follower is forwarded to the leader and the entry records its origin"
  )
  func followerForwardsProposal() throws {
    var cluster = try makeStableCluster()
    let ticket = try cluster.nodes["b"]!.propose(Data("x".utf8), requestID: 7)
    #expect(ticket == .forwarded(to: "a"))
    let forwarded = try cluster.nodes["b"]!.nextReady().messages
    cluster.nodes["b"]!.advance()
    #expect(
      forwarded == [
        message(
          "b", "a", term: 1, .proposal(ForwardedProposal(requestID: 7, request: .command(Data("x".utf8)))))
      ])
    cluster.deliver(forwarded)
    cluster.deliver(forwarded)  // The network duplicated it.
    let expected = LogEntry(
      index: 2, term: 1, payload: .command(Data("x".utf8)), origin: ProposalOrigin(node: "b", requestID: 7))
    #expect(cluster.nodes["a"]!.entries.last == expected)
    #expect(cluster.nodes["a"]!.lastIndex == 2, "a duplicated forward is appended once")
    cluster.stabilize()
    // The proposing follower applies the entry and can recognise it as its own.
    #expect(cluster.applied["b"]?.last == expected)
    #expect(cluster.applied["c"]?.last == expected)
  }

  @Test("§8 a proposal on the leader is appended at once and identified by (index, term)")
  func leaderTakesProposalDirectly() throws {
    var leader = try makeReplicatingLeader("a", term: 3)
    let ticket = try leader.propose(Data("x".utf8), requestID: 1)
    #expect(ticket == .appended(index: leader.lastIndex, term: 3))
    #expect(leader.entries.last?.origin == nil)
  }

  @Test("§8 a node that knows no leader rejects a proposal at once with RaftError.noLeader")
  func noLeaderRejectsProposal() throws {
    var follower = try makeCore("a", terms: [1])
    #expect(throws: RaftError.noLeader(leaderHint: nil)) {
      try follower.propose(Data("x".utf8), requestID: 1)
    }
    #expect(throws: RaftError.noLeader(leaderHint: nil)) {
      try follower.proposeMembershipChange(.addLearner("d"), requestID: 2)
    }
    follower.expectNoReady("nothing is sent")

    var preCandidate = try makeCore("a", terms: [1])
    preCandidate.campaign()
    #expect(preCandidate.role == .preCandidate)
    #expect(throws: RaftError.noLeader(leaderHint: nil)) {
      try preCandidate.propose(Data("x".utf8), requestID: 1)
    }

    var candidate = try makeCore("a", terms: [1], configuration: testConfiguration(preVote: false))
    candidate.campaign()
    #expect(candidate.role == .candidate)
    #expect(throws: RaftError.noLeader(leaderHint: nil)) {
      try candidate.propose(Data("x".utf8), requestID: 1)
    }

    // A leader that stepped down (check-quorum) knows no leader either and fails fast too.
    var leader = try makeLeader("a", term: 2)
    leader.tick(now: 300)
    #expect(leader.role == .follower)
    #expect(throws: RaftError.noLeader(leaderHint: nil)) {
      try leader.propose(Data("x".utf8), requestID: 1)
    }
  }

  @Test("§8 a forwarded proposal that reaches a node that is not the leader is refused back to its sender")
  func forwardedProposalToNonLeaderIsRefused() throws {
    var stale = try makeCore("c", terms: [1], term: 1)
    stale.step(message("a", "c", term: 1, .heartbeat(Heartbeat(commit: 0))))
    stale.drain()
    let proposal = message(
      "b", "c", term: 1, .proposal(ForwardedProposal(requestID: 9, request: .command(Data("x".utf8)))))
    stale.step(proposal)
    let refusal = ProposalRejection(requestID: 9, error: .notLeader(leader: "a"))
    let sent = stale.drainMessages()
    #expect(sent == [message("c", "b", term: 1, .proposalRejected(refusal))])
    #expect(stale.lastIndex == 1, "nothing is appended")

    var unaware = try makeCore("c", terms: [1], term: 1)
    unaware.step(proposal)
    #expect(
      unaware.drainMessages().map(\.body) == [
        .proposalRejected(ProposalRejection(requestID: 9, error: .noLeader(leaderHint: nil)))
      ])

    // The proposer hands the refusal to its driver.
    var proposer = try makeCore("b", terms: [1], term: 1)
    proposer.step(sent[0])
    #expect(try proposer.nextReady().rejectedProposals == [refusal])
  }

  @Test("§8 a leader over its limit of uncommitted bytes refuses proposals with RaftError.overloaded")
  func leaderRefusesWhenOverloaded() throws {
    var configuration = testConfiguration(preVote: false)
    configuration.maxUncommittedBytes = 100
    var leader = try makeReplicatingLeader("a", term: 1, configuration: configuration)
    let payload = Data(repeating: 7, count: 40)  // 64 bytes with the entry overhead
    _ = try leader.propose(payload, requestID: 1)
    #expect(throws: RaftError.overloaded(uncommittedBytes: 64, limit: 100)) {
      try leader.propose(payload, requestID: 2)
    }
    leader.drain()
    leader.step(appendAccepted("b", term: 1, index: 2))
    #expect(leader.commitIndex == 2)
    _ = try leader.propose(payload, requestID: 3)
  }

  // MARK: Membership changes (dissertation §4.1, §4.2)

  @Test("§4.1 a configuration takes effect on the leader as soon as its entry is appended, before it commits")
  func leaderUsesConfigurationWhenAppended() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    let ticket = try leader.proposeMembershipChange(.addLearner("d"), requestID: 1)
    #expect(ticket == .appended(index: 2, term: 1))
    #expect(leader.commitIndex == 1)
    #expect(leader.membership.learners == ["d"])
    #expect(leader.membership.voters == ["a", "b", "c"])
    let ready = try leader.nextReady()
    #expect(ready.events.contains(.join("d")))
    #expect(ready.events.contains(.membershipChanged(leader.membership)))
    #expect(Set(appends(in: ready.messages).map(\.to)) == ["b", "c", "d"], "the new member is sent the log")
  }

  @Test(
    "§4.2.1 a server added as a voter first catches up as a learner that does not count in the quorum, then is promoted"
  )
  func newVoterCatchesUpAsLearner() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    _ = try leader.proposeMembershipChange(.addVoter("d"), requestID: 1)
    #expect(leader.membership.voters == ["a", "b", "c"])
    #expect(leader.membership.learners == ["d"])
    #expect(leader.membership.learnersToPromote == ["d"])
    leader.drain()
    // b alone is a majority of the three voters: the empty newcomer does not count yet.
    leader.step(appendAccepted("b", term: 1, index: 2))
    #expect(leader.commitIndex == 2)
    #expect(leader.membership.voters == ["a", "b", "c"], "d holds nothing yet: no promotion")
    leader.drain()
    // Once d holds everything committed, the leader promotes it through the log.
    leader.step(appendAccepted("d", term: 1, index: 2))
    #expect(leader.membership.voters == ["a", "b", "c", "d"])
    #expect(leader.membership.learners.isEmpty)
    #expect(leader.lastIndex == 3)
    #expect(leader.entry(at: 3)?.payload == .membership(leader.membership))
    #expect(leader.commitIndex == 2, "the promotion itself still has to commit")
  }

  @Test(
    "§4.2.1 a learner asked to become a voter is promoted only once it has caught up, like a new server"
  )
  func learnerAskedToVoteIsPromotedOnceCaughtUp() throws {
    var leader = try makeLeader("a", learners: ["d"], term: 1)
    leader.step(appendAccepted("b", term: 1, index: 1))
    leader.step(appendAccepted("c", term: 1, index: 1))
    for value in 1...3 { _ = try leader.propose(Data("x\(value)".utf8), requestID: UInt64(value)) }
    leader.drain()
    leader.step(appendAccepted("b", term: 1, index: 4))
    #expect(leader.commitIndex == 4)
    #expect(leader.status.followers["d"]?.matchIndex == 0, "d lags behind")

    let ticket = try leader.proposeMembershipChange(.addVoter("d"), requestID: 9)
    #expect(ticket == .appended(index: 5, term: 1))
    #expect(leader.membership.voters == ["a", "b", "c"], "a lagging learner does not count in a quorum")
    #expect(leader.membership.learnersToPromote == ["d"])
    leader.drain()
    leader.step(appendAccepted("b", term: 1, index: 5))
    #expect(leader.commitIndex == 5)
    leader.step(appendAccepted("d", term: 1, index: 3))
    #expect(leader.membership.voters == ["a", "b", "c"], "d is still behind the commit index")

    // d reaches the leader's log: the leader promotes it through the log.
    leader.step(appendAccepted("d", term: 1, index: 5))
    #expect(leader.membership.voters == ["a", "b", "c", "d"])
    #expect(leader.membership.learners.isEmpty)
    #expect(leader.lastIndex == 6)
    #expect(leader.entry(at: 6)?.payload == .membership(leader.membership))
  }

  @Test("§4.1 only one membership change may be uncommitted at a time (RaftError.membershipChangeInProgress)")
  func oneMembershipChangeAtATime() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    _ = try leader.proposeMembershipChange(.addLearner("d"), requestID: 1)
    #expect(throws: RaftError.membershipChangeInProgress) {
      try leader.proposeMembershipChange(.addLearner("e"), requestID: 2)
    }
    #expect(throws: RaftError.membershipChangeInProgress) {
      try leader.proposeMembershipChange(.remove("d"), requestID: 3)
    }
    #expect(leader.membership.learners == ["d"])
    leader.drain()
    leader.step(appendAccepted("b", term: 1, index: 2))
    #expect(leader.commitIndex == 2)
    _ = try leader.proposeMembershipChange(.addLearner("e"), requestID: 4)
    #expect(leader.membership.learners == ["d", "e"])
  }

  @Test("§4.1 a new leader changes the membership only after it committed an entry of its own term")
  func newLeaderWaitsForItsNoopBeforeMembershipChange() throws {
    var leader = try makeLeader("a", terms: [1], term: 2, commit: 1)
    #expect(throws: RaftError.membershipChangeInProgress) {
      try leader.proposeMembershipChange(.addLearner("d"), requestID: 1)
    }
    leader.step(appendAccepted("b", term: 2, index: 2))
    #expect(leader.commitIndex == 2)
    _ = try leader.proposeMembershipChange(.addLearner("d"), requestID: 2)
  }

  @Test("§4.1 a membership change that does not apply is refused with RaftError.membershipChangeRejected")
  func inapplicableMembershipChangeIsRefused() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    #expect(throws: RaftError.membershipChangeRejected("z is not a member")) {
      try leader.proposeMembershipChange(.remove("z"), requestID: 1)
    }
    #expect(throws: RaftError.membershipChangeRejected("b is already a member")) {
      try leader.proposeMembershipChange(.addLearner("b"), requestID: 2)
    }
    #expect(leader.lastIndex == 1, "nothing was appended")
  }

  @Test(
    "§4.1 a follower uses a configuration as soon as it is appended, and goes back to the previous one if the entry is truncated"
  )
  func followerConfigurationRevertsOnTruncation() throws {
    var follower = try makeCore("a", terms: [1], term: 1)
    let withLearner = Membership(voters: ["a", "b", "c"], learners: ["d"])
    follower.step(
      append(
        "b", term: 1, prevIndex: 1, prevTerm: 1,
        entries: [LogEntry(index: 2, term: 1, payload: .membership(withLearner))], commit: 1))
    #expect(follower.commitIndex == 1)
    #expect(follower.membership == withLearner, "in force while still uncommitted")
    let first = try follower.nextReady()
    follower.advance()
    #expect(first.events.contains(.join("d")))

    // A new leader that never had the entry overwrites it.
    follower.step(append("c", term: 2, prevIndex: 1, prevTerm: 1, entries: [entry(2, 2)], commit: 1))
    #expect(follower.entry(at: 2) == entry(2, 2))
    #expect(follower.membership == Membership(voters: ["a", "b", "c"]))
    let second = try follower.nextReady()
    #expect(second.events.contains(.leave("d")))
    #expect(second.events.contains(.membershipChanged(Membership(voters: ["a", "b", "c"]))))
  }

  @Test("§4.1 a follower restarted with a membership entry in its log uses it")
  func restartedFollowerUsesLoggedConfiguration() throws {
    let withLearner = Membership(voters: ["a", "b", "c"], learners: ["d"])
    let state = PersistentState(
      hardState: HardState(term: 1),
      snapshot: SnapshotMetadata(index: 0, term: 0, membership: Membership(voters: ["a", "b", "c"])),
      entries: [entry(1, 1), LogEntry(index: 2, term: 1, payload: .membership(withLearner))])
    let core = try RaftCore(id: "a", state: state, seed: 1)
    #expect(core.membership == withLearner)
  }

  @Test(
    "§4.2.2 a leader that removes itself keeps leading until the change commits, then steps down and does not campaign"
  )
  func removedLeaderStepsDownAfterCommit() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    let ticket = try leader.proposeMembershipChange(.remove("a"), requestID: 1)
    #expect(ticket == .appended(index: 2, term: 1))
    #expect(leader.membership.voters == ["b", "c"])
    leader.drain()
    // The new configuration's majority is b and c: the leader itself no longer counts.
    leader.step(appendAccepted("b", term: 1, index: 2))
    #expect(leader.role == .leader)
    #expect(leader.commitIndex == 1)
    leader.step(appendAccepted("c", term: 1, index: 2))
    #expect(leader.commitIndex == 2)
    #expect(leader.role == .follower)
    let ready = try leader.nextReady()
    leader.advance()
    #expect(ready.events.contains(.stateChanged(from: .leader, to: .follower)))
    let lastAppends = appends(in: ready.messages)
    #expect(Set(lastAppends.map(\.to)) == ["b", "c"], "the followers learn that the removal committed")
    #expect(lastAppends.allSatisfy { $0.append.leaderCommit == 2 })

    for now in stride(from: UInt64(1000), through: 10_000, by: 1000) {
      leader.tick(now: now)
      #expect(voteRequests(in: leader.drainMessages()).isEmpty)
    }
    #expect(leader.role == .follower)
  }

  @Test(
    "§4.2.2 a leader that removes itself takes no more proposals, so a voter that commits the removal is caught up and is told to campaign at once"
  )
  func removedLeaderHandsOverOnCommit() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    _ = try leader.proposeMembershipChange(.remove("a"), requestID: 1)
    leader.drain()
    #expect(throws: RaftError.leadershipTransferInProgress) {
      _ = try leader.propose(Data("late".utf8), requestID: 2)
    }
    leader.step(
      message(
        "b", "a", term: 1,
        .proposal(ForwardedProposal(requestID: 3, request: .command(Data("forwarded".utf8))))))
    let refused = leader.drainMessages().compactMap { message -> ProposalRejection? in
      if case .proposalRejected(let rejection) = message.body { return rejection }
      return nil
    }
    #expect(refused == [ProposalRejection(requestID: 3, error: .leadershipTransferInProgress)])
    #expect(leader.lastIndex == 2)

    leader.step(appendAccepted("b", term: 1, index: 2))
    leader.step(appendAccepted("c", term: 1, index: 2))
    #expect(leader.commitIndex == 2)
    #expect(leader.role == .follower)
    let sent = leader.drainMessages()
    let told = sent.filter { $0.kindName == "timeoutNow" }.map(\.to)
    #expect(told.count == 1 && ["b", "c"].contains(told.first))
  }

  // MARK: Flow control

  @Test("batching: several proposals made before ready() go out as one append per follower")
  func proposalsAreBatched() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    for number in 0..<5 {
      _ = try leader.propose(Data("c\(number)".utf8), requestID: UInt64(number))
    }
    let ready = try leader.nextReady()
    #expect(ready.entries.map(\.index) == [2, 3, 4, 5, 6], "one storage batch")
    let sent = appends(in: ready.messages)
    #expect(sent.map(\.to) == ["b", "c"])
    for (_, append) in sent {
      #expect(append.prevLogIndex == 1)
      #expect(append.entries.map(\.index) == [2, 3, 4, 5, 6])
    }
  }

  @Test("pipelining: no more than maxInflightAppends appends are in flight to one follower")
  func pipeliningWindowIsBounded() throws {
    var leader = try makeReplicatingLeader(
      "a", term: 1, configuration: testConfiguration(preVote: false, maxInflightAppends: 2))
    var toB: [AppendEntries] = []
    for number in 0..<4 {
      _ = try leader.propose(Data("c\(number)".utf8), requestID: UInt64(number))
      toB += appends(in: leader.drainMessages()).filter { $0.to == "b" }.map(\.append)
    }
    #expect(toB.map { $0.entries.map(\.index) } == [[2], [3]], "two in flight, then the leader waits")
    #expect(leader.status.followers["b"]?.inflight == 2)
    // One answer frees one slot: the next append carries everything that waited.
    leader.step(appendAccepted("b", term: 1, index: 2))
    let next = appends(in: leader.drainMessages()).filter { $0.to == "b" && !$0.append.entries.isEmpty }
    #expect(next.map { $0.append.entries.map(\.index) } == [[4, 5]])
    #expect(leader.status.followers["b"]?.inflight == 2)
  }

  @Test(
    "probing: while the leader does not know where a follower's log matches, it sends one append at a time")
  func probeSendsOneAtATime() throws {
    var leader = try makeLeader("a", terms: [1, 1], term: 2)
    // The first append (the no-op after index 2) is out. b rejects it: it holds only index 1.
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    #expect(appends(in: leader.drainMessages()).filter { $0.to == "b" }.isEmpty, "the probe is outstanding")
    leader.step(
      message(
        "b", "a", term: 2,
        .appendEntriesResponse(
          AppendEntriesResponse(success: false, index: 2, conflictTerm: nil, conflictIndex: 2))))
    let probe = appends(in: leader.drainMessages()).filter { $0.to == "b" }
    #expect(probe.count == 1)
    #expect(probe.first?.append.prevLogIndex == 1)
    _ = try leader.propose(Data("y".utf8), requestID: 2)
    _ = try leader.propose(Data("z".utf8), requestID: 3)
    #expect(appends(in: leader.drainMessages()).filter { $0.to == "b" }.isEmpty, "still one probe at a time")
    #expect(leader.status.followers["b"]?.state == "probe")
    // A heartbeat answer lets the leader probe again (the probe may have been lost).
    leader.step(message("b", "a", term: 2, .heartbeatResponse(HeartbeatResponse())))
    let again = appends(in: leader.drainMessages()).filter { $0.to == "b" }
    #expect(again.count == 1)
    #expect(again.first?.append.prevLogIndex == 1)
    // Once b accepts, the leader pipelines.
    leader.step(appendAccepted("b", term: 2, index: 6))
    #expect(leader.status.followers["b"]?.state == "replicate")
    #expect(leader.status.followers["b"]?.matchIndex == 6)
  }
}
