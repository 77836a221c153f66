import Logging
import WebRaft

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One log segment file that is part of the log.
struct SegmentInfo: Hashable, Sendable {
  /// Its sequence number.
  var sequence: UInt64
  /// The size of its valid records.
  var size: UInt64
}

/// The log as replayed from its segments when a ``FileStorage`` opens.
struct RecoveredLog: Sendable {
  /// The latest hard state written.
  var hardState: HardState
  /// Where the live entries are.
  var index: LogIndex
  /// The segments that make up the log, oldest first; the last one is appended to.
  var segments: [SegmentInfo]
  /// The digest of the last segment's records, for the header of the next segment.
  var lastDigest: UInt32
  /// Whether the last segment holds records after its header.
  var lastHasRecords: Bool
  /// Segments older than a gap in the sequence numbers: left over from a compaction that was
  /// interrupted while it deleted them, and not needed.
  var obsolete: [UInt64]
}

/// Replays the log segments of a directory, cutting a torn tail off the last one and refusing
/// anything else that is not what the storage wrote.
///
/// A segment's digest is the CRC-32C of the checksums of its records in order; the header of the
/// next segment holds the previous segment's size and digest, so that a segment cut at a record
/// boundary, or a record removed from its middle, is found.
enum LogRecovery {
  static func replay(
    directory: StorageDirectory, sequences: [UInt64], repair: Bool, logger: Logger
  ) throws(FileStorageError) -> RecoveredLog {
    let sorted = sequences.sorted()
    var start = sorted.count - 1
    while start > 0, sorted[start - 1] == sorted[start] - 1 { start -= 1 }
    var chain = Array(sorted[start...])
    // A last segment whose creation a crash interrupted (its header never reached the disk whole,
    // and nothing was written after it) is not part of the log: drop it before replaying, so that
    // the segment before it is the last one, whose torn tail is cut. That segment may end in a
    // torn write too: the interrupted segment can be one that an earlier recovery deleted without
    // syncing the directory, brought back by a second crash during a later write. Only one: the
    // segment before it was started whole, so a header missing there is damage.
    if chain.count > 1, try isInterruptedCreation(directory: directory, sequence: chain[chain.count - 1]) {
      let name = StorageDirectory.segmentName(chain[chain.count - 1])
      logger.warning(
        "WebRaft storage: removing a log segment whose creation was interrupted by a crash",
        metadata: ["file": "\(directory.file(name))"])
      if repair { try directory.remove(name) }
      chain.removeLast()
    }
    var hardState = HardState()
    var index = LogIndex(baseIndex: 0, baseTerm: 0, lastIndex: 0, lastTerm: 0)
    var segments: [SegmentInfo] = []
    var lastDigest: UInt32 = 0
    var lastHasRecords = false

    for (position, sequence) in chain.enumerated() {
      let name = StorageDirectory.segmentName(sequence)
      let isLast = position == chain.count - 1
      let file = try SystemFile.open(directory.file(name), flags: isLast && repair ? O_RDWR : O_RDONLY)
      defer { file.close() }
      let size = try file.size()
      guard size <= UInt64(Int.max) else {
        throw .corruption(file: name, offset: 0, reason: "segment of \(size) bytes is too large")
      }
      let bytes = try file.read(count: Int(size), at: 0)
      guard bytes.count == Int(size) else {
        throw .ioFailure(operation: "read (file changed while opening)", path: file.path, errno: EIO)
      }

      // The header.
      let first = bytes.withUnsafeBytes { RecordFrame.parse($0, at: 0) }
      guard case .record(.segmentHeader, let headerPayload) = first else {
        let reason: String
        switch first {
        case .invalid(let why): reason = "segment header is damaged (\(why))"
        case .record(let type, _): reason = "segment starts with a \(type) record instead of its header"
        }
        throw .corruption(file: name, offset: 0, reason: reason)
      }
      var reader = BinaryReader(bytes)
      let header: SegmentHeader
      do throws(RaftError) {
        _ = try reader.readRaw(count: headerPayload.lowerBound)
        header = try SegmentHeader.decode(from: &reader)
      } catch {
        throw .corruption(file: name, offset: 0, reason: "segment header: \(error)")
      }
      guard reader.offset == headerPayload.upperBound, header.sequence == sequence else {
        throw .corruption(
          file: name, offset: 0, reason: "segment header names sequence \(header.sequence), not \(sequence)")
      }
      if position == 0 {
        hardState = header.hardState
        index = LogIndex(
          baseIndex: header.baseIndex, baseTerm: header.baseTerm, lastIndex: header.lastIndex,
          lastTerm: header.lastTerm)
      } else {
        let previous = segments[position - 1]
        let matches =
          header.previousSize == previous.size && header.previousChecksum == lastDigest
          && header.hardState == hardState && header.baseIndex == index.baseIndex
          && header.baseTerm == index.baseTerm && header.lastIndex == index.lastIndex
          && header.lastTerm == index.lastTerm
        guard matches else {
          throw .corruption(
            file: name, offset: 0,
            reason:
              "segment header does not match the end of \(StorageDirectory.segmentName(previous.sequence)) "
              + "(that segment lost or changed records)")
        }
      }
      var digest = Self.digest(0, addingRecordAt: 0, of: bytes)
      var offset = headerPayload.upperBound
      var hasRecords = false

      // The records.
      records: while offset < bytes.count {
        let parsed = bytes.withUnsafeBytes { RecordFrame.parse($0, at: offset) }
        let type: RecordType
        let payload: Range<Int>
        switch parsed {
        case .record(let recordType, let recordPayload):
          type = recordType
          payload = recordPayload
        case .invalid(let why):
          guard isLast else {
            throw .corruption(
              file: name, offset: UInt64(offset),
              reason: "\(why), in a segment that is not the last one (not an interrupted write)")
          }
          if let next = bytes.withUnsafeBytes({ RecordFrame.firstValidRecord(in: $0, after: offset) }) {
            throw .corruption(
              file: name, offset: UInt64(offset),
              reason: "\(why), and a valid record follows at byte offset \(next), so data written after it "
                + "would be lost")
          }
          logger.warning(
            "WebRaft storage: cutting off the torn tail of the log (a write interrupted by a crash; it was never acknowledged)",
            metadata: [
              "file": "\(file.path)", "offset": "\(offset)", "droppedBytes": "\(bytes.count - offset)",
              "reason": "\(why)",
            ])
          if repair {
            try file.truncate(to: UInt64(offset))
            try file.syncData()
          }
          break records
        }
        var reader = BinaryReader(bytes)
        do throws(RaftError) {
          _ = try reader.readRaw(count: payload.lowerBound)
          switch type {
          case .batch:
            let batch = try BatchHeader.decode(from: &reader)
            guard reader.offset <= payload.upperBound else {
              throw RaftError.malformedMessage("batch header overruns its record")
            }
            if let state = batch.hardState { hardState = state }
            if batch.count > 0 {
              guard batch.firstIndex > index.baseIndex, batch.firstIndex <= index.lastIndex + 1 else {
                throw RaftError.malformedMessage(
                  "batch starts at index \(batch.firstIndex), but the log holds \(index.baseIndex + 1)...\(index.lastIndex)"
                )
              }
              index.append(
                at: LogIndex.Location(
                  segment: sequence, offset: UInt64(offset), firstIndex: batch.firstIndex),
                count: batch.count, firstTerm: batch.firstTerm, laterRuns: batch.laterRuns)
            }
          case .compaction:
            let compaction = try CompactionRecord.decode(from: &reader)
            guard reader.offset == payload.upperBound, compaction.index > index.baseIndex else {
              throw RaftError.malformedMessage(
                "compaction to index \(compaction.index) is not after the log's start")
            }
            if compaction.keptSuffix, let term = index.term(at: compaction.index), term != compaction.term {
              throw RaftError.malformedMessage("compaction kept entries after a conflicting entry")
            }
            index.compact(to: compaction.index, term: compaction.term, keepSuffix: compaction.keptSuffix)
          case .segmentHeader, .snapshotTrailer:
            throw RaftError.malformedMessage("unexpected \(type) record inside a segment")
          }
        } catch {
          throw .corruption(file: name, offset: UInt64(offset), reason: "\(error)")
        }
        digest = Self.digest(digest, addingRecordAt: offset, of: bytes)
        hasRecords = true
        offset = payload.upperBound
      }
      segments.append(SegmentInfo(sequence: sequence, size: UInt64(min(offset, bytes.count))))
      lastDigest = digest
      lastHasRecords = hasRecords
    }

    if index.hasUnknownEntries, let first = chain.first {
      throw .corruption(
        file: StorageDirectory.segmentName(first), offset: 0,
        reason:
          "the log needs entries \(index.baseIndex + 1)...\(index.unknownLast) from segments before this one, "
          + "which are missing")
    }
    return RecoveredLog(
      hardState: hardState, index: index, segments: segments, lastDigest: lastDigest,
      lastHasRecords: lastHasRecords, obsolete: Array(sorted[..<start]))
  }

