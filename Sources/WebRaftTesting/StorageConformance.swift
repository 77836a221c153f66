#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A conformance suite for ``WebRaft/RaftStorage``: run it against your own storage to check that
/// it keeps the contract ``WebRaft/RaftNode`` relies on.
///
/// The suite drives a storage through appends, overwrites of a conflicting suffix, hard state
/// changes, snapshots (written and read in chunks), compaction and aborted snapshots, and compares
/// what ``WebRaft/RaftStorage/load()`` and ``WebRaft/RaftStorage/openSnapshot()`` return with a
/// model of the contract after every step. After every step it also restarts the storage —
/// closes it and opens it again at the same location — and checks that nothing changed.
///
/// You give it a way to open a storage at a location (a short name such as `"append"`; map it to
/// a directory, a key prefix or a table), and optionally a way to close one before it is opened
/// again. Every check uses a location of its own, which must be empty the first time it is opened.
///
/// ```swift
/// @Test func myStorageConforms() async throws {
///   let root = try makeTemporaryDirectory()
///   let suite = RaftStorageConformance(
///     open: { location in try MyStorage(path: root + "/" + location) },
///     close: { storage in try await (storage as! MyStorage).close() })
///   try await suite.run()
/// }
/// ```
///
/// A failed check throws a ``Failure`` that names the check and the step.
public struct RaftStorageConformance: Sendable {
  /// Opens the storage at a location (a new one the first time, the same one when reopened).
  public typealias Open = @Sendable (_ location: String) async throws -> any RaftStorage
  /// Closes a storage before its location is opened again.
  public typealias Close = @Sendable (_ storage: any RaftStorage) async throws -> Void

  /// The checks of the suite; each one is also its location's name.
  public enum Check: String, CaseIterable, Sendable {
    /// A new storage loads as nil; after `initialize`, it loads the initial state.
    case initializeAndLoad
    /// Entries of every payload kind, in several batches, load back in order.
    case append
    /// A batch that starts inside the stored log replaces the suffix from its first index.
    case overwriteConflictingSuffix
    /// The hard state is stored with or without entries, and kept when a batch has none.
    case hardState
    /// A snapshot written in chunks is read back in chunks, and the entries after it are kept.
    case snapshot
    /// A snapshot whose term differs from the stored entry at its index removes every entry.
    case compactionRemovesConflictingLog
    /// A snapshot beyond the end of the log removes every entry.
    case compactionBeyondLog
    /// A batch that starts right after a snapshot that kept the log's suffix replaces that suffix
    /// (a follower that compacted, then took a new leader's entries).
    case overwriteRightAfterSnapshot
    /// An aborted snapshot changes nothing.
    case abortedSnapshot
    /// A reader opened before a newer snapshot commits still reads the older snapshot.
    case readerOutlivesNewerSnapshot
    /// Entries persisted while a snapshot is being written are kept when it commits.
    case persistDuringSnapshot
    /// Thousands of entries with repeated snapshots and restarts.
    case longLog
  }

  /// A check that failed: which one, at which step, and what differed.
  public struct Failure: Error, CustomStringConvertible, Sendable {
    /// The check that failed.
    public var check: Check
    /// The step of the check and what differed.
    public var message: String

    /// The check and the message.
    public var description: String { "storage conformance check '\(check.rawValue)' failed: \(message)" }
  }

  private let open: Open
  private let close: Close

  /// Creates the suite.
  ///
  /// - Parameters:
  ///   - open: Opens the storage at a location. Called again for the same location to simulate
  ///     a restart, after `close`.
  ///   - close: Releases a storage before its location is opened again (for example its file
  ///     lock). By default nothing is done.
  public init(open: @escaping Open, close: @escaping Close = { _ in }) {
    self.open = open
    self.close = close
  }

  /// Runs every check, stopping at the first failure.
  public func run() async throws {
    for check in Check.allCases {
      try await run(check)
    }
  }

