#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Reads values written by ``BinaryWriter``, checking every length against what is left, so that
/// no input — however damaged — makes it crash, loop or allocate more than the input's size.
public struct BinaryReader: Sendable {
  private let bytes: [UInt8]
  /// The position of the next byte to read.
  public private(set) var offset: Int

  /// Creates a reader over `bytes`.
  public init(_ bytes: [UInt8]) {
    self.bytes = bytes
    self.offset = 0
  }

  /// How many bytes are left.
  public var remaining: Int { bytes.count - offset }

  /// Whether every byte was read.
  public var isAtEnd: Bool { offset == bytes.count }

  private func failure(_ what: String) -> RaftError {
    .malformedMessage("\(what) at byte \(offset) of \(bytes.count)")
  }

  /// Reads one byte.
  public mutating func readByte() throws(RaftError) -> UInt8 {
    guard offset < bytes.count else { throw failure("unexpected end of input") }
    defer { offset += 1 }
    return bytes[offset]
  }

  /// Reads a LEB128 varint of at most 10 bytes.
  public mutating func readVarint() throws(RaftError) -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      let byte = try readByte()
      if shift == 63, byte > 1 { throw failure("varint overflows 64 bits") }
      result |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return result }
      shift += 7
      if shift > 63 { throw failure("varint longer than 10 bytes") }
    }
  }

  /// Reads a varint that counts things, each at least `minimumSize` bytes long, so that the count
  /// cannot promise more than the input holds.
  public mutating func readCount(minimumSize: Int = 1) throws(RaftError) -> Int {
    let count = try readVarint()
    guard count <= UInt64(remaining / max(minimumSize, 1)) else {
      throw failure("count \(count) exceeds the remaining input")
    }
    return Int(count)
  }

  /// Reads a 32-bit little-endian integer.
  public mutating func readUInt32() throws(RaftError) -> UInt32 {
    guard remaining >= 4 else { throw failure("unexpected end of input") }
    var value: UInt32 = 0
    for shift in 0..<4 {
      value |= UInt32(bytes[offset + shift]) << (8 * shift)
    }
    offset += 4
    return value
  }

  /// Reads a boolean byte (only 0 and 1 are valid).
  public mutating func readBool() throws(RaftError) -> Bool {
    switch try readByte() {
    case 0: return false
    case 1: return true
    case let other: throw failure("invalid boolean \(other)")
    }
  }

  /// Reads `count` raw bytes.
  public mutating func readRaw(count: Int) throws(RaftError) -> ArraySlice<UInt8> {
    guard count >= 0, count <= remaining else { throw failure("length \(count) exceeds the input") }
    defer { offset += count }
    return bytes[offset..<(offset + count)]
  }

  /// Reads a length-prefixed byte string.
  public mutating func readData() throws(RaftError) -> Data {
    let count = try readCount()
    return Data(try readRaw(count: count))
  }

  /// Reads a length-prefixed UTF-8 string.
  public mutating func readString() throws(RaftError) -> String {
    let count = try readCount()
    let raw = try readRaw(count: count)
    guard let text = String(validating: raw, as: UTF8.self) else {
      throw failure("invalid UTF-8 in a string")
    }
    return text
  }
}
