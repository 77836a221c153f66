import Testing

@testable import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// One sample of every kind of message, with values that exercise every field.
private let sampleMessages: [RaftMessage] = {
  let membership = Membership(
    voters: ["n1", "n2", "n3"], learners: ["n4"],
    attributes: ["n1": ["address": "10.0.0.1:7000"], "n4": ["address": "[::1]:7004", "zone": "b"]])
  let entries = [
    LogEntry(index: 7, term: 3, payload: .noop),
    LogEntry(index: 8, term: 3, payload: .command(Data([0, 1, 2, 255, 0x7B, 0x22]))),
    LogEntry(
      index: 9, term: 3, payload: .command(Data("set x=1".utf8)),
      origin: ProposalOrigin(node: "n2", requestID: .max)),
    LogEntry(index: 10, term: 3, payload: .membership(membership)),
    LogEntry(index: 11, term: 3, payload: .command(Data())),
    LogEntry(
      index: 12, term: 3,
      payload: .membership(
        Membership(
          voters: ["n2", "n3", "n5"], learners: ["n1"], attributes: ["n5": ["address": "n5:7000"]],
          outgoingVoters: ["n1", "n2", "n3"]))),
  ]
  let bodies: [RaftMessage.Body] = [
    .voteRequest(VoteRequest(preVote: false, lastLogIndex: 10, lastLogTerm: 3)),
    .voteRequest(VoteRequest(preVote: true, lastLogIndex: 0, lastLogTerm: 0)),
    .voteResponse(VoteResponse(preVote: false, granted: true)),
    .voteResponse(VoteResponse(preVote: true, granted: false)),
    .appendEntries(AppendEntries(prevLogIndex: 6, prevLogTerm: 2, entries: entries, leaderCommit: 6)),
    .appendEntries(AppendEntries(prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0)),
    .appendEntriesResponse(AppendEntriesResponse(success: true, index: 11)),
    .appendEntriesResponse(
      AppendEntriesResponse(success: false, index: 9, conflictTerm: 2, conflictIndex: 4)),
    .appendEntriesResponse(
      AppendEntriesResponse(success: false, index: 9, conflictTerm: nil, conflictIndex: 3)),
    .heartbeat(Heartbeat(commit: 42, readRound: 7)),
    .heartbeatResponse(HeartbeatResponse(readRound: 7)),
    .installSnapshot(
      InstallSnapshot(
        metadata: SnapshotMetadata(index: 100, term: 4, membership: membership), totalSize: 3, offset: 0,
        data: Data([9, 8, 7]), done: true)),
    .installSnapshotResponse(InstallSnapshotResponse(snapshotIndex: 100, nextOffset: 3, done: true)),
    .timeoutNow,
    .readIndex(ReadIndexRequest(requestID: 5)),
    .readIndexResponse(ReadIndexResponse(requestID: 5, index: 77, error: nil)),
    .readIndexResponse(ReadIndexResponse(requestID: 6, index: nil, error: .notLeader(leader: "n1"))),
    .proposal(ForwardedProposal(requestID: 12, request: .command(Data("payload".utf8)))),
    .proposal(
      ForwardedProposal(requestID: 13, request: .membershipChange(.addVoter("n5", attributes: ["a": "b"])))),
    .proposal(ForwardedProposal(requestID: 14, request: .membershipChange(.addLearner("n6")))),
    .proposal(ForwardedProposal(requestID: 15, request: .membershipChange(.remove("n2")))),
    .proposal(
      ForwardedProposal(
        requestID: 16,
        request: .membershipChanges([
          .addVoter("n7", attributes: ["a": "b"]), .promote("n6"), .demote("n1"), .remove("n3"),
        ]))),
    .proposalRejected(ProposalRejection(requestID: 16, error: .overloaded(uncommittedBytes: 10, limit: 5))),
  ]
  return bodies.enumerated().map { offset, body in
    RaftMessage(from: "n1", to: NodeID("n\(offset % 3 + 2)"), term: UInt64(offset) * 1_000_003, body: body)
  }
}()