  /// Runs one check.
  public func run(_ check: Check) async throws {
    let run = ConformanceRun(check: check, open: open, close: close)
    try await run.start()
    switch check {
    case .initializeAndLoad: try await run.initializeAndLoad()
    case .append: try await run.append()
    case .overwriteConflictingSuffix: try await run.overwriteConflictingSuffix()
    case .hardState: try await run.hardState()
    case .snapshot: try await run.snapshot()
    case .compactionRemovesConflictingLog: try await run.compactionRemovesConflictingLog()
    case .compactionBeyondLog: try await run.compactionBeyondLog()
    case .overwriteRightAfterSnapshot: try await run.overwriteRightAfterSnapshot()
    case .abortedSnapshot: try await run.abortedSnapshot()
    case .readerOutlivesNewerSnapshot: try await run.readerOutlivesNewerSnapshot()
    case .persistDuringSnapshot: try await run.persistDuringSnapshot()
    case .longLog: try await run.longLog()
    }
    try await close(run.storage)
  }
}

/// One check in progress: the storage under test and the model of what it must hold.
private final class ConformanceRun {
  let check: RaftStorageConformance.Check
  let open: RaftStorageConformance.Open
  let close: RaftStorageConformance.Close
  var storage: any RaftStorage = InMemoryStorage()
  var model = PersistentState.initial(
    membership: Membership(
      voters: ["a", "b", "c"], learners: ["d"], attributes: ["a": ["address": "10.0.0.1:7000"]]))
  var snapshotData = Data()
  var step = "opening"

  init(
    check: RaftStorageConformance.Check, open: @escaping RaftStorageConformance.Open,
    close: @escaping RaftStorageConformance.Close
  ) {
    self.check = check
    self.open = open
    self.close = close
  }

  // MARK: The checks

  func start() async throws {
    storage = try await open(check.rawValue)
    step = "loading a new storage"
    if let loaded = try await storage.load() {
      throw failure("a new storage must load as nil, found \(describe(loaded))")
    }
    if check != .initializeAndLoad {
      try await initialize()
    }
  }

  func initializeAndLoad() async throws {
    step = "opening a snapshot of a new storage"
    if let reader = try await storage.openSnapshot(), reader.size != 0 {
      throw failure("a new storage has no snapshot, found one at index \(reader.metadata.index)")
    }
    try await initialize()
    try await verifyAndRestart("after initialize")
    try await verifyAndRestart("after a second restart")
  }

  func append() async throws {
    try await persist(HardState(term: 1, votedFor: "a"), entries(1...3, term: 1))
    try await verifyAndRestart("after the first batch")
    try await persist(nil, entries(4...8, term: 1))
    try await persist(nil, [])
    try await persist(nil, entries(9...9, term: 1))
    try await verifyAndRestart("after three more batches")
    try await persist(HardState(term: 2, votedFor: "b", commitIndex: 4), entries(10...40, term: 2))
    try await verifyAndRestart("after a large batch")
  }

  func overwriteConflictingSuffix() async throws {
    try await persist(HardState(term: 1), entries(1...10, term: 1))
    try await persist(HardState(term: 2), entries(6...8, term: 2))
    try await verifyAndRestart("after replacing entries 6...10 with 6...8")
    try await persist(nil, entries(9...9, term: 2))
    try await verifyAndRestart("after appending 9")
    try await persist(HardState(term: 3), entries(3...4, term: 3))
    try await verifyAndRestart("after replacing 3...9 with 3...4")
    try await persist(HardState(term: 4), entries(1...1, term: 4))
    try await verifyAndRestart("after replacing the whole log")
    try await persist(nil, entries(2...6, term: 4))
    try await persist(nil, entries(6...7, term: 4))
    try await verifyAndRestart("after overwriting the last entry with the same term")
  }

  func hardState() async throws {
    try await persist(HardState(term: 1, votedFor: "a"), [])
    try await verifyAndRestart("after a hard state alone")
    try await persist(HardState(term: 2), [])
    try await verifyAndRestart("after clearing the vote")
    try await persist(nil, entries(1...2, term: 2))
    try await verifyAndRestart("after entries without a hard state")
    try await persist(HardState(term: 2, votedFor: "b", commitIndex: 2), entries(3...3, term: 2))
    try await verifyAndRestart("after a hard state with entries")
    try await persist(HardState(term: 9, votedFor: "c", commitIndex: 3), [])
    try await verifyAndRestart("after a higher term")
  }

