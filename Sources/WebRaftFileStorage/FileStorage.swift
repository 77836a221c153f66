import Dispatch
import Logging
import Synchronization
@_exported import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A ``WebRaft/RaftStorage`` on local files that survives process crashes, power loss, torn
/// writes and corruption: what a node needs to keep Raft's promises across restarts.
///
/// Each node has a directory of its own, locked with `flock` while a storage has it open. It holds
/// a segmented, append-only log (`segment-*.log`) and snapshots (`snapshot-*.snap`). Every record
/// is framed with its length, type and CRC-32C. Each ``persist(hardState:entries:)`` call writes
/// one record — the hard state and the entries together, so a batch is stored whole or not at all
/// — and ends with one `fdatasync` (group commit): when it returns, the batch is durable.
///
/// On open, the storage replays its log. A torn tail (the last record cut or garbled by a crash
/// during a write that was never acknowledged) is cut off and reported through the logger as a
/// warning. Anything else that is not what the storage wrote — a checksum failure before the
/// tail, a missing segment or snapshot — makes the initializer throw
/// ``FileStorageError/corruption(file:offset:reason:)``, which names the file and offset and says
/// what to do; the storage never drops or returns wrong entries silently.
///
/// Snapshots are written to a temporary file, synced, renamed and the directory synced; then a
/// compaction record makes the log start after the snapshot and whole segments that hold no live
/// entries are deleted. A crash at any point leaves a loadable state.
///
/// Memory stays small: the storage keeps the location of each batch and the terms, not the
/// entries; ``load()`` reads them back from disk, one segment at a time.
///
/// Calls do blocking file I/O on the calling thread. Use one storage per node:
///
/// ```swift
/// let storage = try FileStorage(directory: "/var/lib/myservice/raft", logger: logger)
/// ```
public final class FileStorage: RaftStorage {
  /// The directory the storage keeps its files in.
  public let directory: String
  /// The layout and sync settings.
  public let configuration: Configuration

  let logger: Logger
  let files: StorageDirectory
  private let state: Mutex<State>
  /// Blocking file I/O runs here, off Swift's cooperative threads, so that a slow `fdatasync`
  /// never holds up other tasks of the process.
  private let ioQueue = DispatchQueue(label: "webraft.file-storage")

  /// The log of an initialized directory, and the open segment it is appended to.
  struct OpenLog: Sendable {
    var hardState: HardState
    var snapshot: SnapshotMetadata
    var snapshotSize: UInt64
    var snapshotChecksum: UInt32
    var index: LogIndex
    var segments: [SegmentInfo]
    var current: SystemFile
    var currentDigest: UInt32
    var currentHasRecords: Bool

    var currentSize: UInt64 { segments[segments.count - 1].size }
    var currentSequence: UInt64 { segments[segments.count - 1].sequence }
  }

  struct State: Sendable {
    /// The locked `LOCK` file, or nil once closed.
    var lock: SystemFile?
    /// Why the storage stopped accepting calls, after a failed write or sync.
    var failure: String?
    /// Nil until the node is initialized.
    var log: OpenLog?
    var temporaryCounter: UInt64 = 0
  }

  /// Opens (creating it if needed) the storage directory `directory` and recovers its state.
  ///
  /// - Parameters:
  ///   - directory: The node's directory. Its parent must exist.
  ///   - configuration: Segment size and sync policy.
  ///   - logger: Where recovery reports a torn tail it cut off, and other notable events.
  /// - Throws: ``FileStorageError/locked(directory:)`` when another storage has the directory
  ///   open, ``FileStorageError/corruption(file:offset:reason:)`` when its files are damaged, or
  ///   ``FileStorageError/ioFailure(operation:path:errno:)``.
  public init(
    directory: String,
    configuration: Configuration = Configuration(),
    logger: Logger = Logger(label: "webraft.file-storage")
  ) throws(FileStorageError) {
    guard configuration.segmentSize > 0, configuration.segmentSize <= RecordFrame.maximumPayload else {
      throw .invalidArgument(
        "segment size \(configuration.segmentSize) is not in 1...\(RecordFrame.maximumPayload)")
    }
    let files = StorageDirectory(path: directory)
    try files.create()
    let lock = try SystemFile.open(files.file("LOCK"), flags: O_RDWR | O_CREAT)
    do throws(FileStorageError) {
      // Another process may hold the lock for a moment without owning the directory: a child
      // forked by this process (for example a test launching a helper) keeps a copy of every
      // descriptor until it calls exec, which then closes them. Retry briefly before refusing.
      var attempts = 0
      while try !lock.tryLock() {
        attempts += 1
        if attempts > 50 { throw FileStorageError.locked(directory: directory) }
        usleep(10_000)
      }
      let log = try Self.recover(files: files, configuration: configuration, logger: logger)
      self.state = Mutex(State(lock: lock, log: log))
    } catch {
      lock.close()
      throw error
    }
    self.directory = directory
    self.configuration = configuration
    self.logger = logger
    self.files = files
  }

