import WebRaft

/// The first index of a run of consecutive entries with the same term.
struct TermRun: Hashable, Sendable {
  /// The index of the run's first entry.
  var firstIndex: UInt64
  /// The term of every entry in the run.
  var term: UInt64
}

/// The payload of a ``RecordType/segmentHeader`` record: enough to check that segments follow
/// each other, and to start replaying the log from this segment once older ones are deleted.
///
/// Layout: the magic bytes `WRLG`, the format version (v), the segment's sequence number (v), the
/// size (v) and CRC-32C (UInt32) of the whole previous segment, the hard state (codec), the
/// snapshot index and term the log started after (v, v), and the last log index and term (v, v).
struct SegmentHeader: Hashable, Sendable {
  static let magic: [UInt8] = Array("WRLG".utf8)
  static let version: UInt64 = 1

  var sequence: UInt64
  var previousSize: UInt64
  var previousChecksum: UInt32
  var hardState: HardState
  var baseIndex: UInt64
  var baseTerm: UInt64
  var lastIndex: UInt64
  var lastTerm: UInt64

  func record() -> [UInt8] {
    RecordFrame.make(.segmentHeader) { writer in
      writer.write(raw: Self.magic)
      writer.write(varint: Self.version)
      writer.write(varint: sequence)
      writer.write(varint: previousSize)
      writer.write(uint32: previousChecksum)
      RaftBinaryCodec.encode(hardState, into: &writer)
      writer.write(varint: baseIndex)
      writer.write(varint: baseTerm)
      writer.write(varint: lastIndex)
      writer.write(varint: lastTerm)
    }
  }

  static func decode(from reader: inout BinaryReader) throws(RaftError) -> SegmentHeader {
    guard Array(try reader.readRaw(count: magic.count)) == magic else {
      throw .malformedMessage("not a WebRaft log segment (bad magic bytes)")
    }
    let version = try reader.readVarint()
    guard version == Self.version else {
      throw .malformedMessage(
        "unsupported segment format version \(version) (this build reads \(Self.version))")
    }
    let header = SegmentHeader(
      sequence: try reader.readVarint(), previousSize: try reader.readVarint(),
      previousChecksum: try reader.readUInt32(),
      hardState: try RaftBinaryCodec.decodeHardState(from: &reader),
      baseIndex: try reader.readVarint(), baseTerm: try reader.readVarint(),
      lastIndex: try reader.readVarint(),
      lastTerm: try reader.readVarint())
    guard header.baseIndex <= UInt64(Int64.max), header.lastIndex <= UInt64(Int64.max) else {
      throw .malformedMessage("segment header index out of range")
    }
    return header
  }
}

/// The payload of a ``RecordType/batch`` record, up to its entries.
///
/// Layout: a flags byte (bit 0: a hard state follows), the hard state (codec), the entry count
/// (v); when entries follow: the first index (v), the number of term runs (v) and each run's
/// offset from the first index and term (v, v), then every entry in the codec's form.
///
/// The term runs repeat what the entries say, so that opening the storage can index a batch
/// without decoding its entries; reading the entries checks that they agree.
struct BatchHeader: Hashable, Sendable {
  var hardState: HardState?
  var firstIndex: UInt64
  var count: UInt64
  /// The term of the first entry.
  var firstTerm: UInt64
  /// The runs after the first one; usually none, so that decoding allocates nothing.
  var laterRuns: [TermRun]

  var lastIndex: UInt64 { firstIndex + count - 1 }

  /// Frames a batch of `entries` (contiguous indexes) with an optional hard state.
  static func record(hardState: HardState?, entries: ArraySlice<LogEntry>) -> [UInt8] {
    var capacity = 16
    for entry in entries { capacity += entry.byteCount + 8 }
    return RecordFrame.make(.batch, capacity: capacity) { writer in
      writer.write(byte: hardState == nil ? 0 : 1)
      if let hardState { RaftBinaryCodec.encode(hardState, into: &writer) }
      writer.write(varint: UInt64(entries.count))
      guard let first = entries.first else { return }
      writer.write(varint: first.index)
      let (firstTerm, laterRuns) = termRuns(of: entries)
      writer.write(varint: UInt64(laterRuns.count + 1))
      writer.write(varint: 0)
      writer.write(varint: firstTerm)
      for run in laterRuns {
        writer.write(varint: run.firstIndex - first.index)
        writer.write(varint: run.term)
      }
      for entry in entries {
        RaftBinaryCodec.encode(entry, into: &writer)
      }
    }
  }

  /// The term of the first of consecutive entries, and the runs of other terms after it.
  static func termRuns(of entries: ArraySlice<LogEntry>) -> (firstTerm: UInt64, laterRuns: [TermRun]) {
    guard let first = entries.first else { return (0, []) }
    var term = first.term
    var runs: [TermRun] = []
    for entry in entries where entry.term != term {
      runs.append(TermRun(firstIndex: entry.index, term: entry.term))
      term = entry.term
    }
    return (first.term, runs)
  }

