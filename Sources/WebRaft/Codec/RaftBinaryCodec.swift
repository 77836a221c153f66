#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// WebRaft's compact binary form of messages, entries and stored state, written by hand.
///
/// Layout (version ``formatVersion``): unsigned integers are LEB128 varints (`v`), strings and
/// byte strings carry a varint length, booleans are one byte, an optional is a byte 0 (absent) or
/// 1 followed by the value. A message is `from` (string), `to` (string), `term` (v), a kind byte
/// (``MessageKind``) and the kind's fields in declaration order; the entries of an append omit
/// their index, which is implied by `prevLogIndex`. A transport frames messages and carries the
/// version in its frame header, so that peers of different versions fail clearly.
///
/// Decoding checks every length against the input and throws ``RaftError/malformedMessage(_:)``
/// for anything that is not a valid encoding, including trailing bytes.
public enum RaftBinaryCodec {
  /// The version of this layout.
  public static let formatVersion: UInt8 = 1

  /// The kind byte of each message body.
  public enum MessageKind: UInt8, Sendable, CaseIterable {
    /// ``RaftMessage/Body/voteRequest(_:)``
    case voteRequest = 1
    /// ``RaftMessage/Body/voteResponse(_:)``
    case voteResponse = 2
    /// ``RaftMessage/Body/appendEntries(_:)``
    case appendEntries = 3
    /// ``RaftMessage/Body/appendEntriesResponse(_:)``
    case appendEntriesResponse = 4
    /// ``RaftMessage/Body/heartbeat(_:)``
    case heartbeat = 5
    /// ``RaftMessage/Body/heartbeatResponse(_:)``
    case heartbeatResponse = 6
    /// ``RaftMessage/Body/proposal(_:)``
    case proposal = 7
    /// ``RaftMessage/Body/proposalRejected(_:)``
    case proposalRejected = 8
    /// ``RaftMessage/Body/installSnapshot(_:)``
    case installSnapshot = 9
    /// ``RaftMessage/Body/installSnapshotResponse(_:)``
    case installSnapshotResponse = 10
    /// ``RaftMessage/Body/timeoutNow``
    case timeoutNow = 11
    /// ``RaftMessage/Body/readIndex(_:)``
    case readIndex = 12
    /// ``RaftMessage/Body/readIndexResponse(_:)``
    case readIndexResponse = 13
  }

  // MARK: Messages

  /// Encodes a message.
  public static func encode(_ message: RaftMessage) -> [UInt8] {
    var writer = BinaryWriter(capacity: 64)
    encode(message, into: &writer)
    return writer.bytes
  }

  /// Appends a message to `writer`.
  public static func encode(_ message: RaftMessage, into writer: inout BinaryWriter) {
    writer.write(string: message.from.rawValue)
    writer.write(string: message.to.rawValue)
    writer.write(varint: message.term)
    switch message.body {
    case .voteRequest(let request):
      writer.write(byte: MessageKind.voteRequest.rawValue)
      writer.write(bool: request.preVote)
      writer.write(varint: request.lastLogIndex)
      writer.write(varint: request.lastLogTerm)
      writer.write(bool: request.leadershipTransfer)
    case .voteResponse(let response):
      writer.write(byte: MessageKind.voteResponse.rawValue)
      writer.write(bool: response.preVote)
      writer.write(bool: response.granted)
    case .appendEntries(let append):
      writer.write(byte: MessageKind.appendEntries.rawValue)
      writer.write(varint: append.prevLogIndex)
      writer.write(varint: append.prevLogTerm)
      writer.write(varint: append.leaderCommit)
      writer.write(varint: UInt64(append.entries.count))
      for entry in append.entries {
        encodeBody(of: entry, into: &writer)
      }
    case .appendEntriesResponse(let response):
      writer.write(byte: MessageKind.appendEntriesResponse.rawValue)
      writer.write(bool: response.success)
      writer.write(varint: response.index)
      writeOptional(response.conflictTerm, into: &writer) { $1.write(varint: $0) }
      writer.write(varint: response.conflictIndex)
    case .heartbeat(let heartbeat):
      writer.write(byte: MessageKind.heartbeat.rawValue)
      writer.write(varint: heartbeat.commit)
      writer.write(varint: heartbeat.readRound)
    case .heartbeatResponse(let response):
      writer.write(byte: MessageKind.heartbeatResponse.rawValue)
      writer.write(varint: response.readRound)
    case .proposal(let proposal):
      writer.write(byte: MessageKind.proposal.rawValue)
      writer.write(varint: proposal.requestID)
      switch proposal.request {
      case .command(let command):
        writer.write(byte: 0)
        writer.write(data: command)
      case .membershipChange(let change):
        writer.write(byte: 1)
        encode(change, into: &writer)
      case .membershipChanges(let changes):
        writer.write(byte: 2)
        writer.write(varint: UInt64(changes.count))
        for change in changes { encode(change, into: &writer) }
      }
    case .proposalRejected(let rejection):
      writer.write(byte: MessageKind.proposalRejected.rawValue)
      writer.write(varint: rejection.requestID)
      encode(rejection.error, into: &writer)
    case .installSnapshot(let chunk):
      writer.write(byte: MessageKind.installSnapshot.rawValue)
      encode(chunk.metadata, into: &writer)
      writer.write(varint: chunk.totalSize)
      writer.write(varint: chunk.offset)
      writer.write(data: chunk.data)
      writer.write(bool: chunk.done)
    case .installSnapshotResponse(let response):
      writer.write(byte: MessageKind.installSnapshotResponse.rawValue)
      writer.write(varint: response.snapshotIndex)
      writer.write(varint: response.nextOffset)
      writer.write(bool: response.done)
    case .timeoutNow:
      writer.write(byte: MessageKind.timeoutNow.rawValue)
    case .readIndex(let request):
      writer.write(byte: MessageKind.readIndex.rawValue)
      writer.write(varint: request.requestID)
    case .readIndexResponse(let response):
      writer.write(byte: MessageKind.readIndexResponse.rawValue)
      writer.write(varint: response.requestID)
      writeOptional(response.index, into: &writer) { $1.write(varint: $0) }
      writeOptional(response.error, into: &writer) { encode($0, into: &$1) }
    }
  }

