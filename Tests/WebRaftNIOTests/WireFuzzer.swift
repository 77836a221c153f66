// This file is shared with the `WireFuzz` executable of the Benchmarks package (by a symbolic
// link), so it uses only public API and does not import Testing.

import NIOCore
import WebRaft
import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// MARK: - Sample messages

/// Node IDs with edge cases: empty, short, non-ASCII, long.
let sampleIDs: [NodeID] = ["", "a", "nœud-☃-节点", NodeID(String(repeating: "x", count: 300))]

/// Every error a message can carry.
let sampleErrors: [RaftError] = [
  .noLeader(leaderHint: nil), .noLeader(leaderHint: "b"), .notLeader(leader: nil),
  .notLeader(leader: "c"), .overloaded(uncommittedBytes: 0, limit: Int.max),
  .overloaded(uncommittedBytes: 12_345, limit: 1 << 20), .membershipChangeInProgress,
  .membershipChangeRejected("not a member ☃"), .proposalDropped(index: UInt64.max),
  .proposalTimedOut, .invalidConfiguration(""), .shutdown,
  .stateMachineFailed(index: 7, reason: "disk full"), .storageFailed("EIO"), .cancelled,
  .malformedMessage("bad"), .leadershipTransferInProgress, .leadershipTransferFailed("timeout"),
  .snapshotsUnsupported, .proposalOutcomeUnknown("lost"), .cancelledOutcomeUnknown,
]

let sampleMemberships: [Membership] = [
  .empty,
  ["a"],
  Membership(
    voters: ["a", "b", "c"], learners: ["d", "e"],
    attributes: ["a": ["address": "10.0.0.1:7001", "zone": "eu-☃"], "d": [:], "e": ["": ""]],
    learnersToPromote: ["e"]),
]

/// Every kind of message, with edge values: zero and maximal integers, empty and large payloads,
/// absent and present optionals, every entry payload, change and error.
func sampleMessages() -> [RaftMessage] {
  var bodies: [RaftMessage.Body] = []
  for preVote in [false, true] {
    bodies.append(.voteRequest(VoteRequest(preVote: preVote, lastLogIndex: 0, lastLogTerm: 0)))
    bodies.append(
      .voteRequest(
        VoteRequest(
          preVote: preVote, lastLogIndex: .max, lastLogTerm: .max, leadershipTransfer: true)))
    for granted in [false, true] {
      bodies.append(.voteResponse(VoteResponse(preVote: preVote, granted: granted)))
    }
  }
  let big = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
  let entries: [LogEntry.Payload] =
    [.command(Data()), .command(Data([0])), .command(big), .noop]
    + sampleMemberships.map { .membership($0) }
  let origins: [ProposalOrigin?] = [
    nil, ProposalOrigin(node: "b", requestID: 0), ProposalOrigin(node: "nœud", requestID: .max),
  ]
  var logEntries: [LogEntry] = []
  for (position, payload) in entries.enumerated() {
    logEntries.append(
      LogEntry(
        index: 101 + UInt64(position), term: UInt64(position) * 1_000_003, payload: payload,
        origin: origins[position % origins.count]))
  }
  bodies.append(
    .appendEntries(AppendEntries(prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0)))
  bodies.append(
    .appendEntries(
      AppendEntries(prevLogIndex: 100, prevLogTerm: 9, entries: logEntries, leaderCommit: 99)))
  bodies.append(
    .appendEntries(
      AppendEntries(
        prevLogIndex: .max - 1, prevLogTerm: .max,
        entries: [LogEntry(index: .max, term: .max, payload: .noop)], leaderCommit: .max)))
  for success in [false, true] {
    bodies.append(
      .appendEntriesResponse(AppendEntriesResponse(success: success, index: 0)))
    bodies.append(
      .appendEntriesResponse(
        AppendEntriesResponse(success: success, index: .max, conflictTerm: .max, conflictIndex: .max)))
  }
  bodies.append(.appendEntriesResponse(AppendEntriesResponse(success: false, index: 5, conflictTerm: 0)))
  bodies.append(.heartbeat(Heartbeat(commit: 0)))
  bodies.append(.heartbeat(Heartbeat(commit: .max, readRound: .max)))
  bodies.append(.heartbeatResponse(HeartbeatResponse()))
  bodies.append(.heartbeatResponse(HeartbeatResponse(readRound: 1 << 40)))
  for membership in sampleMemberships {
    for done in [false, true] {
      bodies.append(
        .installSnapshot(
          InstallSnapshot(
            metadata: SnapshotMetadata(index: 1_000, term: 3, membership: membership),
            totalSize: 0, offset: 0, data: Data(), done: done)))
    }
  }
  bodies.append(
    .installSnapshot(
      InstallSnapshot(
        metadata: SnapshotMetadata(index: .max, term: .max, membership: ["a"]), totalSize: .max,
        offset: .max, data: big, done: true)))
  for done in [false, true] {
    bodies.append(
      .installSnapshotResponse(InstallSnapshotResponse(snapshotIndex: 0, nextOffset: 0, done: done)))
  }
  bodies.append(
    .installSnapshotResponse(InstallSnapshotResponse(snapshotIndex: .max, nextOffset: .max, done: true)))
  bodies.append(.timeoutNow)
  bodies.append(.readIndex(ReadIndexRequest(requestID: 0)))
  bodies.append(.readIndex(ReadIndexRequest(requestID: .max)))
  bodies.append(.readIndexResponse(ReadIndexResponse(requestID: 1, index: nil, error: nil)))
  bodies.append(.readIndexResponse(ReadIndexResponse(requestID: .max, index: .max, error: nil)))
  for error in sampleErrors {
    bodies.append(.readIndexResponse(ReadIndexResponse(requestID: 2, index: nil, error: error)))
    bodies.append(.proposalRejected(ProposalRejection(requestID: 3, error: error)))
  }
  let requests: [ForwardedProposal.Request] = [
    .command(Data()), .command(Data("set x = 1".utf8)), .command(big),
    .membershipChange(.addVoter("d")), .membershipChange(.addVoter("d", attributes: ["k": "v"])),
    .membershipChange(.addLearner("nœud", attributes: [:])), .membershipChange(.addLearner("e")),
    .membershipChange(.remove("")), .membershipChange(.remove("a")),
  ]
  for request in requests {
    bodies.append(.proposal(ForwardedProposal(requestID: 0, request: request)))
    bodies.append(.proposal(ForwardedProposal(requestID: .max, request: request)))
  }

  var messages: [RaftMessage] = []
  for (position, body) in bodies.enumerated() {
    let from = sampleIDs[position % sampleIDs.count]
    let to = sampleIDs[(position / sampleIDs.count) % sampleIDs.count]
    let term: UInt64 = [0, 1, 127, 128, 16_383, 16_384, .max][position % 7]
    messages.append(RaftMessage(from: from, to: to, term: term, body: body))
  }
  return messages
}

