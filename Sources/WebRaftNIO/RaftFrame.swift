import NIOCore
import WebRaft

/// One frame of WebRaft's TCP protocol.
///
/// Layout (all multi-byte integers big-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | length `N`: the bytes that follow this field (4 + payload); 4 ≤ `N` ≤ the maximum frame size |
/// | 4 | 2 | magic ``magic`` (`"RF"`, 0x52 0x46) |
/// | 6 | 1 | format version, ``WebRaft/RaftBinaryCodec/formatVersion`` |
/// | 7 | 1 | kind (``Kind``) |
/// | 8 | `N` - 4 | payload |
///
/// A ``Kind/message`` payload is one message in ``WebRaft/RaftBinaryCodec``'s layout. A ``Kind/hello``
/// payload is the handshake: the cluster ID, the sender's ``WebRaft/NodeID`` and the receiver it meant to
/// reach, as length-prefixed UTF-8 strings (``WebRaft/BinaryWriter``), then the sender's incarnation
/// as 8 big-endian bytes (see ``PeerIncarnationBook``; 0 or absent: none). A ``Kind/refusal``
/// payload is a length-prefixed UTF-8 reason, then one byte that says what kind of refusal it is
/// (``TCPTransport/HandshakeRefusal/Kind``; absent: ``TCPTransport/HandshakeRefusal/Kind/other``).
public struct RaftFrame: Hashable, Sendable {
  /// What a frame carries.
  public enum Kind: UInt8, Hashable, Sendable, CaseIterable {
    /// The handshake: sent first by the connecting node and answered by the accepting node.
    case hello = 1
    /// One Raft message.
    case message = 2
    /// The accepting node refuses the connection; the payload says why. It closes the connection
    /// after sending it.
    case refusal = 3
  }

  /// The two bytes every frame header starts with: `"RF"`.
  public static let magic: UInt16 = 0x5246
  /// The size of the length prefix.
  public static let lengthSize = 4
  /// The size of the header after the length prefix: magic, version and kind.
  public static let headerSize = 4

  /// The frame's kind.
  public var kind: Kind
  /// The frame's payload; for a decoded frame, a slice of the received bytes.
  public var payload: ByteBuffer

  /// Creates a frame.
  public init(kind: Kind, payload: ByteBuffer) {
    self.kind = kind
    self.payload = payload
  }

  /// Appends a frame of `kind` holding `payload` to `buffer`.
  public static func write(
    kind: Kind, payload: some Collection<UInt8>, into buffer: inout ByteBuffer
  ) {
    buffer.writeInteger(UInt32(headerSize + payload.count))
    buffer.writeInteger(magic)
    buffer.writeInteger(RaftBinaryCodec.formatVersion)
    buffer.writeInteger(kind.rawValue)
    buffer.writeBytes(payload)
  }

  /// Appends this frame to `buffer`.
  public func write(into buffer: inout ByteBuffer) {
    buffer.writeInteger(UInt32(Self.headerSize + payload.readableBytes))
    buffer.writeInteger(Self.magic)
    buffer.writeInteger(RaftBinaryCodec.formatVersion)
    buffer.writeInteger(kind.rawValue)
    buffer.writeImmutableBuffer(payload)
  }

  /// The encoded size of a frame with `payloadCount` payload bytes, length prefix included.
  public static func encodedSize(payloadCount: Int) -> Int {
    lengthSize + headerSize + payloadCount
  }
}

/// Why a byte stream is not a valid sequence of ``RaftFrame``s. The connection that carried it is
/// closed.
public enum RaftFrameError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The length prefix announces more than the configured maximum.
  case frameTooLarge(length: UInt32, limit: Int)
  /// The length prefix announces less than the header.
  case frameTooShort(length: UInt32)
  /// The header does not start with ``RaftFrame/magic``: the peer does not speak this protocol.
  case badMagic(UInt16)
  /// The peer uses a format version this node does not know.
  case unsupportedVersion(UInt8)
  /// The frame kind is unknown.
  case unknownKind(UInt8)

  /// A sentence saying what was wrong.
  public var description: String {
    switch self {
    case .frameTooLarge(let length, let limit):
      return "frame length \(length) exceeds the limit of \(limit) bytes"
    case .frameTooShort(let length):
      return "frame length \(length) is shorter than the \(RaftFrame.headerSize)-byte header"
    case .badMagic(let magic):
      let hex = String(magic, radix: 16, uppercase: true)
      return "bad frame magic 0x\(hex): the peer does not speak WebRaft's TCP protocol"
    case .unsupportedVersion(let version):
      return
        "unsupported format version \(version); this node speaks version \(RaftBinaryCodec.formatVersion)"
    case .unknownKind(let kind):
      return "unknown frame kind \(kind)"
    }
  }
}

/// Splits a byte stream into ``RaftFrame``s, checking every header.
///
/// It checks the 8-byte preamble of a frame (length, magic, version, kind) as soon as it has
/// arrived — a length over the limit is refused before any of the payload — so a peer can make it
/// hold at most one frame of the maximum size. The magic is checked first, so that a peer that
/// does not speak the protocol at all is reported as such. Use it with NIO's `ByteToMessageHandler`, or drive it with a
/// `NIOSingleStepByteToMessageProcessor`.
public struct RaftFrameDecoder: NIOSingleStepByteToMessageDecoder {
  /// Decoded frames.
  public typealias InboundOut = RaftFrame