  /// Decodes a message that fills `bytes` exactly.
  public static func decodeMessage(_ bytes: [UInt8]) throws(RaftError) -> RaftMessage {
    var reader = BinaryReader(bytes)
    let message = try decodeMessage(from: &reader)
    guard reader.isAtEnd else {
      throw .malformedMessage("\(reader.remaining) trailing bytes after a message")
    }
    return message
  }

  /// Decodes a message from `reader`.
  public static func decodeMessage(from reader: inout BinaryReader) throws(RaftError) -> RaftMessage {
    let from = NodeID(try reader.readString())
    let to = NodeID(try reader.readString())
    let term = try reader.readVarint()
    let kindByte = try reader.readByte()
    guard let kind = MessageKind(rawValue: kindByte) else {
      throw .malformedMessage("unknown message kind \(kindByte)")
    }
    let body: RaftMessage.Body
    switch kind {
    case .voteRequest:
      body = .voteRequest(
        VoteRequest(
          preVote: try reader.readBool(), lastLogIndex: try reader.readVarint(),
          lastLogTerm: try reader.readVarint(), leadershipTransfer: try reader.readBool()))
    case .voteResponse:
      body = .voteResponse(VoteResponse(preVote: try reader.readBool(), granted: try reader.readBool()))
    case .appendEntries:
      let prevLogIndex = try reader.readVarint()
      let prevLogTerm = try reader.readVarint()
      let leaderCommit = try reader.readVarint()
      let count = try reader.readCount(minimumSize: 3)
      var entries: [LogEntry] = []
      entries.reserveCapacity(count)
      for position in 0..<count {
        let (index, overflow) = prevLogIndex.addingReportingOverflow(UInt64(position) + 1)
        if overflow { throw .malformedMessage("entry index overflows") }
        entries.append(try decodeBody(index: index, from: &reader))
      }
      body = .appendEntries(
        AppendEntries(
          prevLogIndex: prevLogIndex, prevLogTerm: prevLogTerm, entries: entries,
          leaderCommit: leaderCommit))
    case .appendEntriesResponse:
      body = .appendEntriesResponse(
        AppendEntriesResponse(
          success: try reader.readBool(), index: try reader.readVarint(),
          conflictTerm: try readOptional(from: &reader) { (r: inout BinaryReader) throws(RaftError) in
            try r.readVarint()
          },
          conflictIndex: try reader.readVarint()))
    case .heartbeat:
      body = .heartbeat(Heartbeat(commit: try reader.readVarint(), readRound: try reader.readVarint()))
    case .heartbeatResponse:
      body = .heartbeatResponse(HeartbeatResponse(readRound: try reader.readVarint()))
    case .proposal:
      let requestID = try reader.readVarint()
      let request: ForwardedProposal.Request
      switch try reader.readByte() {
      case 0: request = .command(try reader.readData())
      case 1: request = .membershipChange(try decodeMembershipChange(from: &reader))
      case 2:
        let count = try reader.readCount(minimumSize: 2)
        var changes: [MembershipChange] = []
        changes.reserveCapacity(count)
        for _ in 0..<count { changes.append(try decodeMembershipChange(from: &reader)) }
        request = .membershipChanges(changes)
      case let other: throw .malformedMessage("unknown proposal kind \(other)")
      }
      body = .proposal(ForwardedProposal(requestID: requestID, request: request))
    case .proposalRejected:
      body = .proposalRejected(
        ProposalRejection(requestID: try reader.readVarint(), error: try decodeError(from: &reader)))
    case .installSnapshot:
      body = .installSnapshot(
        InstallSnapshot(
          metadata: try decodeSnapshotMetadata(from: &reader), totalSize: try reader.readVarint(),
          offset: try reader.readVarint(), data: try reader.readData(), done: try reader.readBool()))
    case .installSnapshotResponse:
      body = .installSnapshotResponse(
        InstallSnapshotResponse(
          snapshotIndex: try reader.readVarint(), nextOffset: try reader.readVarint(),
          done: try reader.readBool()))
    case .timeoutNow:
      body = .timeoutNow
    case .readIndex:
      body = .readIndex(ReadIndexRequest(requestID: try reader.readVarint()))
    case .readIndexResponse:
      body = .readIndexResponse(
        ReadIndexResponse(
          requestID: try reader.readVarint(),
          index: try readOptional(from: &reader) { (r: inout BinaryReader) throws(RaftError) in
            try r.readVarint()
          },
          error: try readOptional(from: &reader) { (r: inout BinaryReader) throws(RaftError) in
            try decodeError(from: &r)
          }))
    }
    return RaftMessage(from: from, to: to, term: term, body: body)
  }