// MARK: - Fuzzer

/// A fault the fuzzer found: the input and what went wrong.
struct WireFuzzFailure: Error, CustomStringConvertible {
  var input: [UInt8]
  var problem: String

  var description: String {
    let hex = input.prefix(256).map { String($0, radix: 16) }.joined(separator: " ")
    return "\(problem); input (\(input.count) bytes): \(hex)"
  }
}

/// Feeds random and mutated inputs to the message codec and the frame decoder, checking that
/// every input is either rejected with a typed error or decodes to a message that encodes back to
/// no more bytes than it came from and decodes to itself again.
struct WireFuzzer {
  /// How many inputs of each outcome were seen.
  struct Tally: CustomStringConvertible {
    var inputs = 0
    var messagesDecoded = 0
    var messagesRejected = 0
    var framesDecoded = 0
    var streamsRejected = 0

    var description: String {
      "\(inputs) inputs: \(messagesDecoded) messages decoded, \(messagesRejected) rejected; "
        + "\(framesDecoded) frames decoded, \(streamsRejected) frame streams rejected"
    }
  }

  private var random: SplitMix64
  private let corpus: [[UInt8]]
  private let maxFrameSize: Int
  private let checkHandshake: (RaftFrame) -> Void
  private(set) var tally = Tally()

  /// Creates a fuzzer with `seed`; `checkHandshake` decodes hello and refusal frames.
  init(seed: UInt64, maxFrameSize: Int = 4_096, checkHandshake: @escaping (RaftFrame) -> Void) {
    self.random = SplitMix64(seed: seed)
    self.maxFrameSize = maxFrameSize
    self.checkHandshake = checkHandshake
    var corpus = sampleMessages().map(RaftBinaryCodec.encode).filter { $0.count <= 2_048 }
    for term in [0, 1, 300] as [UInt64] {
      corpus.append(
        RaftBinaryCodec.encode(
          RaftMessage(
            from: "a", to: "b", term: term,
            body: .appendEntries(
              AppendEntries(
                prevLogIndex: term, prevLogTerm: term,
                entries: [
                  LogEntry(index: term + 1, term: term, payload: .command(Data("x".utf8))),
                  LogEntry(index: term + 2, term: term, payload: .membership(["a", "b"])),
                ], leaderCommit: term)))))
    }
    self.corpus = corpus
  }

  private mutating func below(_ bound: Int) -> Int {
    bound <= 1 ? 0 : Int(random.next() % UInt64(bound))
  }