  func snapshot() async throws {
    try await persist(HardState(term: 2, commitIndex: 8), entries(1...4, term: 1) + entries(5...10, term: 2))
    try await installSnapshot(index: 7, term: 2, size: 100_003, chunk: 7_000)
    try await verifyAndRestart("after a snapshot at 7 with a matching term")
    try await persist(nil, entries(11...12, term: 2))
    try await verifyAndRestart("after appending after the snapshot")
    try await installSnapshot(index: 12, term: 2, size: 513, chunk: 100)
    try await verifyAndRestart("after a snapshot at the last entry")
    try await persist(HardState(term: 3, commitIndex: 12), entries(13...15, term: 3))
    try await installSnapshot(index: 13, term: 3, size: 0, chunk: 1)
    try await verifyAndRestart("after an empty snapshot")
  }

  func compactionRemovesConflictingLog() async throws {
    try await persist(HardState(term: 1), entries(1...10, term: 1))
    try await installSnapshot(index: 7, term: 2, size: 1_000, chunk: 333)
    try await verifyAndRestart("after a snapshot at 7 whose term differs from entry 7")
    try await persist(HardState(term: 2), entries(8...9, term: 2))
    try await verifyAndRestart("after appending after the snapshot")
  }

  func compactionBeyondLog() async throws {
    try await persist(HardState(term: 1), entries(1...5, term: 1))
    try await installSnapshot(index: 20, term: 3, size: 2_000, chunk: 2_000)
    try await verifyAndRestart("after a snapshot beyond the last entry")
    try await persist(HardState(term: 3), entries(21...25, term: 3))
    try await verifyAndRestart("after appending after the snapshot")
  }

  func overwriteRightAfterSnapshot() async throws {
    try await persist(HardState(term: 1), entries(1...10, term: 1))
    try await installSnapshot(index: 5, term: 1, size: 500, chunk: 200)
    try await verifyAndRestart("after a snapshot at 5 that keeps 6...10")
    try await persist(HardState(term: 2), entries(6...8, term: 2))
    try await verifyAndRestart("after a batch from 6 replaced 6...10")
    try await persist(HardState(term: 2), entries(9...9, term: 2))
    try await verifyAndRestart("after appending to the new suffix")
  }

  func abortedSnapshot() async throws {
    try await persist(HardState(term: 1), entries(1...10, term: 1))
    try await abortSnapshot(index: 5, term: 1)
    try await verifyAndRestart("after aborting the first snapshot")
    try await installSnapshot(index: 4, term: 1, size: 3_000, chunk: 1_024)
    try await abortSnapshot(index: 8, term: 1)
    try await verifyAndRestart("after aborting a second snapshot")
  }

  func readerOutlivesNewerSnapshot() async throws {
    try await persist(HardState(term: 1), entries(1...10, term: 1))
    try await installSnapshot(index: 3, term: 1, size: 20_000, chunk: 4_096)
    step = "opening the snapshot at 3"
    guard let reader = try await storage.openSnapshot() else { throw failure("no snapshot to open") }
    let older = snapshotData
    try await installSnapshot(index: 6, term: 1, size: 10_000, chunk: 4_096)
    step = "reading the snapshot at 3 after the one at 6 committed"
    guard reader.metadata.index == 3, reader.size == UInt64(older.count) else {
      throw failure("the reader changed: index \(reader.metadata.index), size \(reader.size)")
    }
    let read = try await readAll(reader, chunk: 3_000)
    guard read == older else { throw failure("the older snapshot's data changed (\(read.count) bytes read)") }
    try await verifyAndRestart("after the newer snapshot")
  }