  deinit {
    close()
  }

  /// Closes the files and releases the directory's lock. Later calls throw
  /// ``FileStorageError/closed``; snapshot readers already open keep working.
  public func close() {
    state.withLock { state in
      state.log?.current.close()
      state.log = nil
      state.lock?.close()
      state.lock = nil
    }
  }

  // MARK: RaftStorage

  /// Reads back the hard state, the current snapshot's metadata and every entry after it, or nil
  /// when the node was never initialized.
  ///
  /// The commit index returned is at least the snapshot's index.
  public func load() async throws -> PersistentState? {
    try await offloaded { [weak self] () throws -> PersistentState? in
      // Weak: a storage dropped without close() must release its lock as soon as its owner lets go.
      guard let self else { throw FileStorageError.closed }
      return try self.loadNow()
    }
  }

  private func loadNow() throws(FileStorageError) -> PersistentState? {
    try withState { (state) throws(FileStorageError) -> PersistentState? in
      guard let log = state.log else { return nil }
      var hardState = log.hardState
      hardState.commitIndex = max(hardState.commitIndex, log.snapshot.index)
      let entries = try readEntries(of: log)
      return PersistentState(hardState: hardState, snapshot: log.snapshot, entries: entries)
    }
  }

  /// Writes the state of a node that has never run, durably.
  ///
  /// - Throws: ``FileStorageError/alreadyInitialized(directory:)`` when the directory already
  ///   holds a node's state.
  public func initialize(_ initial: PersistentState) async throws {
    try await offloaded { [weak self] in
      guard let self else { throw FileStorageError.closed }
      try self.initializeNow(initial)
    }
  }

  private func initializeNow(_ initial: PersistentState) throws(FileStorageError) {
    try withState(writing: true) { (state) throws(FileStorageError) in
      guard state.log == nil else { throw .alreadyInitialized(directory: directory) }
      state.log = try initializeFiles(initial)
    }
  }

  /// Stores the hard state (when not nil) and the entries as one record, then syncs once.
  ///
  /// Entries at or before the snapshot's index are ignored; the others must have consecutive
  /// indexes starting at most one after the last stored entry (stored entries from the first
  /// one's index on are replaced).
  public nonisolated(nonsending) func persist(hardState: HardState?, entries: [LogEntry]) async throws {
    try await offloaded { [weak self] in
      guard let self else { throw FileStorageError.closed }
      try self.persistNow(hardState: hardState, entries: entries)
    }
  }

  /// Runs blocking file work on the storage's I/O queue and waits for it.
  nonisolated(nonsending) func offloaded<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws
    -> T
  {
    try await withCheckedThrowingContinuation { continuation in
      ioQueue.async {
        do {
          continuation.resume(returning: try work())
        } catch {
          continuation.resume(throwing: error)
        }
      }
    }
  }

  private func persistNow(hardState: HardState?, entries: [LogEntry]) throws(FileStorageError) {
    try withLog { (log) throws(FileStorageError) in
      var batch = entries[...]
      while let first = batch.first, first.index <= log.index.baseIndex { batch = batch.dropFirst() }
      if let first = batch.first {
        guard first.index <= log.index.lastIndex + 1 else {
          throw .invalidArgument(
            "entries start at index \(first.index) but the log ends at \(log.index.lastIndex), which leaves a gap"
          )
        }
        var expected = first.index
        for entry in batch {
          guard entry.index == expected else {
            throw .invalidArgument(
              "entries are not consecutive: expected index \(expected), found \(entry.index)")
          }
          expected += 1
        }
      }
      guard hardState != nil || !batch.isEmpty else { return }
      let record = BatchHeader.record(hardState: hardState, entries: batch)
      guard record.count - RecordFrame.headerSize <= RecordFrame.maximumPayload else {
        throw .invalidArgument("a batch of \(record.count) bytes is larger than the 1 GiB limit")
      }
      if log.currentHasRecords, log.currentSize + UInt64(record.count) > UInt64(configuration.segmentSize) {
        try roll(&log)
      }
      let offset = try append(record, to: &log)
      try syncLog(log)
      if let hardState { log.hardState = hardState }
      if let first = batch.first {
        let (firstTerm, laterRuns) = BatchHeader.termRuns(of: batch)
        log.index.append(
          at: LogIndex.Location(segment: log.currentSequence, offset: offset, firstIndex: first.index),
          count: UInt64(batch.count), firstTerm: firstTerm, laterRuns: laterRuns)
      }
    }
  }

