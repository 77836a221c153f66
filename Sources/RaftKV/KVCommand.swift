import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A write to the key-value store, as it travels through the Raft log.
///
/// Every command carries the client's identity and a sequence number, so that a write retried
/// after a timeout is applied once (the state machine remembers each client's last result).
public struct KVCommand: Hashable, Sendable {
  /// What the command does.
  public enum Operation: Hashable, Sendable {
    /// Sets `key` to `value`.
    case put(key: String, value: Data)
    /// Removes `key` (also when absent).
    case delete(key: String)
    /// Sets `key` to `to` if its current value is `from`.
    case compareAndSet(key: String, from: Data, to: Data)
  }

  /// The client that sent the command (0: no deduplication).
  public var clientID: UInt64
  /// The client's sequence number for the command; a retry reuses it.
  public var sequence: UInt64
  /// What to do.
  public var operation: Operation

  /// Creates a command.
  public init(clientID: UInt64 = 0, sequence: UInt64 = 0, operation: Operation) {
    self.clientID = clientID
    self.sequence = sequence
    self.operation = operation
  }

  /// The key the command touches.
  public var key: String {
    switch operation {
    case .put(let key, _), .delete(let key), .compareAndSet(let key, _, _): return key
    }
  }

  /// The command in its binary form.
  public func encoded() -> Data {
    var writer = BinaryWriter(capacity: 32 + key.utf8.count)
    writer.write(varint: clientID)
    writer.write(varint: sequence)
    switch operation {
    case .put(let key, let value):
      writer.write(byte: 1)
      writer.write(string: key)
      writer.write(data: value)
    case .delete(let key):
      writer.write(byte: 2)
      writer.write(string: key)
    case .compareAndSet(let key, let from, let to):
      writer.write(byte: 3)
      writer.write(string: key)
      writer.write(data: from)
      writer.write(data: to)
    }
    return Data(writer.bytes)
  }

  /// Decodes a command from its binary form.
  public init(decoding data: Data) throws(RaftError) {
    var reader = BinaryReader([UInt8](data))
    clientID = try reader.readVarint()
    sequence = try reader.readVarint()
    switch try reader.readByte() {
    case 1: operation = .put(key: try reader.readString(), value: try reader.readData())
    case 2: operation = .delete(key: try reader.readString())
    case 3:
      operation = .compareAndSet(
        key: try reader.readString(), from: try reader.readData(), to: try reader.readData())
    case let other: throw .malformedMessage("unknown key-value command \(other)")
    }
    guard reader.isAtEnd else { throw .malformedMessage("trailing bytes after a key-value command") }
  }
}

/// What applying a command returned.
public enum KVResult: Hashable, Sendable {
  /// The put or delete was applied (`existed`: the key had a value before).
  case done(existed: Bool)
  /// The compare-and-set swapped the value.
  case swapped
  /// The compare-and-set found another value, given here.
  case mismatch(current: Data)
  /// The compare-and-set found no value.
  case absent

  func encode(into writer: inout BinaryWriter) {
    switch self {
    case .done(let existed):
      writer.write(byte: existed ? 1 : 0)
    case .swapped:
      writer.write(byte: 2)
    case .mismatch(let current):
      writer.write(byte: 3)
      writer.write(data: current)
    case .absent:
      writer.write(byte: 4)
    }
  }

  static func decode(from reader: inout BinaryReader) throws(RaftError) -> KVResult {
    switch try reader.readByte() {
    case 0: return .done(existed: false)
    case 1: return .done(existed: true)
    case 2: return .swapped
    case 3: return .mismatch(current: try reader.readData())
    case 4: return .absent
    case let other: throw .malformedMessage("unknown key-value result \(other)")
    }
  }
}
