import Logging
import ServiceLifecycle
import Testing
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

@Suite("Runtime: RaftNode as a swift-service-lifecycle service", .serialized)
struct ServiceTests {
  /// Each node of `cluster` run by a service group of its own, in a task.
  private func runGroups(
    _ cluster: RuntimeCluster
  ) -> [NodeID: (group: ServiceGroup, task: Task<Void, any Error>)] {
    var groups: [NodeID: (group: ServiceGroup, task: Task<Void, any Error>)] = [:]
    for (member, node) in cluster.nodes {
      let group = ServiceGroup(services: [node], logger: Logger(label: "test"))
      groups[member] = (group, Task { try await group.run() })
    }
    return groups
  }

  @Test(
    "graceful shutdown of the leader's service group hands leadership over by transfer, then run() returns"
  )
  func gracefulShutdownHandsOver() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let groups = runGroups(cluster)
    let leader = try await cluster.leader()
    _ = try await cluster.nodes[leader]!.propose(Data("x".utf8))
    let term = await cluster.nodes[leader]!.status.term
    let started = ContinuousClock.now
    await groups[leader]!.group.triggerGracefulShutdown()
    try await groups[leader]!.task.value
    let stopped = ContinuousClock.now - started
    // A transfer takes a round trip and one election round; an election by timeout would first
    // wait out the followers' heartbeat timeout and a randomized election timeout.
    #expect(stopped < .milliseconds(600), "run() took \(stopped) to return")
    await #expect(throws: RaftError.shutdown) { _ = try await cluster.nodes[leader]!.propose(Data("y".utf8)) }
    let others = cluster.members.filter { $0 != leader }
    var known: Set<NodeID> = []
    for member in others {
      if let next = await cluster.nodes[member]!.status.leader { known.insert(next) }
    }
    #expect(known.count == 1 && !known.contains(leader), "the others know \(known)")
    let successor = try #require(known.first)
    #expect(await cluster.nodes[successor]!.status.term == term + 1)
    // Stopping the nodes outside their groups ends their services' run() as well (the groups
    // then report that a service finished unexpectedly).
    await cluster.shutdown()
    for member in others { _ = await groups[member]!.task.result }
  }

  @Test("cancelling run() stops the node at once; shutdown() elsewhere ends run()")
  func cancellationAndShutdownEndRun() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let node = cluster.nodes["a"]!
    let run = Task { try await node.run() }
    try await Task.sleep(for: .milliseconds(20))
    run.cancel()
    try await run.value
    await #expect(throws: RaftError.shutdown) { _ = try await node.propose(Data("x".utf8)) }

    let other = cluster.nodes["b"]!
    let otherRun = Task { try await other.run() }
    try await Task.sleep(for: .milliseconds(20))
    await other.shutdown()
    try await otherRun.value
    await cluster.shutdown()
  }

  @Test("a node that halts on a failed apply ends run() with that failure")
  func haltEndsRunWithTheFailure() async throws {
    let network = InMemoryNetwork()
    let node = try await RaftNode(
      id: "solo", configuration: fastConfiguration(), bootstrap: ["solo"], storage: InMemoryStorage(),
      stateMachine: RecordingMachine(), logger: Logger(label: "test"),
      makePeer: network.makePeer(from: "solo"))
    let run = Task { try await node.run() }
    #expect(await eventually { await node.status.role == .leader })
    _ = try? await node.propose(Data("fail".utf8))
    do {
      try await run.value
      Issue.record("run() returned although the node halted")
    } catch let error as RaftError {
      guard case .stateMachineFailed = error else {
        Issue.record("run() threw \(error)")
        return
      }
    }
  }
}