  /// Starts writing a snapshot to a temporary file in the directory.
  public func beginSnapshot(_ metadata: SnapshotMetadata) async throws -> any RaftSnapshotWriter {
    let temporary = try withState(writing: true) { (state) throws(FileStorageError) -> String in
      if state.log == nil { state.log = try initializeFiles(.initial(membership: .empty)) }
      state.temporaryCounter += 1
      return "snapshot-\(metadata.index)-\(state.temporaryCounter).tmp"
    }
    let file = try SystemFile.open(files.file(temporary), flags: O_WRONLY | O_CREAT | O_EXCL | O_TRUNC)
    return FileSnapshotWriter(storage: self, file: file, temporaryName: temporary, metadata: metadata)
  }

  /// Opens the current snapshot, or returns nil when the log starts at index 0.
  public func openSnapshot() async throws -> (any RaftSnapshotReader)? {
    try withState { (state) throws(FileStorageError) -> FileSnapshotReader? in
      guard let log = state.log, log.snapshot.index > 0 else { return nil }
      let name = StorageDirectory.snapshotName(log.snapshot.index)
      let file = try SystemFile.open(files.file(name), flags: O_RDONLY)
      return FileSnapshotReader(
        file: file, name: name, metadata: log.snapshot, size: log.snapshotSize, checksum: log.snapshotChecksum
      )
    }
  }

  // MARK: Snapshot installation

  /// Makes the fully written and synced snapshot file `temporaryName` current: renames it, syncs
  /// the directory, appends a compaction record, syncs the log, then deletes what it replaced.
  func installSnapshot(temporaryName: String, trailer: SnapshotTrailer) throws(FileStorageError) {
    try withLog { (log) throws(FileStorageError) in
      let metadata = trailer.metadata
      guard metadata.index > log.index.baseIndex else {
        logger.debug(
          "WebRaft storage: ignoring a snapshot that is not newer than the current one",
          metadata: ["index": "\(metadata.index)", "current": "\(log.index.baseIndex)"])
        try? files.remove(temporaryName)
        return
      }
      let name = StorageDirectory.snapshotName(metadata.index)
      try files.rename(temporaryName, to: name)
      if configuration.syncPolicy == .fdatasync { try files.sync() }
      let keep = log.index.term(at: metadata.index) == metadata.term
      _ = try append(
        CompactionRecord(index: metadata.index, term: metadata.term, keptSuffix: keep).record(), to: &log)
      try syncLog(log)
      let previous = log.snapshot.index
      log.index.compact(to: metadata.index, term: metadata.term, keepSuffix: keep)
      log.snapshot = metadata
      log.snapshotSize = trailer.dataSize
      log.snapshotChecksum = trailer.dataChecksum
      removeQuietly(StorageDirectory.snapshotName(previous))
      removeObsoleteSegments(&log)
    }
  }

  // MARK: Locking

  /// Runs `body` under the lock, on an open storage that has not failed. With `writing`, a
  /// failed system call leaves the storage unusable: what reached the disk is unknown (a failed
  /// `fdatasync` may have dropped the data it could not write), so only a reopen, which reads the
  /// disk again, can go on.
  func withState<T: Sendable>(
    writing: Bool = false, _ body: (inout State) throws(FileStorageError) -> T
  ) throws(FileStorageError) -> T {
    try state.withLock { (state) throws(FileStorageError) -> T in
      guard state.lock != nil else { throw .closed }
      if let failure = state.failure { throw .unusable(reason: failure) }
      do throws(FileStorageError) {
        return try body(&state)
      } catch {
        if writing, case .ioFailure = error { state.failure = error.description }
        throw error
      }
    }
  }

  /// Runs `body` on the log, first initializing a never-initialized directory with an empty
  /// membership (as ``WebRaft/InMemoryStorage`` does).
  private func withLog<T: Sendable>(
    _ body: (inout OpenLog) throws(FileStorageError) -> T
  ) throws(FileStorageError) -> T {
    try withState(writing: true) { (state) throws(FileStorageError) -> T in
      if state.log == nil { state.log = try initializeFiles(.initial(membership: .empty)) }
      return try body(&state.log!)
    }
  }

  // MARK: Writing

