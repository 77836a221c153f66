import Foundation
import Testing
import WebRaft

@testable import RaftKV

@Suite("Key-value state machine")
struct KVStateMachineTests {
  private func apply(
    _ machine: KVStateMachine, _ operation: KVCommand.Operation, client: UInt64 = 0, sequence: UInt64 = 0,
    index: UInt64
  ) async throws -> KVResult {
    let command = KVCommand(clientID: client, sequence: sequence, operation: operation)
    return try await machine.apply(command.encoded(), index: index, term: 1)
  }

  @Test("commands survive encoding, and garbage is refused")
  func commandRoundTrip() throws {
    let commands = [
      KVCommand(clientID: 7, sequence: 9, operation: .put(key: "a/b", value: Data("x".utf8))),
      KVCommand(operation: .delete(key: "ключ")),
      KVCommand(
        clientID: .max, sequence: .max, operation: .compareAndSet(key: "k", from: Data(), to: Data([0, 255]))),
    ]
    for command in commands {
      #expect(try KVCommand(decoding: command.encoded()) == command)
    }
    #expect(throws: RaftError.self) { try KVCommand(decoding: Data([1, 1, 9])) }
    #expect(throws: RaftError.self) { try KVCommand(decoding: Data()) }
    var trailing = commands[0].encoded()
    trailing.append(0)
    #expect(throws: RaftError.self) { try KVCommand(decoding: trailing) }
  }

