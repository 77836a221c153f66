/// A running 64-bit FNV-1a hash of everything that happens in a simulation.
///
/// Two runs of ``ClusterSimulator`` with the same seed and the same scenario feed it the same
/// bytes, so they end with the same ``value``; a different seed almost always gives another value.
public struct TraceHash: Hashable, Sendable, CustomStringConvertible {
  /// The hash of everything combined so far.
  public private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

  private static let prime: UInt64 = 0x100_0000_01B3

  /// Creates the hash of an empty trace.
  public init() {}

  /// Feeds the eight bytes of `number`, lowest first.
  public mutating func combine(_ number: UInt64) {
    var hash = value
    var rest = number
    for _ in 0..<8 {
      hash ^= rest & 0xFF
      hash &*= Self.prime
      rest >>= 8
    }
    value = hash
  }

  /// Feeds the UTF-8 bytes of `text`, then a separator.
  public mutating func combine(_ text: String) {
    var hash = value
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash &*= Self.prime
    }
    hash ^= 0xFF
    hash &*= Self.prime
    value = hash
  }

  /// Feeds a flag as one number.
  public mutating func combine(_ flag: Bool) {
    combine(flag ? 1 : 0)
  }

  /// The value in hexadecimal.
  public var description: String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }
}
