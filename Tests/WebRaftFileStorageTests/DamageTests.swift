import Logging
import Testing

@testable import WebRaftFileStorage

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#endif

/// Damage at every byte offset of a small log: each case is recovered as a torn tail with exactly
/// the state the intact records give, or refused with a corruption error; never a crash, never
/// wrong data.
@Suite("Damaged files")
struct DamageTests {
  /// A small log built step by step, with what every step left on disk.
  struct Scenario {
    /// The files at the end, by name.
    var files: [String: [UInt8]] = [:]
    /// The state after each step, as load() returned it.
    var states: [PersistentState] = []
    /// The last segment and its size after each step.
    var ends: [(segment: UInt64, size: Int)] = []
    /// The snapshot file at the end.
    var snapshot = SnapshotMetadata(index: 0, term: 0, membership: .empty)

    var segments: [UInt64] {
      files.keys.compactMap(StorageDirectory.segmentSequence).sorted()
    }
  }

  static let membership: Membership = ["a", "b", "c"]

  static func makeScenario(segmentSize: Int) async throws -> Scenario {
    let directory = TemporaryDirectory("webraft-damage")
    let storage = try FileStorage(
      directory: directory.path,
      configuration: FileStorage.Configuration(segmentSize: segmentSize, syncPolicy: .none))
    var scenario = Scenario()
    func record() async throws {
      scenario.states.append(try #require(try await storage.load()))
      let last = try #require(
        fileNames(in: directory.path).compactMap(StorageDirectory.segmentSequence).max())
      scenario.ends.append((last, readFile(directory.file(StorageDirectory.segmentName(last))).count))
    }
    try await storage.initialize(.initial(membership: membership))
    try await record()
    try await storage.persist(
      hardState: HardState(term: 1, votedFor: "a"), entries: entries(1...3, term: 1, size: 12))
    try await record()
    let writer = try await storage.beginSnapshot(SnapshotMetadata(index: 2, term: 1, membership: membership))
    try await writer.write(Data((0..<60).map { UInt8($0) }))
    try await writer.commit()
    try await record()
    let steps: [(HardState?, [LogEntry])] = [
      (nil, entries(4...6, term: 1, size: 12)),
      (HardState(term: 2, votedFor: "b", commitIndex: 3), entries(5...7, term: 2, size: 12)),
      (HardState(term: 3, commitIndex: 5), []),
      (nil, entries(8...11, term: 3, size: 12)),
      (nil, entries(12...13, term: 3, size: 12)),
      (HardState(term: 4, votedFor: "c", commitIndex: 10), entries(14...14, term: 4, size: 12)),
    ]
    for (hardState, batch) in steps {
      try await storage.persist(hardState: hardState, entries: batch)
      try await record()
    }
    storage.close()
    for name in fileNames(in: directory.path) where name != "LOCK" {
      scenario.files[name] = readFile(directory.file(name))
    }
    scenario.snapshot = scenario.states[scenario.states.count - 1].snapshot
    return scenario
  }

  /// What opening must give when the last segment is cut at `offset`: the state after the last
  /// step whose records all lie before it, with the current snapshot installed (a crash may cut
  /// the compaction record that followed the snapshot's rename). Nil when it must be refused.
  static func expectedAfterCut(_ scenario: Scenario, lastSegmentAt offset: Int) -> PersistentState? {
    let last = scenario.segments[scenario.segments.count - 1]
    let first = scenario.segments[0]
    guard
      let step = scenario.ends.lastIndex(where: {
        $0.segment < last || ($0.segment == last && $0.size <= offset)
      })
    else { return nil }
    if scenario.ends[step].segment < last, last == first { return nil }
    var state = scenario.states[step]
    let snapshot = scenario.snapshot
    if snapshot.index > state.snapshot.index {
      let position = Int(snapshot.index - state.snapshot.index) - 1
      if position < state.entries.count, state.entries[position].term == snapshot.term {
        state.entries.removeFirst(position + 1)
      } else {
        state.entries.removeAll()
      }
      state.snapshot = snapshot
      state.hardState.commitIndex = max(state.hardState.commitIndex, snapshot.index)
    }
    return state
  }

  enum Outcome: Equatable {
    case loaded(PersistentState)
    case corruption
    case snapshotCorruption(PersistentState)
  }

  /// Writes the scenario's files with `name` replaced by `bytes`, opens and loads them.
  static func open(
    _ scenario: Scenario, in directory: TemporaryDirectory, replacing name: String, with bytes: [UInt8]
  )
    async throws -> Outcome
  {
    for existing in fileNames(in: directory.path) { unlink(directory.file(existing)) }
    for (file, contents) in scenario.files {
      writeFile(directory.file(file), file == name ? bytes : contents)
    }
    let storage: FileStorage
    do {
      storage = try FileStorage(
        directory: directory.path,
        configuration: FileStorage.Configuration(segmentSize: 1 << 20, syncPolicy: .none),
        logger: Logger(label: "damage") { _ in SwiftLogNoOpLogHandler() })
    } catch {
      guard case .corruption = error else { throw error }
      return .corruption
    }
    defer { storage.close() }
    let state: PersistentState
    do {
      state = try #require(try await storage.load())
    } catch let error as FileStorageError {
      guard case .corruption = error else { throw error }
      return .corruption
    }
    if let reader = try await storage.openSnapshot() {
      do {
        var offset: UInt64 = 0
        while offset < reader.size {
          let chunk = try await reader.read(at: offset, maxLength: 17)
          offset += UInt64(chunk.count)
        }
      } catch let error as FileStorageError {
        guard case .corruption = error else { throw error }
        return .snapshotCorruption(state)
      }
    }
    return .loaded(state)
  }

  @Test("truncation and bit flips at every byte offset", arguments: [150, 1 << 20])
  func everyOffset(segmentSize: Int) async throws {
    let scenario = try await Self.makeScenario(segmentSize: segmentSize)
    let segments = scenario.segments
    if segmentSize == 150 {
      #expect(segments.count >= 3, "the scenario should span several segments: \(scenario.ends)")
    }
    let final = scenario.states[scenario.states.count - 1]
    let directory = TemporaryDirectory("webraft-damage")
    var cases = 0
    for (name, bytes) in scenario.files.sorted(by: { $0.key < $1.key }) {
      let sequence = StorageDirectory.segmentSequence(name)
      let isLastSegment = sequence == segments.last
      for offset in 0..<bytes.count {
        // Cut the file at `offset`.
        let cut = try await Self.open(scenario, in: directory, replacing: name, with: Array(bytes[..<offset]))
        if isLastSegment, let expected = Self.expectedAfterCut(scenario, lastSegmentAt: offset) {
          #expect(cut == .loaded(expected), "\(name) cut at \(offset)")
        } else {
          #expect(cut == .corruption, "\(name) cut at \(offset)")
        }
        // Flip one bit at `offset`.
        var flipped = bytes
        flipped[offset] ^= 1 << (offset % 8)
        let outcome = try await Self.open(scenario, in: directory, replacing: name, with: flipped)
        switch outcome {
        case .corruption:
          break
        case .loaded(let state):
          let torn = Self.expectedAfterCut(scenario, lastSegmentAt: bytes.count - 1)
          #expect(isLastSegment && state == torn, "\(name) with a bit flipped at \(offset) loaded \(state)")
        case .snapshotCorruption(let state):
          #expect(sequence == nil && state == final, "\(name) with a bit flipped at \(offset)")
        }
        cases += 2
      }
    }
    #expect(cases > 1_000)
  }
}
