import Testing

@testable import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Runs `call` in a task, cancels the task after `delay`, and returns how the call ended and how
/// long after the cancellation it did.
private func cancelled<Value: Sendable>(
  after delay: Duration = .milliseconds(60), _ call: @escaping @Sendable () async throws -> Value
) async -> (error: RaftError?, afterCancel: Duration) {
  let task = Task { try await call() }
  try? await Task.sleep(for: delay)
  let cancelledAt = ContinuousClock.now
  task.cancel()
  let result = await task.result
  let elapsed = ContinuousClock.now - cancelledAt
  switch result {
  case .success: return (nil, elapsed)
  case .failure(let error): return (error as? RaftError, elapsed)
  }
}

/// Runs `call` in a task that is cancelled before the call starts.
private func precancelled<Value: Sendable>(
  _ call: @escaping @Sendable () async throws -> Value
) async -> RaftError? {
  let task = Task { () async throws -> Value in
    withUnsafeCurrentTask { $0?.cancel() }
    return try await call()
  }
  do {
    _ = try await task.value
    return nil
  } catch {
    return error as? RaftError
  }
}

@Suite("Runtime: cancelling a call through its task", .serialized)
struct CancellationTests {
  @Test("a proposal on a leader without quorum ends at once when cancelled; it may still apply")
  func cancelledProposalWithoutQuorum() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let node = cluster.nodes[leader]!
    _ = try await node.propose(Data("before".utf8))
    cluster.network.isolate(leader)
    let outcome = await cancelled { try await node.propose(Data("stuck".utf8)) }
    #expect(outcome.error == .cancelledOutcomeUnknown)
    #expect(outcome.afterCancel < .milliseconds(500))
    #expect(await eventually { await !node.hasPendingRequests })
    await cluster.shutdown()
  }

  @Test("a proposal forwarded to a leader that never answers ends when cancelled; it may still apply")
  func cancelledForwardedProposal() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let follower = cluster.members.first { $0 != leader }!
    let node = cluster.nodes[follower]!
    _ = try await node.propose(Data("before".utf8))
    cluster.network.cut(from: follower, to: leader)
    let outcome = await cancelled { try await node.propose(Data("lost".utf8)) }
    #expect(outcome.error == .cancelledOutcomeUnknown)
    #expect(outcome.afterCancel < .milliseconds(500))
    #expect(await eventually { await !node.hasPendingRequests })
    await cluster.shutdown()
  }

  @Test(
    "a proposal whose task was cancelled before it reached the core fails with cancelled and is never applied"
  )
  func precancelledProposalIsNotApplied() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let node = cluster.nodes[leader]!
    #expect(await precancelled { try await node.propose(Data("never".utf8)) } == .cancelled)
    _ = try await node.propose(Data("after".utf8))
    try await node.barrier()
    #expect(cluster.machines[leader]!.commands == ["after"])
    #expect(!(await node.hasPendingRequests))
    await cluster.shutdown()
  }

  @Test("linearizableRead and readIndex on a follower whose requests are lost end at once when cancelled")
  func cancelledReads() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let follower = cluster.members.first { $0 != leader }!
    let node = cluster.nodes[follower]!
    _ = try await node.propose(Data("before".utf8))
    cluster.network.cut(from: follower, to: leader)
    let read = await cancelled { try await node.linearizableRead() }
    #expect(read.error == .cancelled)
    #expect(read.afterCancel < .milliseconds(500))
    let index = await cancelled { try await node.readIndex() }
    #expect(index.error == .cancelled)
    #expect(index.afterCancel < .milliseconds(500))
    #expect(await eventually { await !node.hasPendingRequests })
    #expect(await precancelled { try await node.linearizableRead() } == .cancelled)
    await cluster.shutdown()
  }

  @Test("a membership change that cannot commit ends at once when cancelled; it may still apply")
  func cancelledMembershipChange() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let follower = cluster.members.first { $0 != leader }!
    let node = cluster.nodes[follower]!
    _ = try await node.propose(Data("before".utf8))
    cluster.network.cut(from: follower, to: leader)
    let outcome = await cancelled { try await node.addLearner("z") }
    #expect(outcome.error == .cancelledOutcomeUnknown)
    #expect(outcome.afterCancel < .milliseconds(500))
    #expect(await eventually { await !node.hasPendingRequests })
    #expect(await precancelled { try await node.addLearner("y") } == .cancelled)
    await cluster.shutdown()
  }

  @Test(
    "a leadership transfer to a target that never hears of it ends when cancelled, and the leader takes proposals again"
  )
  func cancelledTransfer() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let target = cluster.members.first { $0 != leader }!
    let node = cluster.nodes[leader]!
    _ = try await node.propose(Data("before".utf8))
    cluster.network.cut(from: leader, to: target)
    let outcome = await cancelled(after: .milliseconds(30)) { try await node.transferLeadership(to: target) }
    #expect(outcome.error == .cancelledOutcomeUnknown)
    #expect(outcome.afterCancel < .milliseconds(500))
    // The transfer was given up: proposals are taken again at once, not refused until the
    // transfer's own deadline.
    #expect(await node.status.role == .leader)
    _ = try await node.propose(Data("after".utf8))
    #expect(!(await node.hasPendingRequests))
    #expect(await precancelled { try await node.transferLeadership(to: target) } == .cancelled)
    #expect(await node.status.role == .leader)
    await cluster.shutdown()
  }
}