/// A number for every kind of message body. The switch is exhaustive on purpose: a new kind of
/// message does not compile here until it has a sample in `sampleMessages` above.
private func kindNumber(_ body: RaftMessage.Body) -> Int {
  switch body {
  case .voteRequest: return 0
  case .voteResponse: return 1
  case .appendEntries: return 2
  case .appendEntriesResponse: return 3
  case .heartbeat: return 4
  case .heartbeatResponse: return 5
  case .installSnapshot: return 6
  case .installSnapshotResponse: return 7
  case .timeoutNow: return 8
  case .readIndex: return 9
  case .readIndexResponse: return 10
  case .proposal: return 11
  case .proposalRejected: return 12
  }
}
private let kindCount = 13

/// Every error, one value per case (the switch below keeps the list complete).
private let sampleErrors: [RaftError] = [
  .noLeader(leaderHint: nil), .noLeader(leaderHint: "n3"), .notLeader(leader: nil), .notLeader(leader: "n1"),
  .overloaded(uncommittedBytes: 1 << 40, limit: 64), .membershipChangeInProgress,
  .membershipChangeRejected("n1 is already a voter"), .proposalDropped(index: 17), .proposalTimedOut,
  .invalidConfiguration("heartbeatInterval must be above zero"), .shutdown,
  .stateMachineFailed(index: 3, reason: "disk \"full\"\n"), .storageFailed("fsync: EIO"), .cancelled,
  .malformedMessage("bad"), .leadershipTransferInProgress, .leadershipTransferFailed("n9 is not a voter"),
  .snapshotsUnsupported, .proposalOutcomeUnknown("forwarded and never seen again"), .cancelledOutcomeUnknown,
  .notApplied(index: 90, applied: 12),
]

private func errorNumber(_ error: RaftError) -> Int {
  switch error {
  case .noLeader: return 0
  case .notLeader: return 1
  case .overloaded: return 2
  case .membershipChangeInProgress: return 3
  case .membershipChangeRejected: return 4
  case .proposalDropped: return 5
  case .proposalTimedOut: return 6
  case .invalidConfiguration: return 7
  case .shutdown: return 8
  case .stateMachineFailed: return 9
  case .storageFailed: return 10
  case .cancelled: return 11
  case .malformedMessage: return 12
  case .leadershipTransferInProgress: return 13
  case .leadershipTransferFailed: return 14
  case .snapshotsUnsupported: return 15
  case .proposalOutcomeUnknown: return 16
  case .cancelledOutcomeUnknown: return 17
  case .notApplied: return 18
  }
}
private let errorCount = 19

private func roundTrip<Value: Codable & Equatable>(_ value: Value) throws -> Value {
  try JSONDecoder().decode(Value.self, from: JSONEncoder().encode(value))
}

/// Expects `bytes` to be refused with `malformedMessage`.
private func expectMalformed(_ bytes: Data, sourceLocation: SourceLocation = #_sourceLocation) {
  do {
    let message = try RaftMessage.decodeJSON(bytes)
    Issue.record("decoded \(message) from garbage", sourceLocation: sourceLocation)
  } catch {
    guard case .malformedMessage(let reason) = error else {
      Issue.record("expected malformedMessage, got \(error)", sourceLocation: sourceLocation)
      return
    }
    #expect(reason.contains("\(bytes.count) bytes"), sourceLocation: sourceLocation)
  }
}

@Suite("Messages: JSON form and bad input")
struct RaftMessageCodingTests {
  @Test("the samples cover every kind of message")
  func samplesCoverEveryKind() {
    #expect(Set(sampleMessages.map { kindNumber($0.body) }) == Set(0..<kindCount))
    #expect(Set(sampleErrors.map(errorNumber)) == Set(0..<errorCount))
  }

