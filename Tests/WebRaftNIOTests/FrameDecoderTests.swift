import NIOCore
import NIOEmbedded
import Testing
import WebRaft

@testable import WebRaftNIO

@Suite("Frame decoder")
struct FrameDecoderTests {
  private func makeChannel(maxFrameSize: Int = 1 << 20) throws -> EmbeddedChannel {
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(
      ByteToMessageHandler(RaftFrameDecoder(maxFrameSize: maxFrameSize)))
    return channel
  }

  private func readFrames(_ channel: EmbeddedChannel) throws -> [RaftFrame] {
    var frames: [RaftFrame] = []
    while let frame = try channel.readInbound(as: RaftFrame.self) {
      frames.append(frame)
    }
    return frames
  }

  @Test("frames of every message kind decode, delivered byte by byte")
  func byteByByte() throws {
    let channel = try makeChannel()
    let messages = sampleMessages().filter { RaftBinaryCodec.encode($0).count < 4_096 }
    var stream = ByteBuffer()
    for message in messages {
      RaftFrame.write(kind: .message, payload: RaftBinaryCodec.encode(message), into: &stream)
    }
    var decoded: [RaftMessage] = []
    while let byte = stream.readSlice(length: 1) {
      try channel.writeInbound(byte)
      for frame in try readFrames(channel) {
        #expect(frame.kind == .message)
        decoded.append(try RaftBinaryCodec.decodeMessage(Array(frame.payload.readableBytesView)))
      }
    }
    #expect(decoded == messages)
    #expect(try channel.finish().isClean)
  }

  @Test("many frames in one read, including large payloads and every frame kind")
  func manyFramesAtOnce() throws {
    let channel = try makeChannel()
    var stream = ByteBuffer()
    let hello = helloPayload(cluster: "c", from: "a", to: "b")
    RaftFrame.write(kind: .hello, payload: hello, into: &stream)
    for message in sampleMessages() {
      RaftFrame.write(kind: .message, payload: RaftBinaryCodec.encode(message), into: &stream)
    }
    RaftFrame.write(kind: .refusal, payload: Refusal.encode("no"), into: &stream)
    RaftFrame.write(kind: .message, payload: [] as [UInt8], into: &stream)
    try channel.writeInbound(stream)
    let frames = try readFrames(channel)
    #expect(frames.count == sampleMessages().count + 3)
    #expect(frames.first?.kind == .hello)
    #expect(try Hello.decode(frames[0].payload) == Hello(clusterID: "c", sender: "a", receiver: "b"))
    #expect(frames[frames.count - 2].kind == .refusal)
    #expect(try Refusal.decode(frames[frames.count - 2].payload).reason == "no")
    #expect(frames.last?.payload.readableBytes == 0)
    #expect(try channel.finish().isClean)
  }

  /// A frame preamble: length, magic, version, kind.
  private func preamble(
    length: UInt32, magic: UInt16 = RaftFrame.magic, version: UInt8 = RaftBinaryCodec.formatVersion,
    kind: UInt8 = RaftFrame.Kind.message.rawValue
  ) -> ByteBuffer {
    var buffer = ByteBuffer()
    buffer.writeInteger(length)
    buffer.writeInteger(magic)
    buffer.writeInteger(version)
    buffer.writeInteger(kind)
    return buffer
  }