  @Test("put, delete and compare-and-set")
  func basicOperations() async throws {
    let machine = KVStateMachine()
    #expect(
      try await apply(machine, .put(key: "a", value: Data("1".utf8)), index: 1) == .done(existed: false))
    #expect(try await apply(machine, .put(key: "a", value: Data("2".utf8)), index: 2) == .done(existed: true))
    #expect(machine.value(for: "a") == Data("2".utf8))
    #expect(
      try await apply(machine, .compareAndSet(key: "a", from: Data("1".utf8), to: Data("3".utf8)), index: 3)
        == .mismatch(current: Data("2".utf8)))
    #expect(
      try await apply(machine, .compareAndSet(key: "a", from: Data("2".utf8), to: Data("3".utf8)), index: 4)
        == .swapped)
    #expect(machine.value(for: "a") == Data("3".utf8))
    #expect(
      try await apply(machine, .compareAndSet(key: "b", from: Data(), to: Data("x".utf8)), index: 5)
        == .absent)
    #expect(try await apply(machine, .delete(key: "a"), index: 6) == .done(existed: true))
    #expect(try await apply(machine, .delete(key: "a"), index: 7) == .done(existed: false))
    #expect(machine.value(for: "a") == nil)
    #expect(machine.appliedIndex == 7)
  }

  @Test("a retried write applies once and returns the first result")
  func deduplication() async throws {
    let machine = KVStateMachine()
    #expect(
      try await apply(machine, .put(key: "k", value: Data("a".utf8)), client: 1, sequence: 1, index: 1)
        == .done(existed: false))
    #expect(
      try await apply(machine, .put(key: "k", value: Data("b".utf8)), client: 2, sequence: 1, index: 2)
        == .done(existed: true))
    // Client 1 retries its first write: not applied again, same answer as the first time.
    #expect(
      try await apply(machine, .put(key: "k", value: Data("a".utf8)), client: 1, sequence: 1, index: 3)
        == .done(existed: false))
    #expect(machine.value(for: "k") == Data("b".utf8))
    // A retried compare-and-set keeps its first outcome even though the value changed since.
    #expect(
      try await apply(
        machine, .compareAndSet(key: "k", from: Data("b".utf8), to: Data("c".utf8)), client: 2, sequence: 2,
        index: 4) == .swapped)
    _ = try await apply(machine, .put(key: "k", value: Data("b".utf8)), client: 3, sequence: 1, index: 5)
    #expect(
      try await apply(
        machine, .compareAndSet(key: "k", from: Data("b".utf8), to: Data("c".utf8)), client: 2, sequence: 2,
        index: 6) == .swapped)
    #expect(machine.value(for: "k") == Data("b".utf8))
    // The next sequence number applies.
    #expect(
      try await apply(machine, .delete(key: "k"), client: 1, sequence: 2, index: 7) == .done(existed: true))
    #expect(machine.value(for: "k") == nil)
    // Client 0 means no deduplication.
    _ = try await apply(machine, .put(key: "z", value: Data("1".utf8)), index: 8)
    #expect(try await apply(machine, .put(key: "z", value: Data("1".utf8)), index: 9) == .done(existed: true))
  }

  @Test("sessions beyond the limit are forgotten oldest first, in batches")
  func sessionEviction() async throws {
    let machine = KVStateMachine(sessionLimit: 100)
    for client in 1...250 {
      _ = try await apply(
        machine, .put(key: "k\(client)", value: Data()), client: UInt64(client), sequence: 1,
        index: UInt64(client))
    }
    #expect(machine.sessionCount <= 100)
    #expect(machine.sessionCount >= 90)
    // The most recent client is still remembered: its retry is not applied again.
    _ = try await apply(machine, .delete(key: "k250"), client: 250, sequence: 1, index: 251)
    #expect(machine.value(for: "k250") == Data())
  }

  @Test("remembered results are bounded in bytes too")
  func sessionByteBudget() async throws {
    let machine = KVStateMachine(sessionLimit: 1000, sessionByteLimit: 10_000)
    _ = try await apply(machine, .put(key: "big", value: Data(repeating: 1, count: 1000)), index: 1)
    for client in 1...100 {
      let result = try await apply(
        machine, .compareAndSet(key: "big", from: Data(), to: Data()), client: UInt64(client), sequence: 1,
        index: UInt64(client + 1))
      #expect(result == .mismatch(current: Data(repeating: 1, count: 1000)))
    }
    // Each failed compare-and-set remembers 1000 bytes: at most 10 fit.
    #expect(machine.sessionCount <= 10)
    #expect(machine.sessionCount >= 8)
  }

  @Test("a snapshot restores the values and the sessions")
  func snapshotRoundTrip() async throws {
    let machine = KVStateMachine()
    for index in 1...3000 {
      _ = try await apply(
        machine,
        .put(key: "key-\(index % 1500)", value: Data(repeating: UInt8(index % 251), count: index % 700)),
        client: UInt64(index % 17 + 1), sequence: UInt64(index), index: UInt64(index))
    }
    let storage = InMemoryStorage()
    try await storage.initialize(.initial(membership: ["a"]))
    let metadata = SnapshotMetadata(index: 3000, term: 1, membership: ["a"])
    let writer = try await storage.beginSnapshot(metadata)
    try await machine.makeSnapshot().write(to: writer)
    try await writer.commit()
    let reader = try #require(try await storage.openSnapshot())

    let restored = KVStateMachine()
    try await restored.restore(from: reader)
    #expect(restored.count == machine.count)
    #expect(restored.appliedIndex == 3000)
    for index in stride(from: 0, to: 1500, by: 37) {
      #expect(restored.value(for: "key-\(index)") == machine.value(for: "key-\(index)"))
    }
    #expect(restored.sessionCount == machine.sessionCount)
    // The restored sessions still deduplicate: client 1's last write (sequence 2992) is a retry.
    let retried = try await apply(
      restored, .put(key: "key-0", value: Data("again".utf8)), client: 1, sequence: 2992, index: 3001)
    #expect(retried == .done(existed: true))
    #expect(restored.value(for: "key-0") == machine.value(for: "key-0"))
  }

  @Test("a damaged snapshot is refused")
  func damagedSnapshot() async throws {
    let storage = InMemoryStorage()
    try await storage.initialize(.initial(membership: ["a"]))
    let writer = try await storage.beginSnapshot(SnapshotMetadata(index: 5, term: 1, membership: ["a"]))
    try await writer.write(Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))
    try await writer.commit()
    let reader = try #require(try await storage.openSnapshot())
    await #expect(throws: (any Error).self) { try await KVStateMachine().restore(from: reader) }
  }
}
