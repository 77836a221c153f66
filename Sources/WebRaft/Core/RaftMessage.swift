#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A message between two Raft nodes (the seed's "JSON-serializable object").
///
/// Every message is `Codable`, so a transport may send it as JSON; WebRaft's own transports use a
/// compact binary form. Messages may be lost, duplicated, delayed or reordered: the protocol is
/// correct regardless.
public struct RaftMessage: Hashable, Sendable, Codable {
  /// The sender.
  public var from: NodeID
  /// The receiver.
  public var to: NodeID
  /// The sender's current term (for a pre-vote request: the term it would campaign in).
  public var term: UInt64
  /// What the message says.
  public var body: Body

  /// Creates a message.
  public init(from: NodeID, to: NodeID, term: UInt64, body: Body) {
    self.from = from
    self.to = to
    self.term = term
    self.body = body
  }

  /// The kinds of message.
  public enum Body: Hashable, Sendable, Codable {
    /// A candidate asks for a vote, or a pre-candidate asks whether it could win.
    case voteRequest(VoteRequest)
    /// The answer to a vote request.
    case voteResponse(VoteResponse)
    /// The leader sends entries (possibly none) with the consistency check (RPC AppendEntries).
    case appendEntries(AppendEntries)
    /// The answer to an append.
    case appendEntriesResponse(AppendEntriesResponse)
    /// The leader asserts its leadership and tells a follower how far it may commit.
    case heartbeat(Heartbeat)
    /// The answer to a heartbeat.
    case heartbeatResponse(HeartbeatResponse)
    /// The leader sends a chunk of its snapshot to a follower whose log is behind its compacted
    /// log (RPC InstallSnapshot).
    case installSnapshot(InstallSnapshot)
    /// The answer to a snapshot chunk.
    case installSnapshotResponse(InstallSnapshotResponse)
    /// The leader asks the target of a leadership transfer to start an election at once.
    case timeoutNow
    /// A follower asks the leader for a read index (linearizable reads on followers).
    case readIndex(ReadIndexRequest)
    /// The leader's answer to a read-index request.
    case readIndexResponse(ReadIndexResponse)
    /// A follower forwards a proposal to the leader (the seed forwards proposals too).
    case proposal(ForwardedProposal)
    /// The leader could not take a forwarded proposal.
    case proposalRejected(ProposalRejection)
  }

  /// The kind of a message as a short name, for logs and metrics.
  public var kindName: String {
    switch body {
    case .voteRequest(let request): return request.preVote ? "preVote" : "vote"
    case .voteResponse(let response): return response.preVote ? "preVoteResponse" : "voteResponse"
    case .appendEntries: return "append"
    case .appendEntriesResponse: return "appendResponse"
    case .heartbeat: return "heartbeat"
    case .heartbeatResponse: return "heartbeatResponse"
    case .installSnapshot: return "installSnapshot"
    case .installSnapshotResponse: return "installSnapshotResponse"
    case .timeoutNow: return "timeoutNow"
    case .readIndex: return "readIndex"
    case .readIndexResponse: return "readIndexResponse"
    case .proposal: return "proposal"
    case .proposalRejected: return "proposalRejected"
    }
  }
}

/// A vote request (RequestVote RPC), or a pre-vote request.
public struct VoteRequest: Hashable, Sendable, Codable {
  /// Whether this is a pre-vote: nobody changes term or records a vote for it.
  public var preVote: Bool
  /// The index of the candidate's last log entry.
  public var lastLogIndex: UInt64
  /// The term of the candidate's last log entry.
  public var lastLogTerm: UInt64
  /// Whether the leader handed leadership to the candidate (leadership transfer): voters answer
  /// even though they heard from that leader recently.
  public var leadershipTransfer: Bool

  /// Creates a vote request.
  public init(preVote: Bool, lastLogIndex: UInt64, lastLogTerm: UInt64, leadershipTransfer: Bool = false) {
    self.preVote = preVote
    self.lastLogIndex = lastLogIndex
    self.lastLogTerm = lastLogTerm
    self.leadershipTransfer = leadershipTransfer
  }
}

/// The answer to a vote request.
public struct VoteResponse: Hashable, Sendable, Codable {
  /// Whether this answers a pre-vote.
  public var preVote: Bool
  /// Whether the vote was granted.
  public var granted: Bool

  /// Creates a vote response.
  public init(preVote: Bool, granted: Bool) {
    self.preVote = preVote
    self.granted = granted
  }
}

/// Entries sent by the leader (AppendEntries RPC).
public struct AppendEntries: Hashable, Sendable, Codable {
  /// The index of the entry just before `entries`.
  public var prevLogIndex: UInt64
  /// The term of the entry at `prevLogIndex`.
  public var prevLogTerm: UInt64
  /// The entries to store; empty for a pure probe.
  public var entries: [LogEntry]
  /// The leader's commit index.
  public var leaderCommit: UInt64

  /// Creates an append.
  public init(prevLogIndex: UInt64, prevLogTerm: UInt64, entries: [LogEntry], leaderCommit: UInt64) {
    self.prevLogIndex = prevLogIndex
    self.prevLogTerm = prevLogTerm
    self.entries = entries
    self.leaderCommit = leaderCommit
  }
}

