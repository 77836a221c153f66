import Logging
import Testing
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

@Suite("Runtime: readIndex, verifyLeader and barrier")
struct OperationsTests {
  @Test("readIndex on a follower covers a write made before it; barrier returns with the write applied")
  func readIndexAndBarrierOnFollower() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let follower = cluster.members.first { $0 != leader }!
    _ = try await cluster.nodes[leader]!.propose(Data("written".utf8))
    let written = await cluster.nodes[leader]!.status.commitIndex
    let index = try await cluster.nodes[follower]!.readIndex()
    #expect(index >= written)
    try await cluster.nodes[follower]!.barrier()
    #expect(await cluster.nodes[follower]!.status.appliedIndex >= written)
    #expect(cluster.machines[follower]!.commands.contains("written"))
    await cluster.shutdown()
  }

  @Test(
    "verifyLeader confirms the leader with a quorum, refuses on a follower, and fails on a leader cut off from the others"
  )
  func verifyLeader() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    _ = try await cluster.nodes[leader]!.propose(Data("x".utf8))
    let commit = try await cluster.nodes[leader]!.verifyLeader()
    #expect(commit >= 1)
    let follower = cluster.members.first { $0 != leader }!
    await #expect(throws: RaftError.notLeader(leader: leader)) {
      try await cluster.nodes[follower]!.verifyLeader()
    }
    cluster.network.isolate(leader)
    let started = ContinuousClock.now
    await #expect(throws: RaftError.self) { try await cluster.nodes[leader]!.verifyLeader() }
    #expect(ContinuousClock.now - started < .seconds(4))
    await cluster.shutdown()
  }
}

@Suite("Runtime: graceful shutdown")
struct GracefulShutdownTests {
  @Test(
    "a leader stopped with handingOverLeadership hands over first: the others know a new leader the moment it returns"
  )
  func leaderHandsOverBeforeStopping() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    _ = try await cluster.nodes[leader]!.propose(Data("x".utf8))
    let term = await cluster.nodes[leader]!.status.term
    await cluster.nodes[leader]!.shutdown(handingOverLeadership: true)
    let others = cluster.members.filter { $0 != leader }
    var known: Set<NodeID> = []
    for member in others {
      if let next = await cluster.nodes[member]!.status.leader { known.insert(next) }
    }
    #expect(known.count == 1 && !known.contains(leader), "the others know \(known)")
    let successor = try #require(known.first)
    #expect(await cluster.nodes[successor]!.status.term == term + 1)
    await cluster.shutdown()
  }
}

@Suite("Runtime: a proposal ends as soon as its fate is known")
struct ProposalFateRuntimeTests {
  @Test("a cut-off leader's proposals fail with proposalDropped soon after it rejoins, not at their timeout")
  func cutOffLeaderProposalsAreDropped() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let old = try await cluster.leader()
    _ = try await cluster.nodes[old]!.propose(Data("before".utf8))
    cluster.network.isolate(old)
    let node = cluster.nodes[old]!
    let outcomes = (0..<3).map { number in
      Task { () -> RaftError? in
        do {
          _ = try await node.propose(Data("cut-off \(number)".utf8))
          return nil
        } catch let error as RaftError {
          return error
        } catch {
          return .cancelled
        }
      }
    }
    let others = cluster.members.filter { $0 != old }
    let next = try await cluster.leader(among: others)
    _ = try await cluster.nodes[next]!.propose(Data("new leader".utf8))
    let healed = ContinuousClock.now
    cluster.network.heal()
    for outcome in outcomes {
      guard case .proposalDropped? = await outcome.value else {
        Issue.record("a cut-off proposal ended with \(String(describing: await outcome.value))")
        continue
      }
    }
    // The proposal timeout is 5 s: the fate is known within a few heartbeats of healing.
    #expect(ContinuousClock.now - healed < .seconds(2))
    await cluster.shutdown()
  }
}