  func persistDuringSnapshot() async throws {
    try await persist(HardState(term: 1), entries(1...10, term: 1))
    step = "beginning a snapshot at 8"
    let data = pattern(count: 5_000, seed: 8)
    let writer = try await storage.beginSnapshot(snapshotMetadata(index: 8, term: 1))
    try await writer.write(data.prefix(2_000))
    try await persist(HardState(term: 2), entries(11...14, term: 2))
    try await writer.write(data.dropFirst(2_000))
    step = "committing the snapshot at 8"
    try await writer.commit()
    applySnapshot(index: 8, term: 1, data: data)
    try await verifyAndRestart("after entries persisted during a snapshot")
  }

  func longLog() async throws {
    var next: UInt64 = 1
    var term: UInt64 = 1
    for round in 1...4 {
      for batch in 0..<60 {
        let size = UInt64([1, 16, 3, 40][batch % 4])
        try await persist(
          batch % 10 == 0 ? HardState(term: term, commitIndex: next - 1) : nil,
          entries(next...(next + size - 1), term: term))
        next += size
      }
      if round % 2 == 0 {
        term += 1
        next -= 7
        try await persist(HardState(term: term), entries(next...(next + 9), term: term))
        next += 10
      }
      try await installSnapshot(index: next - 5, term: term, size: 4_000 * round, chunk: 1_500)
      try await verifyAndRestart("after round \(round)")
    }
  }

  // MARK: Steps

  func initialize() async throws {
    step = "initializing"
    try await storage.initialize(model)
  }

  func persist(_ hardState: HardState?, _ batch: [LogEntry]) async throws {
    step =
      "persisting \(batch.isEmpty ? "no entries" : "entries \(batch[0].index)...\(batch[batch.count - 1].index)")"
    try await storage.persist(hardState: hardState, entries: batch)
    if let hardState { model.hardState = hardState }
    guard let first = batch.first else { return }
    let base = model.snapshot.index
    let keep = Int(min(first.index - 1 - base, UInt64(model.entries.count)))
    model.entries.removeLast(model.entries.count - keep)
    model.entries.append(contentsOf: batch)
  }

  func installSnapshot(index: UInt64, term: UInt64, size: Int, chunk: Int) async throws {
    step = "writing a snapshot at \(index)"
    let data = pattern(count: size, seed: index)
    let writer = try await storage.beginSnapshot(snapshotMetadata(index: index, term: term))
    var offset = 0
    while offset < data.count {
      let end = min(offset + chunk, data.count)
      try await writer.write(data[offset..<end])
      offset = end
    }
    step = "committing a snapshot at \(index)"
    try await writer.commit()
    applySnapshot(index: index, term: term, data: data)
  }

  func abortSnapshot(index: UInt64, term: UInt64) async throws {
    step = "aborting a snapshot at \(index)"
    let writer = try await storage.beginSnapshot(snapshotMetadata(index: index, term: term))
    try await writer.write(pattern(count: 1_000, seed: 99))
    await writer.abort()
  }

  func applySnapshot(index: UInt64, term: UInt64, data: Data) {
    let base = model.snapshot.index
    let position = Int(index - base) - 1
    if position < model.entries.count, model.entries[position].term == term {
      model.entries.removeFirst(position + 1)
    } else {
      model.entries.removeAll()
    }
    model.snapshot = snapshotMetadata(index: index, term: term)
    snapshotData = data
  }

  func snapshotMetadata(index: UInt64, term: UInt64) -> SnapshotMetadata {
    var membership = model.snapshot.membership
    membership.attributes["b"] = ["snapshot": "\(index)"]
    return SnapshotMetadata(index: index, term: term, membership: membership)
  }

  /// Checks the storage against the model, restarts it, and checks again.
  func verifyAndRestart(_ label: String) async throws {
    step = label
    try await verify()
    step = "restarting " + label
    try await close(storage)
    storage = try await open(check.rawValue)
    step = label + ", after a restart"
    try await verify()
  }