/// The answer to an append.
public struct AppendEntriesResponse: Hashable, Sendable, Codable {
  /// Whether the consistency check passed and the entries are stored.
  public var success: Bool
  /// On success, the index of the last entry known to match the leader's log; on rejection, the
  /// `prevLogIndex` that failed the check.
  public var index: UInt64
  /// On rejection, the term of the follower's entry at `index`, if it has one (fast backtracking).
  public var conflictTerm: UInt64?
  /// On rejection, the first index of `conflictTerm` in the follower's log, or the follower's last
  /// index + 1 when its log is too short: where the leader should look next.
  public var conflictIndex: UInt64

  /// Creates an append response.
  public init(success: Bool, index: UInt64, conflictTerm: UInt64? = nil, conflictIndex: UInt64 = 0) {
    self.success = success
    self.index = index
    self.conflictTerm = conflictTerm
    self.conflictIndex = conflictIndex
  }
}

/// A heartbeat from the leader.
public struct Heartbeat: Hashable, Sendable, Codable {
  /// How far the follower may commit: the leader's commit index, capped at what the leader knows
  /// the follower holds.
  public var commit: UInt64
  /// The leader's read round, echoed in the answer so that the leader knows the follower still
  /// followed it after a read began (ReadIndex).
  public var readRound: UInt64

  /// Creates a heartbeat.
  public init(commit: UInt64, readRound: UInt64 = 0) {
    self.commit = commit
    self.readRound = readRound
  }
}

/// The answer to a heartbeat.
public struct HeartbeatResponse: Hashable, Sendable, Codable {
  /// The `readRound` of the heartbeat answered.
  public var readRound: UInt64

  /// Creates a heartbeat answer.
  public init(readRound: UInt64 = 0) {
    self.readRound = readRound
  }
}

/// One chunk of a snapshot sent by the leader.
public struct InstallSnapshot: Hashable, Sendable, Codable {
  /// The snapshot the chunk belongs to.
  public var metadata: SnapshotMetadata
  /// The snapshot's total size in bytes.
  public var totalSize: UInt64
  /// Where the chunk starts in the snapshot.
  public var offset: UInt64
  /// The chunk's bytes.
  public var data: Data
  /// Whether this is the last chunk.
  public var done: Bool

  /// Creates a snapshot chunk.
  public init(metadata: SnapshotMetadata, totalSize: UInt64, offset: UInt64, data: Data, done: Bool) {
    self.metadata = metadata
    self.totalSize = totalSize
    self.offset = offset
    self.data = data
    self.done = done
  }
}

/// The answer to a snapshot chunk.
public struct InstallSnapshotResponse: Hashable, Sendable, Codable {
  /// The index of the snapshot being installed.
  public var snapshotIndex: UInt64
  /// The offset the follower expects next (the leader resumes there after a lost chunk).
  public var nextOffset: UInt64
  /// Whether the whole snapshot is installed.
  public var done: Bool

  /// Creates a snapshot answer.
  public init(snapshotIndex: UInt64, nextOffset: UInt64, done: Bool) {
    self.snapshotIndex = snapshotIndex
    self.nextOffset = nextOffset
    self.done = done
  }
}

/// A follower's request for a read index.
public struct ReadIndexRequest: Hashable, Sendable, Codable {
  /// The follower's identifier for the read.
  public var requestID: UInt64

  /// Creates a read-index request.
  public init(requestID: UInt64) {
    self.requestID = requestID
  }
}

/// The leader's answer to a read-index request.
public struct ReadIndexResponse: Hashable, Sendable, Codable {
  /// The follower's identifier for the read.
  public var requestID: UInt64
  /// The index the follower must have applied before it serves the read, or nil on failure.
  public var index: UInt64?
  /// Why the read failed, when `index` is nil.
  public var error: RaftError?

  /// Creates a read-index answer.
  public init(requestID: UInt64, index: UInt64?, error: RaftError?) {
    self.requestID = requestID
    self.index = index
    self.error = error
  }
}

/// A proposal forwarded from a follower to the leader.
public struct ForwardedProposal: Hashable, Sendable, Codable {
  /// The follower's identifier for the proposal.
  public var requestID: UInt64
  /// What to append.
  public var request: Request

  /// Creates a forwarded proposal.
  public init(requestID: UInt64, request: Request) {
    self.requestID = requestID
    self.request = request
  }

  /// What a follower asks the leader to append.
  public enum Request: Hashable, Sendable, Codable {
    /// A command for the state machine.
    case command(Data)
    /// A membership change.
    case membershipChange(MembershipChange)
    /// Several membership changes made together (a joint change when more than one voter comes
    /// or goes).
    case membershipChanges([MembershipChange])
  }
}

/// The leader's refusal of a forwarded proposal.
public struct ProposalRejection: Hashable, Sendable, Codable {
  /// The follower's identifier for the proposal.
  public var requestID: UInt64
  /// Why it was refused.
  public var error: RaftError

  /// Creates a rejection.
  public init(requestID: UInt64, error: RaftError) {
    self.requestID = requestID
    self.error = error
  }
}

extension RaftMessage {
  /// Decodes a message from the JSON form that `JSONEncoder` produces.
  ///
  /// - Throws: ``RaftError/malformedMessage(_:)`` when the bytes are not a valid message.
  public static func decodeJSON(_ bytes: Data) throws(RaftError) -> RaftMessage {
    do {
      return try JSONDecoder().decode(RaftMessage.self, from: bytes)
    } catch {
      throw .malformedMessage("not a JSON Raft message (\(bytes.count) bytes): \(error)")
    }
  }

  /// Encodes the message as JSON.
  public func encodeJSON() -> Data {
    // Every field is a plain value: encoding cannot fail.
    (try? JSONEncoder().encode(self)) ?? Data()
  }
}
