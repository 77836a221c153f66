import Logging
import Testing
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

@Suite("noLeader carries the leader the node knew last")
struct LeaderHintTests {
  /// A follower of "b" in term 1 (it heard b's append).
  private func followerOfB() throws -> RaftCore {
    var follower = try makeCore("a", voters: ["a", "b", "c"], terms: [1], term: 1)
    follower.tick(now: 1000)
    follower.step(append("b", "a", term: 1, prevIndex: 1, prevTerm: 1))
    follower.drain()
    #expect(follower.leader == "b")
    return follower
  }

  @Test("a follower that started an election names the leader it heard last, for proposals and reads")
  func campaigningFollowerNamesItsLastLeader() throws {
    var follower = try followerOfB()
    follower.campaign()
    #expect(follower.leader == nil)
    #expect(follower.leaderHint == "b")
    #expect(throws: RaftError.noLeader(leaderHint: "b")) {
      _ = try follower.propose(Data("x".utf8), requestID: 1)
    }
    #expect(throws: RaftError.noLeader(leaderHint: "b")) {
      _ = try follower.proposeMembershipChange(.remove("c"), requestID: 2)
    }
    #expect(throws: RaftError.noLeader(leaderHint: "b")) { try follower.readIndex(requestID: 3) }
  }

  @Test("a follower that forgot its leader, and one that moved to a later term without a leader, name it")
  func forgottenLeaderIsTheHint() throws {
    var forgetting = try followerOfB()
    forgetting.forgetLeader()
    #expect(throws: RaftError.noLeader(leaderHint: "b")) {
      _ = try forgetting.propose(Data("x".utf8), requestID: 1)
    }

    var later = try followerOfB()
    later.tick(now: 5000)
    later.step(voteRequest("c", "a", term: 2, lastIndex: 0, lastTerm: 0))
    #expect(later.term == 2 && later.leader == nil)
    #expect(later.leaderHint == "b")
  }

  @Test("a follower that knows no leader answers a forwarded read with the hint")
  func forwardedReadIsAnsweredWithTheHint() throws {
    var follower = try followerOfB()
    follower.forgetLeader()
    follower.step(message("c", "a", term: 1, .readIndex(ReadIndexRequest(requestID: 9))))
    let answers = follower.drainMessages().compactMap { message -> ReadIndexResponse? in
      if case .readIndexResponse(let response) = message.body { return response }
      return nil
    }
    #expect(answers.map(\.error) == [.noLeader(leaderHint: "b")])
  }

  @Test("a node that led last itself gives no hint; a fresh node neither")
  func noHintWhenTheNodeLedLast() throws {
    var leader = try makeLeader(
      "a", term: 1, configuration: testConfiguration(preVote: false, checkQuorum: false))
    #expect(leader.leaderHint == nil)
    leader.step(voteRequest("c", "a", term: 5, lastIndex: leader.lastIndex, lastTerm: leader.lastTerm))
    #expect(leader.role == .follower && leader.leader == nil)
    #expect(leader.leaderHint == nil)
    #expect(throws: RaftError.noLeader(leaderHint: nil)) {
      _ = try leader.propose(Data("x".utf8), requestID: 1)
    }
    let fresh = try makeCore("b")
    #expect(fresh.leaderHint == nil)
  }

  @Test("a leader that loses its leadership to a known successor fails its pending reads naming it")
  func deposedLeaderNamesItsSuccessor() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    try leader.readIndex(requestID: 7)
    leader.drain()
    // c leads term 2 and tells a so before the read was confirmed.
    leader.step(append("c", "a", term: 2, prevIndex: leader.lastIndex, prevTerm: 1))
    #expect(leader.role == .follower && leader.leader == "c")
    let results = leader.drain().flatMap(\.readStates)
    #expect(results == [ReadState(requestID: 7, result: .failure(.noLeader(leaderHint: "c")))])
  }
}

@Suite("Runtime: noLeader's hint", .serialized)
struct RuntimeLeaderHintTests {
  @Test("a follower cut off from its leader refuses proposals with noLeader naming that leader")
  func cutOffFollowerNamesItsLeader() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let follower = cluster.members.first { $0 != leader }!
    let node = cluster.nodes[follower]!
    _ = try await node.propose(Data("known".utf8))
    #expect(await node.leader == leader)
    cluster.network.isolate(follower)
    // Once its election timer fires it campaigns and forgets its leader.
    #expect(await eventually { await node.leader == nil })
    #expect(await node.leaderHint == leader)
    await #expect(throws: RaftError.noLeader(leaderHint: leader)) {
      _ = try await node.propose(Data("refused".utf8))
    }
    await #expect(throws: RaftError.noLeader(leaderHint: leader)) { try await node.linearizableRead() }
    await cluster.shutdown()
  }
}