  @Test("a length over the limit is rejected as soon as the preamble arrives")
  func oversizedLengthIsRejectedEarly() throws {
    let channel = try makeChannel(maxFrameSize: 1_024)
    var prefix = preamble(length: 1_025)
    // Nothing happens until the 8-byte preamble is complete.
    try channel.writeInbound(prefix.readSlice(length: 7)!)
    #expect(throws: RaftFrameError.frameTooLarge(length: 1_025, limit: 1_024)) {
      try channel.writeInbound(prefix)
    }
    _ = try? channel.finish()
  }

  @Test("the largest frame within the limit is accepted")
  func frameAtTheLimit() throws {
    let channel = try makeChannel(maxFrameSize: 1_024)
    try channel.writeInbound(frameBuffer(.message, Array(repeating: 7, count: 1_020)))
    let frames = try readFrames(channel)
    #expect(frames.count == 1)
    #expect(frames.first?.payload.readableBytes == 1_020)
    #expect(try channel.finish().isClean)
  }

  @Test("a length of UInt32.max is rejected")
  func maximalLength() throws {
    let channel = try makeChannel()
    let buffer = preamble(length: .max)
    #expect(throws: RaftFrameError.self) { try channel.writeInbound(buffer) }
    _ = try? channel.finish()
  }

  @Test("a length shorter than the header is rejected", arguments: [0, 1, 2, 3] as [UInt32])
  func shortLength(length: UInt32) throws {
    let channel = try makeChannel()
    let buffer = preamble(length: length)
    #expect(throws: RaftFrameError.frameTooShort(length: length)) { try channel.writeInbound(buffer) }
    _ = try? channel.finish()
  }

  @Test("a bad magic is rejected")
  func badMagic() throws {
    let channel = try makeChannel()
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(4))
    buffer.writeInteger(UInt16(0x4745))  // "GE", as in an HTTP GET
    buffer.writeInteger(RaftBinaryCodec.formatVersion)
    buffer.writeInteger(RaftFrame.Kind.message.rawValue)
    #expect(throws: RaftFrameError.badMagic(0x4745)) { try channel.writeInbound(buffer) }
    _ = try? channel.finish()
  }

  @Test("unknown format versions are rejected", arguments: [0, 2, 3, 255] as [UInt8])
  func unknownVersion(version: UInt8) throws {
    let channel = try makeChannel()
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(4))
    buffer.writeInteger(RaftFrame.magic)
    buffer.writeInteger(version)
    buffer.writeInteger(RaftFrame.Kind.message.rawValue)
    #expect(throws: RaftFrameError.unsupportedVersion(version)) { try channel.writeInbound(buffer) }
    #expect(RaftFrameError.unsupportedVersion(version).description.contains("version \(version)"))
    _ = try? channel.finish()
  }

  @Test("unknown frame kinds are rejected", arguments: [0, 4, 128, 255] as [UInt8])
  func unknownKind(kind: UInt8) throws {
    let channel = try makeChannel()
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(4))
    buffer.writeInteger(RaftFrame.magic)
    buffer.writeInteger(RaftBinaryCodec.formatVersion)
    buffer.writeInteger(kind)
    #expect(throws: RaftFrameError.unknownKind(kind)) { try channel.writeInbound(buffer) }
    _ = try? channel.finish()
  }

  @Test("the magic is checked before the length")
  func magicBeforeLength() throws {
    let channel = try makeChannel()
    var buffer = ByteBuffer()
    buffer.writeBytes(Array("GET / HTTP/1.1\r\n".utf8))
    #expect(throws: RaftFrameError.badMagic(0x2F20)) { try channel.writeInbound(buffer) }
    _ = try? channel.finish()
  }

  @Test("the header is checked before the payload arrives")
  func headerCheckedEarly() throws {
    let channel = try makeChannel()
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(100_000))
    buffer.writeInteger(RaftFrame.magic)
    buffer.writeInteger(UInt8(9))
    buffer.writeInteger(RaftFrame.Kind.message.rawValue)
    #expect(throws: RaftFrameError.unsupportedVersion(9)) { try channel.writeInbound(buffer) }
    _ = try? channel.finish()
  }

  @Test("an incomplete frame at the end of the stream yields nothing")
  func partialFrameAtEnd() throws {
    var decoder = RaftFrameDecoder(maxFrameSize: 1_024)
    var buffer = frameBuffer(.message, [1, 2, 3, 4, 5])
    buffer.moveWriterIndex(to: buffer.writerIndex - 1)
    #expect(try decoder.decode(buffer: &buffer) == nil)
    #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true) == nil)
  }

  @Test("a malformed hello or refusal payload is rejected")
  func malformedHandshakePayloads() {
    #expect(throws: RaftError.self) { try Hello.decode(ByteBuffer(bytes: [3, 0x61])) }
    #expect(throws: RaftError.self) {
      try Hello.decode(ByteBuffer(bytes: helloPayload(cluster: "c", from: "a", to: "b") + [0]))
    }
    #expect(throws: RaftError.self) { try Refusal.decode(ByteBuffer(bytes: [200])) }
    let long = String(repeating: "é", count: 2_000)
    #expect(Refusal.encode(long).count <= Refusal.maxReasonBytes + 8)
  }
}