  /// Appends a framed record to the current segment and returns its offset. A failed write is cut
  /// off again so that the segment ends with a whole record.
  private func append(_ record: [UInt8], to log: inout OpenLog) throws(FileStorageError) -> UInt64 {
    let offset = log.currentSize
    do throws(FileStorageError) {
      try log.current.write(record, at: offset)
    } catch {
      try log.current.truncate(to: offset)
      throw error
    }
    log.segments[log.segments.count - 1].size = offset + UInt64(record.count)
    log.currentDigest = LogRecovery.digest(log.currentDigest, addingRecordAt: 0, of: record)
    log.currentHasRecords = true
    return offset
  }

  private func syncLog(_ log: OpenLog) throws(FileStorageError) {
    if configuration.syncPolicy == .fdatasync { try log.current.syncData() }
  }

  /// Starts a new segment whose header describes the log as it is now.
  private func roll(_ log: inout OpenLog) throws(FileStorageError) {
    let sequence = log.currentSequence + 1
    let header = SegmentHeader(
      sequence: sequence, previousSize: log.currentSize, previousChecksum: log.currentDigest,
      hardState: log.hardState, baseIndex: log.index.baseIndex, baseTerm: log.index.baseTerm,
      lastIndex: log.index.lastIndex, lastTerm: log.index.lastTerm
    ).record()
    let name = StorageDirectory.segmentName(sequence)
    let file = try SystemFile.open(files.file(name), flags: O_WRONLY | O_CREAT | O_EXCL)
    do throws(FileStorageError) {
      try file.write(header, at: 0)
      if configuration.syncPolicy == .fdatasync {
        try file.syncData()
        try files.sync()
      }
    } catch {
      file.close()
      removeQuietly(name)
      throw error
    }
    log.current.close()
    log.current = file
    log.segments.append(SegmentInfo(sequence: sequence, size: UInt64(header.count)))
    log.currentDigest = LogRecovery.digest(0, addingRecordAt: 0, of: header)
    log.currentHasRecords = false
  }

  /// Writes the first snapshot file and the first segment of a new node.
  private func initializeFiles(_ initial: PersistentState) throws(FileStorageError) -> OpenLog {
    let snapshot = initial.snapshot
    var expected = snapshot.index + 1
    for entry in initial.entries {
      guard entry.index == expected else {
        throw .invalidArgument("initial entries must follow the snapshot at \(snapshot.index) without gaps")
      }
      expected += 1
    }
    let sync = configuration.syncPolicy == .fdatasync

    // The snapshot: its metadata holds the bootstrap membership; it has no data.
    let trailer = SnapshotTrailer(metadata: snapshot, dataSize: 0, dataChecksum: 0)
    let snapshotName = StorageDirectory.snapshotName(snapshot.index)
    try writeFile(snapshotName + ".tmp", trailer.bytes(), sync: sync)
    try files.rename(snapshotName + ".tmp", to: snapshotName)
    if sync { try files.sync() }

    // The first segment appears whole, by rename: a directory without segments is a new node.
    let header = SegmentHeader(
      sequence: 1, previousSize: 0, previousChecksum: 0, hardState: initial.hardState,
      baseIndex: snapshot.index, baseTerm: snapshot.term, lastIndex: snapshot.index, lastTerm: snapshot.term
    ).record()
    var contents = header
    var digest = LogRecovery.digest(0, addingRecordAt: 0, of: header)
    var index = LogIndex(baseIndex: snapshot.index, baseTerm: snapshot.term, lastIndex: 0, lastTerm: 0)
    if let first = initial.entries.first {
      let batch = BatchHeader.record(hardState: nil, entries: initial.entries[...])
      digest = LogRecovery.digest(digest, addingRecordAt: 0, of: batch)
      let (firstTerm, laterRuns) = BatchHeader.termRuns(of: initial.entries[...])
      index.append(
        at: LogIndex.Location(segment: 1, offset: UInt64(header.count), firstIndex: first.index),
        count: UInt64(initial.entries.count), firstTerm: firstTerm, laterRuns: laterRuns)
      contents += batch
    }
    let segmentName = StorageDirectory.segmentName(1)
    try writeFile(segmentName + ".tmp", contents, sync: sync)
    try files.rename(segmentName + ".tmp", to: segmentName)
    if sync { try files.sync() }
    let current = try SystemFile.open(files.file(segmentName), flags: O_WRONLY)
    return OpenLog(
      hardState: initial.hardState, snapshot: snapshot, snapshotSize: 0, snapshotChecksum: 0, index: index,
      segments: [SegmentInfo(sequence: 1, size: UInt64(contents.count))], current: current,
      currentDigest: digest, currentHasRecords: !initial.entries.isEmpty)
  }