  // MARK: Entries

  /// Appends a log entry, index included.
  public static func encode(_ entry: LogEntry, into writer: inout BinaryWriter) {
    writer.write(varint: entry.index)
    encodeBody(of: entry, into: &writer)
  }

  /// Decodes a log entry written by ``encode(_:into:)-(LogEntry,_)``.
  public static func decodeEntry(from reader: inout BinaryReader) throws(RaftError) -> LogEntry {
    let index = try reader.readVarint()
    return try decodeBody(index: index, from: &reader)
  }

  private static func encodeBody(of entry: LogEntry, into writer: inout BinaryWriter) {
    writer.write(varint: entry.term)
    switch entry.payload {
    case .command(let command):
      writer.write(byte: 0)
      writer.write(data: command)
    case .noop:
      writer.write(byte: 1)
    case .membership(let membership):
      writer.write(byte: 2)
      encode(membership, into: &writer)
    }
    writeOptional(entry.origin, into: &writer) { origin, writer in
      writer.write(string: origin.node.rawValue)
      writer.write(varint: origin.requestID)
    }
  }

  private static func decodeBody(index: UInt64, from reader: inout BinaryReader) throws(RaftError)
    -> LogEntry
  {
    let term = try reader.readVarint()
    let payload: LogEntry.Payload
    switch try reader.readByte() {
    case 0: payload = .command(try reader.readData())
    case 1: payload = .noop
    case 2: payload = .membership(try decodeMembership(from: &reader))
    case let other: throw .malformedMessage("unknown entry payload kind \(other)")
    }
    let origin = try readOptional(from: &reader) { (r: inout BinaryReader) throws(RaftError) in
      ProposalOrigin(node: NodeID(try r.readString()), requestID: try r.readVarint())
    }
    return LogEntry(index: index, term: term, payload: payload, origin: origin)
  }

  // MARK: State

  /// Appends a hard state.
  public static func encode(_ state: HardState, into writer: inout BinaryWriter) {
    writer.write(varint: state.term)
    writeOptional(state.votedFor, into: &writer) { $1.write(string: $0.rawValue) }
    writer.write(varint: state.commitIndex)
  }

  /// Decodes a hard state.
  public static func decodeHardState(from reader: inout BinaryReader) throws(RaftError) -> HardState {
    HardState(
      term: try reader.readVarint(),
      votedFor: try readOptional(from: &reader) { (r: inout BinaryReader) throws(RaftError) in
        NodeID(try r.readString())
      },
      commitIndex: try reader.readVarint())
  }

  /// Appends snapshot metadata.
  public static func encode(_ metadata: SnapshotMetadata, into writer: inout BinaryWriter) {
    writer.write(varint: metadata.index)
    writer.write(varint: metadata.term)
    encode(metadata.membership, into: &writer)
  }

