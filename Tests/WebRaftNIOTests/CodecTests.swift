import Testing
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

@Suite("Message codecs")
struct CodecTests {
  @Test("the samples cover every message kind")
  func samplesCoverEveryKind() {
    let kinds = Set(sampleMessages().map { kindName($0.body) })
    #expect(kinds.count == RaftBinaryCodec.MessageKind.allCases.count)
  }

  @Test("binary round trip of every message kind with edge values")
  func binaryRoundTrip() throws {
    for message in sampleMessages() {
      let bytes = RaftBinaryCodec.encode(message)
      let decoded = try RaftBinaryCodec.decodeMessage(bytes)
      #expect(decoded == message, "\(kindName(message.body))")
      #expect(RaftBinaryCodec.encode(decoded) == bytes)
    }
  }

  @Test("JSON round trip of every message kind with edge values")
  func jsonRoundTrip() throws {
    for message in sampleMessages() {
      let json = message.encodeJSON()
      #expect(!json.isEmpty)
      let decoded = try RaftMessage.decodeJSON(json)
      #expect(decoded == message, "\(kindName(message.body))")
    }
  }

  @Test("every strict prefix of an encoding is rejected")
  func truncationIsRejected() {
    for message in sampleMessages() {
      let bytes = RaftBinaryCodec.encode(message)
      // Large payloads: check the structural prefixes and a sample of the rest.
      let cuts = bytes.count <= 512 ? Array(0..<bytes.count) : Array(0..<256) + [bytes.count - 1]
      for cut in cuts {
        #expect(throws: RaftError.self) { try RaftBinaryCodec.decodeMessage(Array(bytes[..<cut])) }
      }
    }
  }

  @Test("trailing bytes are rejected")
  func trailingBytesAreRejected() {
    for message in sampleMessages().prefix(20) {
      #expect(throws: RaftError.self) {
        try RaftBinaryCodec.decodeMessage(RaftBinaryCodec.encode(message) + [0])
      }
    }
  }

  @Test("unknown message kinds are rejected", arguments: [0, 14, 15, 100, 255] as [UInt8])
  func unknownKindIsRejected(kind: UInt8) {
    var writer = BinaryWriter()
    writer.write(string: "a")
    writer.write(string: "b")
    writer.write(varint: 1)
    writer.write(byte: kind)
    writer.write(varint: 0)
    let bytes = writer.bytes
    #expect(RaftBinaryCodec.MessageKind(rawValue: kind) == nil)
    #expect(throws: RaftError.self) { try RaftBinaryCodec.decodeMessage(bytes) }
  }

  @Test("counts that promise more than the input are rejected without allocating")
  func lyingCountsAreRejected() {
    // An append that claims 2^62 entries in a few bytes.
    var writer = BinaryWriter()
    writer.write(string: "a")
    writer.write(string: "b")
    writer.write(varint: 1)
    writer.write(byte: RaftBinaryCodec.MessageKind.appendEntries.rawValue)
    writer.write(varint: 0)
    writer.write(varint: 0)
    writer.write(varint: 0)
    writer.write(varint: 1 << 62)
    #expect(throws: RaftError.self) { try RaftBinaryCodec.decodeMessage(writer.bytes) }

    // A string whose length exceeds the input.
    var long = BinaryWriter()
    long.write(varint: UInt64.max)
    #expect(throws: RaftError.self) { try RaftBinaryCodec.decodeMessage(long.bytes) }

    // An 11-byte varint and a varint over 64 bits.
    #expect(throws: RaftError.self) {
      try RaftBinaryCodec.decodeMessage([0] + [0] + Array(repeating: 0xFF, count: 10) + [0x01])
    }
    #expect(throws: RaftError.self) {
      try RaftBinaryCodec.decodeMessage([0, 0] + Array(repeating: 0xFF, count: 9) + [0x02])
    }
  }

  @Test("invalid booleans, optionals and UTF-8 are rejected")
  func invalidScalarsAreRejected() throws {
    let vote = RaftMessage(
      from: "a", to: "b", term: 1, body: .voteResponse(VoteResponse(preVote: false, granted: true)))
    var bytes = RaftBinaryCodec.encode(vote)
    bytes[bytes.count - 1] = 2
    #expect(throws: RaftError.self) { try RaftBinaryCodec.decodeMessage(bytes) }

    let response = RaftMessage(
      from: "a", to: "b", term: 1,
      body: .appendEntriesResponse(AppendEntriesResponse(success: false, index: 1)))
    var optional = RaftBinaryCodec.encode(response)
    // Layout: "a" "b" term kind success index [optional marker] conflictIndex.
    optional[optional.count - 2] = 7
    #expect(throws: RaftError.self) { try RaftBinaryCodec.decodeMessage(optional) }

    var badText = RaftBinaryCodec.encode(vote)
    badText[1] = 0xFF  // the single byte of "a"
    #expect(throws: RaftError.self) { try RaftBinaryCodec.decodeMessage(badText) }
  }

  @Test("malformed JSON is rejected with a typed error")
  func malformedJSONIsRejected() {
    for text in ["", "{}", "[]", "{\"from\":\"a\"}", "{\"from\":1,\"to\":\"b\",\"term\":1,\"body\":{}}"] {
      #expect(throws: RaftError.self) { try RaftMessage.decodeJSON(Data(text.utf8)) }
    }
  }
}
