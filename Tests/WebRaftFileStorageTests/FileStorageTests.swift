import Logging
import Testing
import WebRaft

@testable import WebRaftFileStorage

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#endif

@Suite("FileStorage")
struct FileStorageTests {
  let membership: Membership = ["a", "b", "c"]

  func open(
    _ directory: TemporaryDirectory, segmentSize: Int = 1 << 20, logger: Logger = Logger(label: "test")
  ) throws -> FileStorage {
    try FileStorage(
      directory: directory.path,
      configuration: FileStorage.Configuration(segmentSize: segmentSize, syncPolicy: .none),
      logger: logger)
  }

  @Test("CRC-32C with the CPU's instruction equals the software version on any input and split")
  func hardwareChecksumMatchesSoftware() {
    var generator = SplitMix64(seed: 42)
    for length in [0, 1, 7, 8, 9, 15, 16, 63, 64, 65, 1_000, 65_537] {
      let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
      let software = bytes.withUnsafeBytes { CRC32C.softwareExtend(0, $0) }
      #expect(CRC32C.checksum(bytes) == software, "length \(length)")
      let split = length / 3
      let first = bytes[..<split].withUnsafeBytes { CRC32C.softwareExtend(0, $0) }
      #expect(CRC32C.extend(first, bytes[split...]) == software, "length \(length) split at \(split)")
    }
  }

  @Test("CRC-32C matches the standard check values")
  func checksum() {
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
    #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
    #expect(CRC32C.checksum([UInt8]()) == 0)
    // Slicing by eight gives the same as any split of the input.
    let bytes = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
    let whole = CRC32C.checksum(bytes)
    for split in [0, 1, 3, 7, 8, 9, 500, 999, 1_000] {
      #expect(CRC32C.extend(CRC32C.checksum(bytes[..<split]), bytes[split...]) == whole)
    }
  }

  @Test("a batch right after the snapshot replaces the entries the snapshot kept; load and reopen see it")
  func batchRightAfterSnapshotReplacesKeptSuffix() async throws {
    // A follower compacts through 5, keeping 6...10, then a new leader replaces everything after
    // 5. The record that held 1...10 then has no live entry left (CI caught a crash on this).
    let directory = TemporaryDirectory()
    let storage = try open(directory)
    try await storage.initialize(.initial(membership: membership))
    try await storage.persist(hardState: HardState(term: 1), entries: entries(1...10, term: 1))
    let writer = try await storage.beginSnapshot(SnapshotMetadata(index: 5, term: 1, membership: membership))
    try await writer.write(Data([1]))
    try await writer.commit()
    try await storage.persist(hardState: HardState(term: 2), entries: entries(6...8, term: 2))
    let loaded = try #require(try await storage.load())
    #expect(loaded.entries.map(\.index) == [6, 7, 8])
    #expect(loaded.entries.allSatisfy { $0.term == 2 })
    storage.close()
    let reopened = try open(directory)
    let again = try #require(try await reopened.load())
    #expect(again.entries.map(\.index) == [6, 7, 8])
    #expect(again.entries.allSatisfy { $0.term == 2 })
    reopened.close()
  }

  @Test("a second open of a directory fails until the first is closed")
  func locking() async throws {
    let directory = TemporaryDirectory()
    let first = try open(directory)
    #expect(throws: FileStorageError.locked(directory: directory.path)) { try open(directory) }
    do {
      _ = try open(directory)
    } catch let error as FileStorageError {
      #expect(error.description.contains(directory.path))
    }
    first.close()
    await #expect(throws: FileStorageError.closed) { try await first.load() }
    let second = try open(directory)
    #expect(try await second.load() == nil)
  }