  static func decode(from reader: inout BinaryReader) throws(RaftError) -> BatchHeader {
    let flags = try reader.readByte()
    guard flags <= 1 else { throw .malformedMessage("unknown batch flags \(flags)") }
    let hardState = flags == 1 ? try RaftBinaryCodec.decodeHardState(from: &reader) : nil
    let count = try reader.readCount(minimumSize: 4)
    guard count > 0 else {
      return BatchHeader(hardState: hardState, firstIndex: 0, count: 0, firstTerm: 0, laterRuns: [])
    }
    let firstIndex = try reader.readVarint()
    guard firstIndex > 0, firstIndex <= UInt64(Int64.max) - UInt64(count) else {
      throw .malformedMessage("batch first index \(firstIndex) out of range")
    }
    let runCount = try reader.readCount(minimumSize: 2)
    guard runCount >= 1, runCount <= count, try reader.readVarint() == 0 else {
      throw .malformedMessage("batch has \(runCount) term runs")
    }
    let firstTerm = try reader.readVarint()
    var runs: [TermRun] = []
    var previous = TermRun(firstIndex: firstIndex, term: firstTerm)
    for _ in 1..<runCount {
      let offset = try reader.readVarint()
      let term = try reader.readVarint()
      guard offset > previous.firstIndex - firstIndex, offset < UInt64(count), term != previous.term else {
        throw .malformedMessage("batch term runs are out of order")
      }
      previous = TermRun(firstIndex: firstIndex + offset, term: term)
      runs.append(previous)
    }
    return BatchHeader(
      hardState: hardState, firstIndex: firstIndex, count: UInt64(count), firstTerm: firstTerm,
      laterRuns: runs)
  }
}

/// The payload of a ``RecordType/compaction`` record: the snapshot at `index` with `term` became
/// current, and the entries up to `index` were removed (all entries when `keptSuffix` is false,
/// because the entry at `index` had another term).
///
/// Layout: index (v), term (v), kept suffix (bool).
struct CompactionRecord: Hashable, Sendable {
  var index: UInt64
  var term: UInt64
  var keptSuffix: Bool

  func record() -> [UInt8] {
    RecordFrame.make(.compaction) { writer in
      writer.write(varint: index)
      writer.write(varint: term)
      writer.write(bool: keptSuffix)
    }
  }

  static func decode(from reader: inout BinaryReader) throws(RaftError) -> CompactionRecord {
    let record = CompactionRecord(
      index: try reader.readVarint(), term: try reader.readVarint(), keptSuffix: try reader.readBool())
    guard record.index <= UInt64(Int64.max) else { throw .malformedMessage("compaction index out of range") }
    return record
  }
}

/// The payload of the ``RecordType/snapshotTrailer`` record that ends a snapshot file.
///
/// A snapshot file is the snapshot's bytes, then this record, then a footer of eight bytes: the
/// record's framed size (UInt32 little-endian) and the magic bytes `WRSN`. Layout of the payload:
/// the magic bytes `WRSN`, the format version (v), the metadata (codec), the data size (v) and
/// the data's CRC-32C (UInt32).
struct SnapshotTrailer: Hashable, Sendable {
  static let magic: [UInt8] = Array("WRSN".utf8)
  static let version: UInt64 = 1
  static let footerSize = 8

  var metadata: SnapshotMetadata
  var dataSize: UInt64
  var dataChecksum: UInt32

  /// The trailer record followed by the footer.
  func bytes() -> [UInt8] {
    var record = RecordFrame.make(.snapshotTrailer, capacity: 128) { writer in
      writer.write(raw: Self.magic)
      writer.write(varint: Self.version)
      RaftBinaryCodec.encode(metadata, into: &writer)
      writer.write(varint: dataSize)
      writer.write(uint32: dataChecksum)
    }
    let size = UInt32(record.count)
    withUnsafeBytes(of: size.littleEndian) { record.append(contentsOf: $0) }
    record.append(contentsOf: Self.magic)
    return record
  }

  static func decode(from reader: inout BinaryReader) throws(RaftError) -> SnapshotTrailer {
    guard Array(try reader.readRaw(count: magic.count)) == magic else {
      throw .malformedMessage("not a WebRaft snapshot (bad magic bytes)")
    }
    let version = try reader.readVarint()
    guard version == Self.version else {
      throw .malformedMessage(
        "unsupported snapshot format version \(version) (this build reads \(Self.version))")
    }
    return SnapshotTrailer(
      metadata: try RaftBinaryCodec.decodeSnapshotMetadata(from: &reader), dataSize: try reader.readVarint(),
      dataChecksum: try reader.readUInt32())
  }
}
