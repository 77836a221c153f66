import WebRaft

/// The kinds of records in the storage's files.
enum RecordType: UInt8, Sendable {
  /// The first record of every log segment: what the log was when the segment was started.
  case segmentHeader = 1
  /// One ``FileStorage/persist(hardState:entries:)`` call: an optional hard state and entries.
  case batch = 2
  /// A snapshot became current: the log now starts after its index.
  case compaction = 3
  /// The description of a snapshot file, after its data.
  case snapshotTrailer = 4
}

/// How every record is framed on disk:
///
/// ```
/// offset 0  UInt32 little-endian   payload length
/// offset 4  UInt8                  record type (RecordType)
/// offset 5  UInt32 little-endian   CRC-32C of bytes 0..<5 followed by the payload
/// offset 9  payload
/// ```
enum RecordFrame {
  /// The size of the frame before the payload.
  static let headerSize = 9
  /// The largest payload the storage writes or accepts.
  static let maximumPayload = 1 << 30

  /// Builds a framed record whose payload `body` writes.
  static func make(_ type: RecordType, capacity: Int = 64, _ body: (inout BinaryWriter) -> Void) -> [UInt8] {
    var writer = BinaryWriter(capacity: capacity + headerSize)
    writer.write(raw: repeatElement(0 as UInt8, count: headerSize))
    body(&writer)
    var bytes = take(writer)
    let length = UInt32(bytes.count - headerSize)
    bytes.withUnsafeMutableBytes { buffer in
      buffer.storeBytes(of: length.littleEndian, toByteOffset: 0, as: UInt32.self)
      buffer[4] = type.rawValue
      let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: buffer[0..<5]))
      let crc = CRC32C.extend(head, UnsafeRawBufferPointer(rebasing: buffer[headerSize...]))
      buffer.storeBytes(of: crc.littleEndian, toByteOffset: 5, as: UInt32.self)
    }
    return bytes
  }

  private static func take(_ writer: consuming BinaryWriter) -> [UInt8] {
    writer.bytes
  }

  /// What is found at an offset of a file.
  enum Parsed {
    /// A valid record: its type and where its payload is.
    case record(RecordType, payload: Range<Int>)
    /// The bytes there are not a valid record.
    case invalid(String)
  }

  /// Reads the record that starts at `offset` of `bytes` and checks its frame and checksum.
  static func parse(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Parsed {
    let available = bytes.count - offset
    guard available >= headerSize else {
      return .invalid("incomplete record header (\(available) of \(headerSize) bytes)")
    }
    let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    guard length <= maximumPayload else { return .invalid("record length \(length) is too large") }
    guard length <= available - headerSize else {
      return .invalid("record of \(length) bytes extends past the end of the file")
    }
    guard let type = RecordType(rawValue: bytes[offset + 4]) else {
      return .invalid("unknown record type \(bytes[offset + 4])")
    }
    let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 5, as: UInt32.self))
    let payload = (offset + headerSize)..<(offset + headerSize + length)
    let head = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 5)]))
    let crc = CRC32C.extend(head, UnsafeRawBufferPointer(rebasing: bytes[payload]))
    guard crc == stored else { return .invalid("checksum mismatch in a \(type) record") }
    return .record(type, payload: payload)
  }

  /// The offset of the first valid record that starts after `offset`, if any: used to tell a torn
  /// tail (nothing valid follows) from damage in the middle of a file.
  static func firstValidRecord(in bytes: UnsafeRawBufferPointer, after offset: Int) -> Int? {
    var candidate = offset + 1
    while candidate + headerSize <= bytes.count {
      // Cheap filters before the checksum: a known type and a length that fits.
      if RecordType(rawValue: bytes[candidate + 4]) != nil {
        let length = Int(
          UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: candidate, as: UInt32.self)))
        if length <= bytes.count - candidate - headerSize, case .record = parse(bytes, at: candidate) {
          return candidate
        }
      }
      candidate += 1
    }
    return nil
  }
}
