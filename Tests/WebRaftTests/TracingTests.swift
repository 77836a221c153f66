import Logging
import Testing
import Tracing
import WebRaftTesting

@testable import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

@Suite("Runtime: tracing proposals, reads and membership changes", .serialized)
struct TracingTests {
  /// Runs `body` with `tracer` in force and a span named "caller" current; returns that span's ID.
  private func traced(
    _ tracer: RecordingTracer, _ body: () async throws -> Void
  ) async throws -> UInt64 {
    let caller = tracer.startSpan("caller")
    defer { caller.end() }
    try await withTracer(tracer) {
      try await ServiceContext.withValue(caller.context) { try await body() }
    }
    return caller.spanID
  }

  @Test(
    "a proposal's span is a child of the caller's, ends when the command is applied, and names index and term"
  )
  func proposalSpan() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let follower = cluster.members.first { $0 != leader }!
    let tracer = RecordingTracer()
    let caller = try await traced(tracer) {
      _ = try await cluster.nodes[leader]!.propose(Data("on the leader".utf8))
      _ = try await cluster.nodes[follower]!.propose(Data("on a follower".utf8))
    }
    let spans = tracer.spans.filter { $0.operationName == "raft.propose" }
    #expect(spans.count == 2)
    for span in spans {
      #expect(span.parentID == caller)
      #expect(span.ended && span.extraEnds == 0 && span.errors.isEmpty)
      #expect(span.attributes["raft.index"]?.toSpanAttribute() != nil)
      #expect(span.attributes["raft.term"]?.toSpanAttribute() != nil)
    }
    #expect(await eventually { cluster.machines[leader]!.commands.count == 2 })
    let appliedAt = cluster.machines[leader]!.applied.withLock { $0.map(\.index) }
    let indexes = spans.compactMap { span -> UInt64? in
      guard case .int64(let index)? = span.attributes["raft.index"]?.toSpanAttribute() else { return nil }
      return UInt64(index)
    }
    #expect(indexes == Array(appliedAt.suffix(2)))
    #expect(spans.first?.events.map(\.name) == ["raft.appended"])
    #expect(spans.last?.events.map(\.name) == ["raft.forwarded"])
    #expect(spans.first?.attributes["raft.node"]?.toSpanAttribute() == .string(leader.rawValue))
    await cluster.shutdown()
  }

  @Test("a failed proposal's span records the error; one refused before the node took it as well")
  func failedProposalSpan() async throws {
    let network = InMemoryNetwork()
    let lonely = try await RaftNode(
      id: "lonely", configuration: fastConfiguration(), bootstrap: ["lonely", "gone1", "gone2"],
      storage: InMemoryStorage(), stateMachine: RecordingMachine(), logger: Logger(label: "test"),
      makePeer: network.makePeer(from: "lonely"))
    let tracer = RecordingTracer()
    _ = try await traced(tracer) {
      await #expect(throws: RaftError.noLeader(leaderHint: nil)) {
        _ = try await lonely.propose(Data("x".utf8))
      }
      await lonely.shutdown()
      await #expect(throws: RaftError.shutdown) { _ = try await lonely.propose(Data("y".utf8)) }
    }
    let spans = tracer.spans.filter { $0.operationName == "raft.propose" }
    #expect(spans.count == 2)
    #expect(spans.map(\.errors) == [["\(RaftError.noLeader(leaderHint: nil))"], ["\(RaftError.shutdown)"]])
    #expect(spans.allSatisfy { $0.ended && $0.extraEnds == 0 && $0.status?.code == .error })
  }

  @Test("reads and membership changes have spans of their own, children of the caller's")
  func readAndMembershipSpans() async throws {
    var cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    _ = try await cluster.nodes[leader]!.propose(Data("x".utf8))
    try await cluster.start("d", bootstrap: .empty)
    let tracer = RecordingTracer()
    let node = cluster.nodes[leader]!
    let caller = try await traced(tracer) {
      try await node.linearizableRead()
      try await node.linearizableRead(.lease)
      let index = try await node.readIndex()
      #expect(index >= 2)
      try await node.addLearner("d")
      await #expect(throws: RaftError.self) { try await node.addLearner("d") }
    }
    let names = tracer.spans.filter { $0.parentID == caller }.map(\.operationName)
    #expect(
      names == [
        "raft.linearizableRead", "raft.linearizableRead", "raft.readIndex", "raft.changeMembership",
        "raft.changeMembership",
      ])
    let reads = tracer.spans.filter { $0.operationName != "raft.changeMembership" && $0.parentID == caller }
    #expect(reads.allSatisfy { $0.ended && $0.attributes["raft.read_index"]?.toSpanAttribute() != nil })
    let changes = tracer.spans.filter { $0.operationName == "raft.changeMembership" }
    #expect(changes.first?.attributes["raft.index"]?.toSpanAttribute() != nil)
    #expect(changes.first?.errors == [])
    #expect(changes.last?.errors.count == 1 && changes.last?.ended == true)
    await cluster.shutdown()
  }

  @Test("with no tracer in force a request starts no span and allocates no trace")
  func noTracerNoTrace() {
    #expect(RequestTrace.start("raft.propose", node: "a") == nil)
    let tracer = RecordingTracer()
    withTracer(tracer) {
      #expect(RequestTrace.start("raft.propose", node: "a") != nil)
    }
  }
}
