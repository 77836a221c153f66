import Logging
import Synchronization
import Testing
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// `RaftInbound.handOff(_:)` lets an in-process transport run an idle receiver in the sender's
/// task, which saves a thread switch per message.
@Suite("Hand-off: a message handed to an idle node is worked off in the caller's task")
struct HandOffTests {
  func makeNode(_ id: NodeID) async throws -> RaftNode<RecordingMachine> {
    try await RaftNode(
      id: id, configuration: fastConfiguration(), bootstrap: ["a", "b", "c"],
      storage: InMemoryStorage(), stateMachine: RecordingMachine(), logger: Logger(label: "test"),
      makePeer: InMemoryNetwork().makePeer(from: id))
  }

  @Test("handOff returns only after the idle receiver stepped the message and stored its term")
  func handOffStepsBeforeReturning() async throws {
    let node = try await makeNode("b")
    let append = RaftMessage(
      from: "a", to: "b", term: 7,
      body: .appendEntries(AppendEntries(prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0)))
    await node.inbound.handOff(append)
    let status = await node.status
    #expect(status.term == 7)
    #expect(status.leader == "a")
    await node.shutdown()
  }

  @Test("a custom inbound's handOff delivers like gotData")
  func customInboundDelivers() async {
    let received = ReceivedMessages()
    let inbound = RaftInbound { received.add($0) }
    let message = RaftMessage(from: "a", to: "b", term: 1, body: .timeoutNow)
    await inbound.handOff(message)
    inbound.gotData(message)
    #expect(received.count == 2)
  }
}

/// Collects delivered messages across tasks.
final class ReceivedMessages: Sendable {
  private let messages = Mutex<[RaftMessage]>([])
  func add(_ message: RaftMessage) { messages.withLock { $0.append(message) } }
  var count: Int { messages.withLock { $0.count } }
}