  private mutating func randomBytes(_ count: Int) -> [UInt8] {
    (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
  }

  /// Applies one to six random mutations.
  private mutating func mutate(_ input: [UInt8]) -> [UInt8] {
    var bytes = input
    let interesting: [UInt8] = [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF, 0x0D, 0x03]
    for _ in 0...below(6) {
      switch below(9) {
      case 0 where !bytes.isEmpty:
        bytes[below(bytes.count)] ^= 1 << UInt8(below(8))
      case 1 where !bytes.isEmpty:
        bytes[below(bytes.count)] = interesting[below(interesting.count)]
      case 2:
        bytes.insert(contentsOf: randomBytes(1 + below(8)), at: below(bytes.count + 1))
      case 3 where !bytes.isEmpty:
        let start = below(bytes.count)
        bytes.removeSubrange(start..<min(bytes.count, start + 1 + below(16)))
      case 4 where !bytes.isEmpty:
        let start = below(bytes.count)
        let slice = bytes[start..<min(bytes.count, start + 1 + below(32))]
        bytes.insert(contentsOf: slice, at: below(bytes.count + 1))
      case 5:
        bytes.removeLast(below(bytes.count + 1))
      case 6 where !bytes.isEmpty:
        let start = below(bytes.count)
        for position in start..<min(bytes.count, start + 1 + below(10)) { bytes[position] = 0xFF }
      case 7:
        let other = corpus[below(corpus.count)]
        bytes = Array(bytes.prefix(below(bytes.count + 1)) + other.suffix(below(other.count + 1)))
      default:
        if !bytes.isEmpty { bytes[below(bytes.count)] = UInt8(truncatingIfNeeded: random.next()) }
      }
    }
    return bytes
  }

  /// Decodes `bytes` as a message and checks the outcome.
  private mutating func checkMessage(_ bytes: [UInt8]) throws(WireFuzzFailure) {
    let message: RaftMessage
    do {
      message = try RaftBinaryCodec.decodeMessage(bytes)
    } catch {
      tally.messagesRejected += 1
      return
    }
    tally.messagesDecoded += 1
    let encoded = RaftBinaryCodec.encode(message)
    guard encoded.count <= bytes.count else {
      throw WireFuzzFailure(
        input: bytes, problem: "a decoded message encodes to \(encoded.count) bytes, more than its input")
    }
    let again: RaftMessage
    do {
      again = try RaftBinaryCodec.decodeMessage(encoded)
    } catch {
      throw WireFuzzFailure(input: bytes, problem: "the re-encoded message does not decode: \(error)")
    }
    guard again == message else {
      throw WireFuzzFailure(input: bytes, problem: "the re-encoded message decodes differently")
    }
  }

  /// Feeds `stream` to a frame decoder in random chunks, decoding every frame's payload.
  private mutating func checkStream(_ stream: [UInt8]) throws(WireFuzzFailure) {
    let processor = NIOSingleStepByteToMessageProcessor(RaftFrameDecoder(maxFrameSize: maxFrameSize))
    var frames: [RaftFrame] = []
    var offset = 0
    do {
      while offset < stream.count {
        let end = min(stream.count, offset + 1 + below(64))
        try processor.process(buffer: ByteBuffer(bytes: stream[offset..<end])) { frames.append($0) }
        offset = end
      }
    } catch {
      guard error is RaftFrameError else {
        throw WireFuzzFailure(input: stream, problem: "the frame decoder threw \(error)")
      }
      tally.streamsRejected += 1
    }
    for frame in frames {
      tally.framesDecoded += 1
      guard frame.payload.readableBytes + RaftFrame.headerSize <= maxFrameSize else {
        throw WireFuzzFailure(input: stream, problem: "a frame over the limit was decoded")
      }
      switch frame.kind {
      case .message: try checkMessage(Array(frame.payload.readableBytesView))
      case .hello, .refusal: checkHandshake(frame)
      }
    }
  }

  /// Runs one random input.
  mutating func runOne() throws(WireFuzzFailure) {
    tally.inputs += 1
    switch below(5) {
    case 0:
      try checkMessage(randomBytes(below(256)))
    case 1, 2:
      try checkMessage(mutate(corpus[below(corpus.count)]))
    case 3:
      var stream = ByteBuffer()
      for _ in 0...below(4) {
        if below(4) == 0 {
          RaftFrame.write(kind: .hello, payload: mutate([1, 0x63, 1, 0x61, 1, 0x62]), into: &stream)
        } else {
          RaftFrame.write(kind: .message, payload: corpus[below(corpus.count)], into: &stream)
        }
      }
      try checkStream(mutate(Array(stream.readableBytesView)))
    default:
      var stream: [UInt8] = []
      if below(2) == 0 {
        // A plausible header with random contents.
        let length = UInt32(below(300))
        stream = withUnsafeBytes(of: length.bigEndian, Array.init) + [0x52, 0x46, 1, UInt8(below(5))]
      }
      try checkStream(stream + randomBytes(below(300)))
    }
  }
}