  @Test("every kind of message survives a JSONEncoder/JSONDecoder round trip", arguments: sampleMessages)
  func messageRoundTrip(message: RaftMessage) throws {
    #expect(try roundTrip(message) == message)
    #expect(try RaftMessage.decodeJSON(message.encodeJSON()) == message)
    #expect(try RaftMessage.decodeJSON(JSONEncoder().encode(message)) == message)
  }

  @Test("every payload kind of a log entry survives a JSON round trip")
  func logEntryRoundTrip() throws {
    let entries: [LogEntry] = [
      LogEntry(index: 1, term: 1, payload: .noop),
      LogEntry(index: .max, term: .max, payload: .command(Data((0...255).map { UInt8($0) }))),
      LogEntry(index: 2, term: 1, payload: .command(Data())),
      LogEntry(
        index: 3, term: 2,
        payload: .membership(Membership(voters: ["a"], learners: ["b"], attributes: ["b": [:]])),
        origin: ProposalOrigin(node: "c", requestID: 0)),
      LogEntry(index: 4, term: 2, payload: .membership(.empty)),
    ]
    for entry in entries {
      #expect(try roundTrip(entry) == entry)
    }
  }

  @Test("a node identity is a plain JSON string, also as a dictionary key")
  func nodeIDIsAString() throws {
    let json = String(decoding: try JSONEncoder().encode(NodeID("10.0.0.5:7000")), as: UTF8.self)
    #expect(json == #""10.0.0.5:7000""#)
    let keyed: [NodeID: Int] = ["a": 1, "b": 2]
    // It decodes as a JSON object keyed by strings (not as a flat array of keys and values).
    let object = try JSONDecoder().decode([String: Int].self, from: JSONEncoder().encode(keyed))
    #expect(object == ["a": 1, "b": 2])
    #expect(try roundTrip(keyed) == keyed)
  }

  @Test("persistent state survives a JSON round trip")
  func persistentStateRoundTrip() throws {
    let state = PersistentState(
      hardState: HardState(term: 9, votedFor: "n2", commitIndex: 4),
      snapshot: SnapshotMetadata(index: 3, term: 2, membership: Membership(voters: ["n1", "n2", "n3"])),
      entries: [entry(4, 2, "x"), LogEntry(index: 5, term: 9, payload: .noop)])
    #expect(try roundTrip(state) == state)
    let initial = PersistentState.initial(membership: ["a", "b"])
    #expect(try roundTrip(initial) == initial)
    #expect(initial.isEmpty)
    #expect(try roundTrip(HardState()) == HardState())
  }

  @Test("every error survives a JSON round trip and describes itself", arguments: sampleErrors)
  func errorRoundTrip(error: RaftError) throws {
    #expect(try roundTrip(error) == error)
    #expect(!error.description.isEmpty)
  }

  // MARK: Bad input

  @Test("decodeJSON refuses random bytes with malformedMessage and never crashes")
  func randomBytes() {
    var random = SplitMix64(seed: 0x5EED)
    for _ in 0..<2000 {
      let count = Int.random(in: 0...256, using: &random)
      let bytes = Data((0..<count).map { _ in UInt8.random(in: 0...255, using: &random) })
      expectMalformed(bytes)
    }
  }

  @Test("decodeJSON refuses every truncation of a valid message")
  func truncatedMessages() {
    for message in sampleMessages {
      let bytes = message.encodeJSON()
      for length in 0..<bytes.count {
        expectMalformed(bytes.prefix(length))
      }
    }
  }