  /// Decodes snapshot metadata.
  public static func decodeSnapshotMetadata(from reader: inout BinaryReader) throws(RaftError)
    -> SnapshotMetadata
  {
    SnapshotMetadata(
      index: try reader.readVarint(), term: try reader.readVarint(),
      membership: try decodeMembership(from: &reader))
  }

  /// Appends a membership.
  public static func encode(_ membership: Membership, into writer: inout BinaryWriter) {
    if membership.isJoint {
      writer.write(varint: jointMembershipMarker)
      writeIDs(membership.outgoingVoters, into: &writer)
    }
    writeIDs(membership.voters, into: &writer)
    writeIDs(membership.learners, into: &writer)
    let attributed = membership.attributes.sorted { $0.key < $1.key }
    writer.write(varint: UInt64(attributed.count))
    for (member, attributes) in attributed {
      writer.write(string: member.rawValue)
      writeAttributes(attributes, into: &writer)
    }
    writeIDs(membership.learnersToPromote, into: &writer)
  }

  /// Decodes a membership.
  public static func decodeMembership(from reader: inout BinaryReader) throws(RaftError) -> Membership {
    var outgoingVoters: Set<NodeID> = []
    var peek = reader
    if try peek.readVarint() == jointMembershipMarker {
      reader = peek
      outgoingVoters = try readIDs(from: &reader)
    }
    let voters = try readIDs(from: &reader)
    let learners = try readIDs(from: &reader)
    let count = try reader.readCount(minimumSize: 2)
    var attributes: [NodeID: [String: String]] = [:]
    for _ in 0..<count {
      let member = NodeID(try reader.readString())
      attributes[member] = try readAttributes(from: &reader)
    }
    let learnersToPromote = try readIDs(from: &reader)
    return Membership(
      voters: voters, learners: learners, attributes: attributes, learnersToPromote: learnersToPromote,
      outgoingVoters: outgoingVoters)
  }

  /// Marks a joint membership, whose outgoing voters come first. It cannot be the voter count that
  /// starts every other membership (no message holds 2^62 of anything), so memberships written
  /// before joint configurations existed read as they always did.
  static let jointMembershipMarker: UInt64 = 1 << 62

  /// Appends a membership change.
  public static func encode(_ change: MembershipChange, into writer: inout BinaryWriter) {
    switch change {
    case .addVoter(let member, let attributes), .addLearner(let member, let attributes):
      if case .addVoter = change { writer.write(byte: 0) } else { writer.write(byte: 1) }
      writer.write(string: member.rawValue)
      writeOptional(attributes, into: &writer) { writeAttributes($0, into: &$1) }
    case .remove(let member):
      writer.write(byte: 2)
      writer.write(string: member.rawValue)
    case .promote(let member):
      writer.write(byte: 3)
      writer.write(string: member.rawValue)
    case .demote(let member):
      writer.write(byte: 4)
      writer.write(string: member.rawValue)
    }
  }

  /// Decodes a membership change.
  public static func decodeMembershipChange(from reader: inout BinaryReader) throws(RaftError)
    -> MembershipChange
  {
    let kind = try reader.readByte()
    let member = NodeID(try reader.readString())
    switch kind {
    case 0, 1:
      let attributes = try readOptional(from: &reader) { (r: inout BinaryReader) throws(RaftError) in
        try readAttributes(from: &r)
      }
      return kind == 0
        ? .addVoter(member, attributes: attributes) : .addLearner(member, attributes: attributes)
    case 2:
      return .remove(member)
    case 3:
      return .promote(member)
    case 4:
      return .demote(member)
    default:
      throw .malformedMessage("unknown membership change kind \(kind)")
    }
  }

  // MARK: Errors

