#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// One entry of the replicated log.
///
/// Entries are created by the leader and never change once written: the pair (`index`, `term`)
/// identifies an entry across the whole cluster (the Log Matching property).
public struct LogEntry: Hashable, Sendable, Codable {
  /// The position of the entry in the log, starting at 1.
  public var index: UInt64
  /// The term of the leader that created the entry.
  public var term: UInt64
  /// What the entry carries.
  public var payload: Payload
  /// Who proposed the entry when it was forwarded from a follower, so that the follower can
  /// recognise its own proposal when it applies it. `nil` for entries proposed on the leader.
  public var origin: ProposalOrigin?

  /// Creates an entry.
  public init(index: UInt64, term: UInt64, payload: Payload, origin: ProposalOrigin? = nil) {
    self.index = index
    self.term = term
    self.payload = payload
    self.origin = origin
  }

  /// What a log entry carries.
  public enum Payload: Hashable, Sendable, Codable {
    /// A command for the user's state machine (the seed's `entry.command`).
    case command(Data)
    /// The empty entry a new leader appends at the start of its term (Raft §8).
    case noop
    /// A new cluster membership; it takes effect on every node as soon as it is appended.
    case membership(Membership)
  }

  /// The number of payload bytes, used for flow control and memory limits.
  public var byteCount: Int {
    switch payload {
    case .command(let data): return data.count + 24
    case .noop: return 24
    case .membership(let membership): return 24 + 32 * membership.members.count
    }
  }
}

/// Identifies a proposal that a follower forwarded to the leader.
public struct ProposalOrigin: Hashable, Sendable, Codable {
  /// The node the proposal was made on.
  public var node: NodeID
  /// The proposing node's identifier for the proposal.
  public var requestID: UInt64

  /// Creates an origin.
  public init(node: NodeID, requestID: UInt64) {
    self.node = node
    self.requestID = requestID
  }
}
