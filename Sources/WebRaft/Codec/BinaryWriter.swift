#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Appends values in WebRaft's binary form: unsigned integers as LEB128 varints, byte strings and
/// UTF-8 strings with a varint length in front, fixed-width integers little-endian.
public struct BinaryWriter: Sendable {
  /// The bytes written so far.
  public private(set) var bytes: [UInt8]

  /// Creates an empty writer with room for `capacity` bytes.
  public init(capacity: Int = 64) {
    bytes = []
    bytes.reserveCapacity(capacity)
  }

  /// Appends one byte.
  public mutating func write(byte: UInt8) {
    bytes.append(byte)
  }

  /// Appends an unsigned integer as a LEB128 varint (1 to 10 bytes).
  public mutating func write(varint value: UInt64) {
    var remaining = value
    while remaining >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: remaining) | 0x80)
      remaining >>= 7
    }
    bytes.append(UInt8(remaining))
  }

  /// Appends a 32-bit integer, little-endian.
  public mutating func write(uint32 value: UInt32) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  /// Appends a boolean as one byte (0 or 1).
  public mutating func write(bool value: Bool) {
    bytes.append(value ? 1 : 0)
  }

  /// Appends a byte string with its length in front.
  public mutating func write(data: Data) {
    write(varint: UInt64(data.count))
    // Through a buffer pointer: appending `Data` as a sequence copies it byte by byte.
    data.withUnsafeBytes { bytes.append(contentsOf: $0) }
  }

  /// Appends raw bytes with no length in front.
  public mutating func write(raw: some Sequence<UInt8>) {
    bytes.append(contentsOf: raw)
  }

  /// Appends a UTF-8 string with its length in front.
  public mutating func write(string: String) {
    var copy = string
    copy.withUTF8 { utf8 in
      write(varint: UInt64(utf8.count))
      bytes.append(contentsOf: utf8)
    }
  }
}