  private func writeFile(_ name: String, _ bytes: [UInt8], sync: Bool) throws(FileStorageError) {
    let file = try SystemFile.open(files.file(name), flags: O_WRONLY | O_CREAT | O_TRUNC)
    defer { file.close() }
    try file.write(bytes, at: 0)
    if sync { try file.syncData() }
  }

  /// Deletes the segments older than the one holding the first live entry. Deleting is not
  /// synced: a segment that comes back after a crash is replayed and deleted again.
  private func removeObsoleteSegments(_ log: inout OpenLog) {
    let needed = log.index.locations.first?.segment ?? log.currentSequence
    while log.segments.count > 1, log.segments[0].sequence < needed {
      removeQuietly(StorageDirectory.segmentName(log.segments[0].sequence))
      log.segments.removeFirst()
    }
  }

  private func removeQuietly(_ name: String) {
    do throws(FileStorageError) {
      try files.remove(name)
    } catch {
      logger.warning("WebRaft storage: could not remove an obsolete file", metadata: ["error": "\(error)"])
    }
  }

  // MARK: Reading

  /// Reads the live entries from disk, one segment at a time, checking each record again.
  private func readEntries(of log: OpenLog) throws(FileStorageError) -> [LogEntry] {
    let index = log.index
    var entries: [LogEntry] = []
    entries.reserveCapacity(Int(min(index.lastIndex - index.baseIndex, 1 << 24)))
    var position = 0
    while position < index.locations.count {
      let sequence = index.locations[position].segment
      var end = position
      while end < index.locations.count, index.locations[end].segment == sequence { end += 1 }
      guard let segment = log.segments.first(where: { $0.sequence == sequence }) else {
        throw .corruption(
          file: StorageDirectory.segmentName(sequence), offset: 0,
          reason: "a segment the log needs is missing")
      }
      let name = StorageDirectory.segmentName(sequence)
      let start = index.locations[position].offset
      let file = try SystemFile.open(files.file(name), flags: O_RDONLY)
      defer { file.close() }
      let bytes = try file.read(count: Int(segment.size - start), at: start)
      guard bytes.count == Int(segment.size - start) else {
        throw .corruption(file: name, offset: segment.size, reason: "the segment got shorter while open")
      }
      for location in position..<end {
        try decode(
          location: location, of: index, from: bytes, base: start, name: name, into: &entries)
      }
      position = end
    }
    guard entries.count == Int(index.lastIndex - index.baseIndex) else {
      throw .corruption(file: directory, offset: 0, reason: "the log's index does not match its records")
    }
    return entries
  }

  private func decode(
    location position: Int, of index: LogIndex, from bytes: [UInt8], base: UInt64, name: String,
    into entries: inout [LogEntry]
  ) throws(FileStorageError) {
    let location = index.locations[position]
    let offset = Int(location.offset - base)
    let parsed = bytes.withUnsafeBytes { RecordFrame.parse($0, at: offset) }
    guard case .record(.batch, let payload) = parsed else {
      throw .corruption(
        file: name, offset: location.offset, reason: "a batch record changed since the storage opened")
    }
    guard let live = index.liveRange(ofLocation: position) else { return }
    var reader = BinaryReader(bytes)
    do throws(RaftError) {
      _ = try reader.readRaw(count: payload.lowerBound)
      let header = try BatchHeader.decode(from: &reader)
      guard header.firstIndex == location.firstIndex else {
        throw RaftError.malformedMessage(
          "batch starts at \(header.firstIndex), expected \(location.firstIndex)")
      }
      var run = 0
      var term = header.firstTerm
      for expectedIndex in header.firstIndex...header.lastIndex {
        let entry = try RaftBinaryCodec.decodeEntry(from: &reader)
        if run < header.laterRuns.count, header.laterRuns[run].firstIndex == expectedIndex {
          term = header.laterRuns[run].term
          run += 1
        }
        guard entry.index == expectedIndex, entry.term == term else {
          throw RaftError.malformedMessage(
            "entry \(entry.index) term \(entry.term) does not match the batch header (index \(expectedIndex))"
          )
        }
        guard reader.offset <= payload.upperBound else {
          throw RaftError.malformedMessage("entries overrun their record")
        }
        if expectedIndex >= live.lowerBound { entries.append(entry) }
        if expectedIndex == live.upperBound { break }
      }
    } catch {
      throw .corruption(file: name, offset: location.offset, reason: "\(error)")
    }
  }
}