  func verify() async throws {
    guard let loaded = try await storage.load() else { throw failure("load() returned nil after initialize") }
    guard loaded.snapshot == model.snapshot else {
      throw failure("snapshot metadata: expected \(model.snapshot), found \(loaded.snapshot)")
    }
    let expected = model.hardState
    let commitAllowed = [expected.commitIndex, max(expected.commitIndex, model.snapshot.index)]
    guard loaded.hardState.term == expected.term, loaded.hardState.votedFor == expected.votedFor,
      commitAllowed.contains(loaded.hardState.commitIndex)
    else {
      throw failure("hard state: expected \(expected), found \(loaded.hardState)")
    }
    if loaded.entries != model.entries {
      var detail = ""
      if let position = zip(loaded.entries, model.entries).enumerated().first(where: {
        $0.element.0 != $0.element.1
      })?.offset {
        detail = "; first difference: expected \(model.entries[position]), found \(loaded.entries[position])"
      }
      throw failure(
        "entries: expected \(describe(model.entries)), found \(describe(loaded.entries))\(detail)")
    }
    let reader = try await storage.openSnapshot()
    if model.snapshot.index == 0 {
      if let reader, reader.size != 0 {
        throw failure(
          "expected no snapshot, found one at index \(reader.metadata.index) of \(reader.size) bytes")
      }
      return
    }
    guard let reader else {
      throw failure("openSnapshot() returned nil, expected index \(model.snapshot.index)")
    }
    guard reader.metadata == model.snapshot, reader.size == UInt64(snapshotData.count) else {
      throw failure(
        "snapshot reader: expected index \(model.snapshot.index) of \(snapshotData.count) bytes, found index "
          + "\(reader.metadata.index) of \(reader.size) bytes")
    }
    for chunk in [4_096, 777] {
      let read = try await readAll(reader, chunk: chunk)
      guard read == snapshotData else {
        throw failure("snapshot data read in chunks of \(chunk) bytes differs (\(read.count) bytes read)")
      }
    }
    let pastEnd = try await reader.read(at: reader.size, maxLength: 10)
    guard pastEnd.isEmpty else {
      throw failure("a read at the end of the snapshot returned \(pastEnd.count) bytes")
    }
  }

  func readAll(_ reader: any RaftSnapshotReader, chunk: Int) async throws -> Data {
    var data = Data()
    while UInt64(data.count) < reader.size {
      let part = try await reader.read(at: UInt64(data.count), maxLength: chunk)
      let expected = Int(min(UInt64(chunk), reader.size - UInt64(data.count)))
      guard part.count == expected else {
        throw failure(
          "read(at: \(data.count), maxLength: \(chunk)) returned \(part.count) bytes, expected \(expected)")
      }
      data.append(part)
    }
    return data
  }

  // MARK: Helpers

  func failure(_ message: String) -> RaftStorageConformance.Failure {
    RaftStorageConformance.Failure(check: check, message: "\(step): \(message)")
  }

  func entries(_ indexes: ClosedRange<UInt64>, term: UInt64) -> [LogEntry] {
    indexes.map { index in
      let payload: LogEntry.Payload
      switch index % 7 {
      case 0: payload = .noop
      case 3: payload = .membership(Membership(voters: ["a", "b"], learners: [NodeID("x\(index)")]))
      default: payload = .command(pattern(count: Int(index % 41), seed: index &* 31 &+ term))
      }
      let origin = index % 5 == 2 ? ProposalOrigin(node: "b", requestID: index * 10 + term) : nil
      return LogEntry(index: index, term: term, payload: payload, origin: origin)
    }
  }

  func pattern(count: Int, seed: UInt64) -> Data {
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    var bytes = [UInt8](repeating: 0, count: count)
    for position in 0..<count {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      bytes[position] = UInt8(truncatingIfNeeded: state >> 56)
    }
    return Data(bytes)
  }

  func describe(_ state: PersistentState) -> String {
    "hard state \(state.hardState), snapshot at \(state.snapshot.index), \(describe(state.entries))"
  }

  func describe(_ entries: [LogEntry]) -> String {
    guard let first = entries.first, let last = entries.last else { return "no entries" }
    let terms = entries.map(\.term)
    return "\(entries.count) entries \(first.index)...\(last.index) with terms \(Set(terms).sorted())"
  }
}