  /// Whether segment `sequence` is one whose creation a crash interrupted: it does not start with
  /// a whole record (its header never reached the disk) and no valid record follows.
  private static func isInterruptedCreation(
    directory: StorageDirectory, sequence: UInt64
  ) throws(FileStorageError) -> Bool {
    let file = try SystemFile.open(directory.file(StorageDirectory.segmentName(sequence)), flags: O_RDONLY)
    defer { file.close() }
    let size = try file.size()
    guard size <= UInt64(Int.max) else { return false }
    // The header is small: read the whole segment only when its start is not a valid record.
    var bytes = try file.read(count: Int(min(size, 4_096)), at: 0)
    if case .record = bytes.withUnsafeBytes({ RecordFrame.parse($0, at: 0) }) { return false }
    if UInt64(bytes.count) < size {
      bytes = try file.read(count: Int(size), at: 0)
      if case .record = bytes.withUnsafeBytes({ RecordFrame.parse($0, at: 0) }) { return false }
    }
    return bytes.withUnsafeBytes { RecordFrame.firstValidRecord(in: $0, after: 0) } == nil
  }

  /// Adds the stored checksum of the record at `offset` to a segment digest.
  static func digest(_ digest: UInt32, addingRecordAt offset: Int, of bytes: [UInt8]) -> UInt32 {
    CRC32C.extend(digest, bytes[(offset + 5)..<(offset + 9)])
  }
}