  /// Appends an error.
  public static func encode(_ error: RaftError, into writer: inout BinaryWriter) {
    switch error {
    case .noLeader(let hint):
      writer.write(byte: 0)
      writeOptional(hint, into: &writer) { $1.write(string: $0.rawValue) }
    case .notLeader(let leader):
      writer.write(byte: 1)
      writeOptional(leader, into: &writer) { $1.write(string: $0.rawValue) }
    case .overloaded(let bytes, let limit):
      writer.write(byte: 2)
      writer.write(varint: UInt64(max(bytes, 0)))
      writer.write(varint: UInt64(max(limit, 0)))
    case .membershipChangeInProgress:
      writer.write(byte: 3)
    case .membershipChangeRejected(let reason):
      writer.write(byte: 4)
      writer.write(string: reason)
    case .proposalDropped(let index):
      writer.write(byte: 5)
      writer.write(varint: index)
    case .proposalTimedOut:
      writer.write(byte: 6)
    case .invalidConfiguration(let reason):
      writer.write(byte: 7)
      writer.write(string: reason)
    case .shutdown:
      writer.write(byte: 8)
    case .stateMachineFailed(let index, let reason):
      writer.write(byte: 9)
      writer.write(varint: index)
      writer.write(string: reason)
    case .storageFailed(let reason):
      writer.write(byte: 10)
      writer.write(string: reason)
    case .cancelled:
      writer.write(byte: 11)
    case .cancelledOutcomeUnknown:
      writer.write(byte: 17)
    case .notApplied(let index, let applied):
      writer.write(byte: 18)
      writer.write(varint: index)
      writer.write(varint: applied)
    case .malformedMessage(let reason):
      writer.write(byte: 12)
      writer.write(string: reason)
    case .leadershipTransferInProgress:
      writer.write(byte: 13)
    case .leadershipTransferFailed(let reason):
      writer.write(byte: 14)
      writer.write(string: reason)
    case .snapshotsUnsupported:
      writer.write(byte: 15)
    case .proposalOutcomeUnknown(let reason):
      writer.write(byte: 16)
      writer.write(string: reason)
    }
  }

  /// Decodes an error.
  public static func decodeError(from reader: inout BinaryReader) throws(RaftError) -> RaftError {
    let kind = try reader.readByte()
    switch kind {
    case 0:
      return .noLeader(
        leaderHint: try readOptional(from: &reader) { (r: inout BinaryReader) throws(RaftError) in
          NodeID(try r.readString())
        })
    case 1:
      return .notLeader(
        leader: try readOptional(from: &reader) { (r: inout BinaryReader) throws(RaftError) in
          NodeID(try r.readString())
        })
    case 2:
      let bytes = try reader.readVarint()
      let limit = try reader.readVarint()
      return .overloaded(uncommittedBytes: Int(clamping: bytes), limit: Int(clamping: limit))
    case 3: return .membershipChangeInProgress
    case 4: return .membershipChangeRejected(try reader.readString())
    case 5: return .proposalDropped(index: try reader.readVarint())
    case 6: return .proposalTimedOut
    case 7: return .invalidConfiguration(try reader.readString())
    case 8: return .shutdown
    case 9: return .stateMachineFailed(index: try reader.readVarint(), reason: try reader.readString())
    case 10: return .storageFailed(try reader.readString())
    case 11: return .cancelled
    case 12: return .malformedMessage(try reader.readString())
    case 13: return .leadershipTransferInProgress
    case 14: return .leadershipTransferFailed(try reader.readString())
    case 15: return .snapshotsUnsupported
    case 16: return .proposalOutcomeUnknown(try reader.readString())
    case 17: return .cancelledOutcomeUnknown
    case 18: return .notApplied(index: try reader.readVarint(), applied: try reader.readVarint())
    default: throw .malformedMessage("unknown error kind \(kind)")
    }
  }

  // MARK: Helpers

  private static func writeOptional<Value>(
    _ value: Value?, into writer: inout BinaryWriter, _ write: (Value, inout BinaryWriter) -> Void
  ) {
    if let value {
      writer.write(byte: 1)
      write(value, &writer)
    } else {
      writer.write(byte: 0)
    }
  }

  private static func readOptional<Value>(
    from reader: inout BinaryReader, _ read: (inout BinaryReader) throws(RaftError) -> Value
  ) throws(RaftError) -> Value? {
    switch try reader.readByte() {
    case 0: return nil
    case 1: return try read(&reader)
    case let other: throw .malformedMessage("invalid optional marker \(other)")
    }
  }

  private static func writeIDs(_ ids: Set<NodeID>, into writer: inout BinaryWriter) {
    writer.write(varint: UInt64(ids.count))
    for id in ids.sorted() { writer.write(string: id.rawValue) }
  }

  private static func readIDs(from reader: inout BinaryReader) throws(RaftError) -> Set<NodeID> {
    let count = try reader.readCount()
    var ids = Set<NodeID>(minimumCapacity: count)
    for _ in 0..<count { ids.insert(NodeID(try reader.readString())) }
    return ids
  }

  private static func writeAttributes(_ attributes: [String: String], into writer: inout BinaryWriter) {
    writer.write(varint: UInt64(attributes.count))
    for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
      writer.write(string: key)
      writer.write(string: value)
    }
  }

  private static func readAttributes(from reader: inout BinaryReader) throws(RaftError) -> [String: String] {
    let count = try reader.readCount(minimumSize: 2)
    var attributes: [String: String] = [:]
    for _ in 0..<count {
      let key = try reader.readString()
      attributes[key] = try reader.readString()
    }
    return attributes
  }
}