  @Test("decodeJSON either decodes a corrupted message into a valid one or refuses it, and never crashes")
  func corruptedMessages() throws {
    var random = SplitMix64(seed: 77)
    let alphabet = Array(#"{}[]":,-.0123456789eE truenfalsnul\"#.utf8)
    for _ in 0..<3000 {
      var bytes = Array(sampleMessages.randomElement(using: &random)!.encodeJSON())
      for _ in 0..<Int.random(in: 1...4, using: &random) {
        let position = Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<3, using: &random) {
        case 0: bytes[position] = alphabet.randomElement(using: &random)!
        case 1: bytes.remove(at: position)
        default: bytes.insert(alphabet.randomElement(using: &random)!, at: position)
        }
        if bytes.isEmpty { break }
      }
      do {
        let decoded = try RaftMessage.decodeJSON(Data(bytes))
        #expect(try RaftMessage.decodeJSON(decoded.encodeJSON()) == decoded)
      } catch {
        guard case .malformedMessage = error else {
          Issue.record("expected malformedMessage, got \(error)")
          continue
        }
      }
    }
  }

  @Test(
    "decodeJSON refuses well-formed JSON of the wrong shape",
    arguments: [
      #"{}"#,
      #"[]"#,
      #"null"#,
      #"42"#,
      #""text""#,
      #"{"from":"a","to":"b","term":1}"#,
      #"{"from":"a","to":"b","term":"1","body":{"timeoutNow":{}}}"#,
      #"{"from":"a","to":"b","term":-1,"body":{"timeoutNow":{}}}"#,
      #"{"from":"a","to":"b","term":1.5,"body":{"timeoutNow":{}}}"#,
      #"{"from":"a","to":"b","term":18446744073709551616,"body":{"timeoutNow":{}}}"#,
      #"{"from":"a","to":"b","term":1e400,"body":{"timeoutNow":{}}}"#,
      #"{"from":1,"to":"b","term":1,"body":{"timeoutNow":{}}}"#,
      #"{"from":"a","to":null,"term":1,"body":{"timeoutNow":{}}}"#,
      #"{"from":"a","to":"b","term":1,"body":null}"#,
      #"{"from":"a","to":"b","term":1,"body":{}}"#,
      #"{"from":"a","to":"b","term":1,"body":{"noSuchKind":{}}}"#,
      #"{"from":"a","to":"b","term":1,"body":"timeoutNow"}"#,
      #"{"from":"a","to":"b","term":1,"body":{"heartbeat":{"_0":{"commit":"x"}}}}"#,
      #"{"from":"a","to":"b","term":1,"body":{"heartbeat":{"_0":{}}}}"#,
      #"{"from":"a","to":"b","term":1,"body":{"appendEntries":{"_0":{"prevLogIndex":0,"prevLogTerm":0,"entries":{},"leaderCommit":0}}}}"#,
      #"{"from":"a","to":"b","term":1,"body":{"appendEntries":{"_0":{"prevLogIndex":0,"prevLogTerm":0,"entries":[{"index":1,"term":1,"payload":{"command":{"_0":"%%%"}}}],"leaderCommit":0}}}}"#,
      #"{"from":"a","to":"b","term":1,"body":{"voteRequest":{"_0":{"preVote":"yes","lastLogIndex":0,"lastLogTerm":0}}}}"#,
      #"{"from":"a","to":"b","term":1,"body":{"voteResponse":{"_0":{"preVote":false}}}}"#,
    ])
  func wrongShapes(json: String) {
    expectMalformed(Data(json.utf8))
  }

  @Test("decodeJSON refuses deeply nested input without exhausting the stack")
  func deepNesting() {
    for depth in [1000, 100_000] {
      expectMalformed(
        Data((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8))
      let nested = String(repeating: #"{"body":"#, count: depth) + "1" + String(repeating: "}", count: depth)
      expectMalformed(Data(nested.utf8))
    }
  }

  @Test("a sample message decodes from JSON written by hand, so the format is stable")
  func handWrittenJSON() throws {
    let json =
      #"{"from":"a","to":"b","term":3,"body":{"voteResponse":{"_0":{"preVote":false,"granted":true}}}}"#
    let message = try RaftMessage.decodeJSON(Data(json.utf8))
    #expect(message == voteResponse("a", "b", term: 3, granted: true))
  }
}