  @Test("a new directory loads as nil; initialize twice fails")
  func initializeOnce() async throws {
    let directory = TemporaryDirectory()
    let storage = try open(directory)
    #expect(try await storage.load() == nil)
    try await storage.initialize(.initial(membership: membership))
    await #expect(throws: FileStorageError.alreadyInitialized(directory: directory.path)) {
      try await storage.initialize(.initial(membership: membership))
    }
    #expect(try await storage.load() == .initial(membership: membership))
  }

  @Test("persist before initialize starts from an empty membership, as InMemoryStorage does")
  func persistBeforeInitialize() async throws {
    let directory = TemporaryDirectory()
    let storage = try open(directory)
    try await storage.persist(hardState: HardState(term: 1), entries: entries(1...2, term: 1))
    let memory = InMemoryStorage()
    try await memory.persist(hardState: HardState(term: 1), entries: entries(1...2, term: 1))
    #expect(try await storage.load() == memory.contents)
  }

  @Test("entries that leave a gap are refused and change nothing")
  func gap() async throws {
    let directory = TemporaryDirectory()
    let storage = try open(directory)
    try await storage.initialize(.initial(membership: membership))
    try await storage.persist(hardState: nil, entries: entries(1...3, term: 1))
    await #expect(throws: FileStorageError.self) {
      try await storage.persist(hardState: nil, entries: entries(5...6, term: 1))
    }
    await #expect(throws: FileStorageError.self) {
      try await storage.persist(hardState: nil, entries: [entry(4, term: 1), entry(6, term: 1)])
    }
    try await storage.persist(hardState: nil, entries: entries(4...4, term: 1))
    #expect(try await storage.load()?.entries == entries(1...4, term: 1))
  }

  @Test("segments roll at the configured size and compaction deletes the old ones")
  func segments() async throws {
    let directory = TemporaryDirectory()
    var storage = try open(directory, segmentSize: 512)
    try await storage.initialize(.initial(membership: membership))
    for first in stride(from: UInt64(1), through: 196, by: 5) {
      try await storage.persist(
        hardState: HardState(term: 1, commitIndex: first), entries: entries(first...(first + 4), term: 1))
    }
    let before = fileNames(in: directory.path).filter { $0.hasPrefix("segment-") }
    #expect(before.count >= 8)
    let writer = try await storage.beginSnapshot(
      SnapshotMetadata(index: 150, term: 1, membership: membership))
    try await writer.write(Data([1, 2, 3]))
    try await writer.commit()
    let after = fileNames(in: directory.path)
    #expect(after.filter { $0.hasPrefix("segment-") }.count <= before.count / 2)
    #expect(after.filter { $0.hasPrefix("snapshot-") } == [StorageDirectory.snapshotName(150)])
    storage.close()
    storage = try open(directory, segmentSize: 512)
    let loaded = try #require(try await storage.load())
    #expect(loaded.snapshot.index == 150)
    #expect(loaded.entries == entries(151...200, term: 1))
    #expect(loaded.hardState == HardState(term: 1, commitIndex: 196))
  }

  @Test("segments left over by an interrupted deletion are removed on open")
  func interruptedDeletion() async throws {
    let directory = TemporaryDirectory()
    var storage = try open(directory, segmentSize: 512)
    try await storage.initialize(.initial(membership: membership))
    for first in stride(from: UInt64(1), through: 196, by: 5) {
      try await storage.persist(hardState: nil, entries: entries(first...(first + 4), term: 1))
    }
    let first = StorageDirectory.segmentName(1)
    let oldest = readFile(directory.file(first))
    let writer = try await storage.beginSnapshot(
      SnapshotMetadata(index: 190, term: 1, membership: membership))
    try await writer.commit()
    storage.close()
    #expect(!fileNames(in: directory.path).contains(first))
    // The crash came after the newer segments were deleted but before the first one was.
    writeFile(directory.file(first), oldest)
    let messages = RecordingLogHandler.Messages()
    storage = try open(directory, segmentSize: 512, logger: RecordingLogHandler.logger(messages))
    #expect(messages.contains(.notice, "obsolete log segment"))
    #expect(!fileNames(in: directory.path).contains(first))
    let loaded = try #require(try await storage.load())
    #expect(loaded.snapshot.index == 190)
    #expect(loaded.entries == entries(191...200, term: 1))
  }

  @Test("a torn tail is cut off and reported through the logger")
  func tornTail() async throws {
    let directory = TemporaryDirectory()
    var storage = try open(directory)
    try await storage.initialize(.initial(membership: membership))
    try await storage.persist(hardState: HardState(term: 1), entries: entries(1...3, term: 1))
    let segment = directory.file(StorageDirectory.segmentName(1))
    let durable = readFile(segment)
    try await storage.persist(hardState: nil, entries: entries(4...9, term: 1))
    storage.close()
    let full = readFile(segment)
    writeFile(segment, Array(full[..<(durable.count + (full.count - durable.count) / 2)]))

    let messages = RecordingLogHandler.Messages()
    storage = try open(directory, logger: RecordingLogHandler.logger(messages))
    #expect(messages.contains(.warning, "torn tail"))
    #expect(messages.contains(.warning, "offset=\(durable.count)"))
    #expect(try await storage.load()?.entries == entries(1...3, term: 1))
    #expect(readFile(segment) == durable)
    // Appending goes on after the cut.
    try await storage.persist(hardState: nil, entries: entries(4...5, term: 2))
    storage.close()
    storage = try open(directory)
    #expect(try await storage.load()?.entries == entries(1...3, term: 1) + entries(4...5, term: 2))
  }

  @Test("damage before the tail is refused with an error naming the file, the offset and what to do")
  func corruptionError() async throws {
    let directory = TemporaryDirectory()
    var storage = try open(directory)
    try await storage.initialize(.initial(membership: membership))
    let segment = directory.file(StorageDirectory.segmentName(1))
    let headerSize = readFile(segment).count
    try await storage.persist(hardState: HardState(term: 1), entries: entries(1...3, term: 1))
    try await storage.persist(hardState: nil, entries: entries(4...6, term: 1))
    storage.close()
    var bytes = readFile(segment)
    bytes[headerSize + 20] ^= 0x10
    writeFile(segment, bytes)
    do {
      storage = try open(directory)
      Issue.record("a damaged record before the tail was accepted")
    } catch let error as FileStorageError {
      guard case .corruption(let file, let offset, _) = error else {
        Issue.record("expected a corruption error, got \(error)")
        return
      }
      #expect(file == StorageDirectory.segmentName(1))
      #expect(offset == UInt64(headerSize))
      #expect(error.description.contains("segment-0000000000000001.log at byte offset \(headerSize)"))
      #expect(error.description.contains("Move the directory aside"))
    }
    #expect(readFile(segment) == bytes, "a refused directory must not be changed")
  }

  @Test("a crash between the snapshot's rename and its compaction record is finished on open")
  func interruptedSnapshotInstall() async throws {
    for (term, kept) in [(UInt64(1), true), (UInt64(2), false)] {
      let directory = TemporaryDirectory()
      var storage = try open(directory)
      try await storage.initialize(.initial(membership: membership))
      try await storage.persist(hardState: HardState(term: 1), entries: entries(1...10, term: 1))
      let segment = directory.file(StorageDirectory.segmentName(1))
      let beforeCompaction = readFile(segment)
      let writer = try await storage.beginSnapshot(
        SnapshotMetadata(index: 5, term: term, membership: membership))
      try await writer.write(Data(repeating: 7, count: 100))
      try await writer.commit()
      storage.close()
      // Lose the compaction record, as if the crash came right before it was written.
      writeFile(segment, beforeCompaction)
      let messages = RecordingLogHandler.Messages()
      storage = try open(directory, logger: RecordingLogHandler.logger(messages))
      #expect(messages.contains(.notice, "finished installing a snapshot"))
      let loaded = try #require(try await storage.load())
      #expect(loaded.snapshot.index == 5)
      #expect(loaded.entries == (kept ? entries(6...10, term: 1) : []))
      storage.close()
      storage = try open(directory)
      #expect(try await storage.load() == loaded)
    }
  }

  @Test("leftover temporary files and an interrupted initialization are cleaned up")
  func leftovers() async throws {
    let directory = TemporaryDirectory()
    var storage = try open(directory)
    try await storage.initialize(.initial(membership: membership))
    storage.close()
    // An initialization that stopped after the snapshot file: no segment yet.
    removeTree(directory.path)
    mkdir(directory.path, 0o755)
    let other = TemporaryDirectory()
    storage = try open(other)
    try await storage.initialize(.initial(membership: membership))
    storage.close()
    writeFile(
      directory.file(StorageDirectory.snapshotName(0)), readFile(other.file(StorageDirectory.snapshotName(0)))
    )
    writeFile(directory.file("snapshot-9-1.tmp"), [1, 2, 3])
    storage = try open(directory)
    #expect(try await storage.load() == nil)
    #expect(fileNames(in: directory.path) == ["LOCK"])
  }

  @Test("a missing segment or snapshot file is refused")
  func missingFiles() async throws {
    let directory = TemporaryDirectory()
    let storage = try open(directory, segmentSize: 512)
    try await storage.initialize(.initial(membership: membership))
    for first in stride(from: UInt64(1), through: 100, by: 10) {
      try await storage.persist(hardState: nil, entries: entries(first...(first + 9), term: 1))
    }
    storage.close()
    let segments = fileNames(in: directory.path).filter { $0.hasPrefix("segment-") }
    #expect(segments.count >= 4)
    for missing in [segments[0], segments[2], StorageDirectory.snapshotName(0)] {
      let copy = TemporaryDirectory()
      removeTree(copy.path)
      copyDirectory(directory.path, to: copy.path)
      unlink(copy.file(missing))
      let error = await throwsCorruption { _ = try open(copy) }
      #expect(error != nil, "a directory without \(missing) was accepted")
    }
  }

  @Test("a snapshot whose data is damaged fails when read to the end")
  func snapshotChecksum() async throws {
    let directory = TemporaryDirectory()
    var storage = try open(directory)
    try await storage.initialize(.initial(membership: membership))
    try await storage.persist(hardState: nil, entries: entries(1...10, term: 1))
    let writer = try await storage.beginSnapshot(SnapshotMetadata(index: 5, term: 1, membership: membership))
    try await writer.write(Data(repeating: 1, count: 10_000))
    try await writer.commit()
    storage.close()
    let path = directory.file(StorageDirectory.snapshotName(5))
    var bytes = readFile(path)
    bytes[1_234] ^= 1
    writeFile(path, bytes)
    storage = try open(directory)
    let reader = try #require(try await storage.openSnapshot())
    _ = try await reader.read(at: 0, maxLength: 5_000)
    let error = await throwsCorruption { _ = try await reader.read(at: 5_000, maxLength: 5_000) }
    #expect(error != nil)
  }

  @Test("a write after close fails clearly")
  func closed() async throws {
    let directory = TemporaryDirectory()
    let storage = try open(directory)
    storage.close()
    await #expect(throws: FileStorageError.closed) {
      try await storage.persist(hardState: HardState(term: 1), entries: [])
    }
  }
}