  /// The largest accepted value of the length prefix.
  public let maxFrameSize: Int

  /// Creates a decoder that accepts frames up to `maxFrameSize` bytes (header and payload).
  public init(maxFrameSize: Int) {
    self.maxFrameSize = maxFrameSize
  }

  /// Decodes the next frame, or returns nil when more bytes are needed.
  ///
  /// - Throws: ``RaftFrameError`` when the stream is not valid.
  public mutating func decode(buffer: inout ByteBuffer) throws -> RaftFrame? {
    let start = buffer.readerIndex
    guard let length = buffer.getInteger(at: start, as: UInt32.self),
      let magic = buffer.getInteger(at: start + 4, as: UInt16.self),
      let version = buffer.getInteger(at: start + 6, as: UInt8.self),
      let kindByte = buffer.getInteger(at: start + 7, as: UInt8.self)
    else {
      return nil
    }
    guard magic == RaftFrame.magic else { throw RaftFrameError.badMagic(magic) }
    guard version == RaftBinaryCodec.formatVersion else {
      throw RaftFrameError.unsupportedVersion(version)
    }
    guard length >= RaftFrame.headerSize else { throw RaftFrameError.frameTooShort(length: length) }
    guard UInt64(length) <= UInt64(max(maxFrameSize, 0)) else {
      throw RaftFrameError.frameTooLarge(length: length, limit: maxFrameSize)
    }
    guard let kind = RaftFrame.Kind(rawValue: kindByte) else {
      throw RaftFrameError.unknownKind(kindByte)
    }
    guard buffer.readableBytes >= RaftFrame.lengthSize + Int(length) else { return nil }
    buffer.moveReaderIndex(forwardBy: RaftFrame.lengthSize + RaftFrame.headerSize)
    guard let payload = buffer.readSlice(length: Int(length) - RaftFrame.headerSize) else {
      return nil
    }
    return RaftFrame(kind: kind, payload: payload)
  }

  /// Decodes what is left when the stream ends; an incomplete frame is discarded.
  public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RaftFrame? {
    try decode(buffer: &buffer)
  }
}

/// The handshake payload of a ``RaftFrame/Kind/hello`` frame.
///
/// The incarnation came after the first version of the protocol: a hello without it (from a node
/// that does not send it) still decodes, with no incarnation.
struct Hello: Hashable, Sendable {
  /// The sender's cluster.
  var clusterID: String
  /// The node that sends the hello.
  var sender: NodeID
  /// The node the sender meant to reach.
  var receiver: NodeID
  /// The sender's incarnation: drawn at random when its data directory was made, so that a node
  /// that lost its directory is told apart from the one that had it. Nil when it has none.
  var incarnation: UInt64? = nil

  func encode() -> [UInt8] {
    var writer = BinaryWriter(capacity: 24 + clusterID.utf8.count + 2 * sender.rawValue.utf8.count)
    writer.write(string: clusterID)
    writer.write(string: sender.rawValue)
    writer.write(string: receiver.rawValue)
    let value = incarnation ?? 0
    writer.write(raw: (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) })
    return writer.bytes
  }

  static func decode(_ payload: ByteBuffer) throws(RaftError) -> Hello {
    var reader = BinaryReader(Array(payload.readableBytesView))
    var hello = Hello(
      clusterID: try reader.readString(), sender: NodeID(try reader.readString()),
      receiver: NodeID(try reader.readString()))
    if !reader.isAtEnd {
      let value = try reader.readRaw(count: 8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      hello.incarnation = value == 0 ? nil : value
    }
    guard reader.isAtEnd else {
      throw .malformedMessage("\(reader.remaining) trailing bytes after a hello")
    }
    return hello
  }
}

/// The payload of a ``RaftFrame/Kind/refusal`` frame.
enum Refusal {
  /// The longest reason sent, in bytes, so that a refusal is always a small frame.
  static let maxReasonBytes = 512

  static func encode(_ reason: String, kind: TCPTransport.HandshakeRefusal.Kind = .other) -> [UInt8] {
    var text = reason
    if text.utf8.count > maxReasonBytes {
      text = String(decoding: Array(text.utf8.prefix(maxReasonBytes)), as: UTF8.self)
    }
    var writer = BinaryWriter(capacity: text.utf8.count + 5)
    writer.write(string: text)
    writer.write(byte: kind.rawValue)
    return writer.bytes
  }

  /// The reason and kind; a refusal without a kind byte (from a node that does not send it) is
  /// ``TCPTransport/HandshakeRefusal/Kind/other``, and so is a kind this node does not know.
  static func decode(_ payload: ByteBuffer) throws(RaftError) -> (
    reason: String, kind: TCPTransport.HandshakeRefusal.Kind
  ) {
    var reader = BinaryReader(Array(payload.readableBytesView))
    let reason = try reader.readString()
    var kind = TCPTransport.HandshakeRefusal.Kind.other
    if !reader.isAtEnd {
      kind = TCPTransport.HandshakeRefusal.Kind(rawValue: try reader.readByte()) ?? .other
    }
    guard reader.isAtEnd else {
      throw .malformedMessage("\(reader.remaining) trailing bytes after a refusal")
    }
    return (reason, kind)
  }
}
