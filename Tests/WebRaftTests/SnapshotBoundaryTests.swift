import Logging
import Synchronization
import Testing
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A state machine whose state depends on every command exactly once: it sums the commands (as
/// numbers). Its snapshot records the last index it had applied, so a test can compare that with
/// the index the snapshot is labelled with. Capturing takes a while, as copying a large state
/// does.
final class SummingMachine: RaftStateMachine {
  private struct State {
    var sum = 0
    var lastIndex: UInt64 = 0
  }
  private let state = Mutex(State())

  func apply(_ command: Data, index: UInt64, term: UInt64) async throws -> Int {
    let value = Int(String(decoding: command, as: UTF8.self)) ?? 0
    return state.withLock {
      $0.sum += value
      $0.lastIndex = index
      return $0.sum
    }
  }

  func makeSnapshot() async throws -> any RaftStateSnapshot {
    try await Task.sleep(for: .milliseconds(15))
    let (sum, lastIndex) = state.withLock { ($0.sum, $0.lastIndex) }
    return DataSnapshot(Data("\(lastIndex) \(sum)".utf8))
  }

  func restore(from snapshot: any RaftSnapshotReader) async throws {
    let data = try await snapshot.read(at: 0, maxLength: Int(snapshot.size))
    let (lastIndex, sum) = Self.decode(data)
    state.withLock {
      $0.sum = sum
      $0.lastIndex = lastIndex
    }
  }

  var sum: Int { state.withLock { $0.sum } }

  /// The last applied index and the sum a snapshot holds.
  static func decode(_ data: Data) -> (lastIndex: UInt64, sum: Int) {
    let parts = String(decoding: data, as: UTF8.self).split(separator: " ")
    return (UInt64(parts[0]) ?? 0, Int(parts[1]) ?? 0)
  }
}

@Suite("Runtime: a snapshot holds exactly the state at its index")
struct SnapshotBoundaryTests {
  @Test(
    "a snapshot captured while proposals keep committing holds the state at its index, and a restart from it replays nothing twice"
  )
  func snapshotCapturedAtItsIndex() async throws {
    var configuration = fastConfiguration()
    configuration.snapshotEntryInterval = 20
    configuration.maxApplyBatch = 8
    let storage = InMemoryStorage()
    let machine = SummingMachine()
    let node = try await RaftNode(
      id: "a", configuration: configuration, bootstrap: Membership(voters: ["a"]), storage: storage,
      stateMachine: machine, logger: Logger(label: "test"), seed: 7,
      makePeer: InMemoryNetwork().makePeer(from: "a"))
    for _ in 0..<300 where await node.status.role != .leader {
      try await Task.sleep(for: .milliseconds(10))
    }
    // Proposals keep arriving while snapshots are captured.
    let total = 400
    try await withThrowingTaskGroup(of: Void.self) { group in
      for writer in 0..<8 {
        group.addTask {
          for value in stride(from: writer + 1, through: total, by: 8) {
            _ = try await node.propose(Data("\(value)".utf8))
          }
        }
      }
      try await group.waitForAll()
    }
    let expected = total * (total + 1) / 2
    #expect(machine.sum == expected)
    // Let the last snapshot be written and committed.
    try await Task.sleep(for: .milliseconds(100))
    await node.shutdown()

    let reader = try #require(try await storage.openSnapshot())
    let data = try await reader.read(at: 0, maxLength: Int(reader.size))
    let captured = SummingMachine.decode(data)
    #expect(reader.metadata.index > 0)
    #expect(
      captured.lastIndex == reader.metadata.index,
      "the snapshot labelled index \(reader.metadata.index) holds the state after index \(captured.lastIndex)"
    )

    let restarted = SummingMachine()
    let again = try await RaftNode(
      id: "a", configuration: configuration, bootstrap: Membership(voters: ["a"]), storage: storage,
      stateMachine: restarted, logger: Logger(label: "test"), seed: 8,
      makePeer: InMemoryNetwork().makePeer(from: "a"))
    for _ in 0..<300 where restarted.sum != expected {
      try await Task.sleep(for: .milliseconds(10))
    }
    #expect(
      restarted.sum == expected, "after a restart from storage the state machine holds \(restarted.sum)")
    await again.shutdown()
  }
}

@Suite("Runtime: snapshots on demand")
struct SnapshotOnDemandTests {
  private static func singleNode<Machine: RaftStateMachine>(_ machine: Machine, storage: InMemoryStorage)
    async throws -> RaftNode<Machine>
  {
    var configuration = fastConfiguration()
    configuration.snapshotEntryInterval = nil
    configuration.snapshotLogBytes = nil
    let node = try await RaftNode(
      id: "a", configuration: configuration, bootstrap: Membership(voters: ["a"]), storage: storage,
      stateMachine: machine, logger: Logger(label: "test"), seed: 3,
      makePeer: InMemoryNetwork().makePeer(from: "a"))
    for _ in 0..<300 where await node.status.role != .leader {
      try await Task.sleep(for: .milliseconds(10))
    }
    return node
  }

  @Test(
    "snapshot() on an idle node takes a snapshot of everything applied, compacts the log, and answers its index"
  )
  func snapshotOnDemand() async throws {
    let storage = InMemoryStorage()
    let machine = SummingMachine()
    let node = try await Self.singleNode(machine, storage: storage)
    for value in 1...30 { _ = try await node.propose(Data("\(value)".utf8)) }
    let applied = await node.status.appliedIndex
    #expect(await node.status.snapshotIndex == 0)
    let index = try await node.snapshot()
    #expect(index >= applied)
    let reader = try #require(try await storage.openSnapshot())
    #expect(reader.metadata.index == index)
    let data = try await reader.read(at: 0, maxLength: Int(reader.size))
    #expect(SummingMachine.decode(data).sum == 465)
    #expect(await node.status.snapshotIndex == index)
    // Nothing new applied: the same snapshot answers at once.
    #expect(try await node.snapshot() == index)
    await node.shutdown()
  }

  @Test("purgeLog(through:) leaves no entry at or below the index, and refuses an index not applied")
  func purgeLog() async throws {
    let storage = InMemoryStorage()
    let node = try await Self.singleNode(SummingMachine(), storage: storage)
    for value in 1...20 { _ = try await node.propose(Data("\(value)".utf8)) }
    let applied = await node.status.appliedIndex
    await #expect(throws: RaftError.notApplied(index: applied + 5, applied: applied)) {
      try await node.purgeLog(through: applied + 5)
    }
    let start = try await node.purgeLog(through: applied - 3)
    #expect(start >= applied - 3)
    #expect(await node.status.snapshotIndex == start)
    let stored = try #require(try await storage.load())
    #expect(stored.snapshot.index == start)
    #expect(stored.entries.allSatisfy { $0.index > start }, "the stored log still holds purged entries")
    // Already purged: answered at once, without another snapshot.
    #expect(try await node.purgeLog(through: 2) == start)
    await node.shutdown()
  }

  @Test("snapshot() on a state machine without snapshots fails with snapshotsUnsupported")
  func snapshotUnsupported() async throws {
    let node = try await Self.singleNode(RecordingMachine(), storage: InMemoryStorage())
    _ = try await node.propose(Data("x".utf8))
    await #expect(throws: RaftError.snapshotsUnsupported) { try await node.snapshot() }
    await #expect(throws: RaftError.snapshotsUnsupported) { try await node.snapshot() }
    await node.shutdown()
  }
}
