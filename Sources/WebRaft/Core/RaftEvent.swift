/// The role a node plays in its current term.
public enum RaftRole: String, Hashable, Sendable, Codable, CustomStringConvertible {
  /// Follows a leader and answers its appends and others' vote requests.
  case follower
  /// Asks the others whether it could win an election, before changing anything (pre-vote).
  case preCandidate
  /// Campaigns for leadership in a new term.
  case candidate
  /// Leads the cluster: takes proposals and replicates the log.
  case leader

  /// The role's name.
  public var description: String { rawValue }
}

/// Something that happened on a node: every event of the seed, plus a few more.
///
/// Observe events as an `AsyncSequence` (``RaftNode/events``) or with ``RaftNode/listen(_:_:)``.
public enum RaftEvent: Hashable, Sendable {
  /// A node became a member of the cluster (the seed's `join`).
  case join(NodeID)
  /// A node stopped being a member (the seed's `leave`).
  case leave(NodeID)
  /// This node became leader of `term` (the seed's `leader`).
  case leader(term: UInt64)
  /// This node became a candidate in `term` (the seed's `candidate`).
  case candidate(term: UInt64)
  /// This node became a follower in `term` (the seed's `follower`).
  case follower(term: UInt64, leader: NodeID?)
  /// This node's role changed (the seed's `state changed`).
  case stateChanged(from: RaftRole, to: RaftRole)
  /// The leader was not heard from within the heartbeat timeout (the seed's `heartbeat timeout`).
  case heartbeatTimeout
  /// This node started an election, or a pre-vote (the seed's `start election`).
  case startElection(term: UInt64, preVote: Bool)
  /// An entry is being handed to the state machine (the seed's `apply`).
  case apply(LogEntry)
  /// The state machine applied everything up to `index` (the seed's `updated`).
  case updated(index: UInt64)
  /// The state machine was restored from a snapshot that ends at (`term`, `index`) (the seed's
  /// `refresh`).
  case refresh(term: UInt64, index: UInt64)
  /// This node's term changed.
  case termChanged(UInt64)
  /// The leader this node knows changed (nil: none known).
  case leaderChanged(NodeID?)
  /// The membership in force on this node changed (it takes effect when appended).
  case membershipChanged(Membership)
  /// This node applied a membership: a committed membership entry, or the membership of a
  /// snapshot installed from the leader.
  ///
  /// Unlike ``membershipChanged(_:)``, which follows the latest entry in the log, committed or not,
  /// this follows what the cluster agreed on. A member that the latest entry removes must stay
  /// reachable until it has learned that its removal committed (a leader that removes itself
  /// commits the entry, then hands leadership over), so connections and allow-lists should drop
  /// a member on this event, not on ``membershipChanged(_:)``.
  case membershipCommitted(Membership)

  /// The kind of an event, with the seed's event names as raw values.
  public enum Kind: String, Hashable, Sendable, CaseIterable {
    /// See ``RaftEvent/join(_:)``.
    case join = "join"
    /// See ``RaftEvent/leave(_:)``.
    case leave = "leave"
    /// See ``RaftEvent/leader(term:)``.
    case leader = "leader"
    /// See ``RaftEvent/candidate(term:)``.
    case candidate = "candidate"
    /// See ``RaftEvent/follower(term:leader:)``.
    case follower = "follower"
    /// See ``RaftEvent/stateChanged(from:to:)``.
    case stateChanged = "state changed"
    /// See ``RaftEvent/heartbeatTimeout``.
    case heartbeatTimeout = "heartbeat timeout"
    /// See ``RaftEvent/startElection(term:preVote:)``.
    case startElection = "start election"
    /// See ``RaftEvent/apply(_:)``.
    case apply = "apply"
    /// See ``RaftEvent/updated(index:)``.
    case updated = "updated"
    /// See ``RaftEvent/refresh(term:index:)``.
    case refresh = "refresh"
    /// See ``RaftEvent/termChanged(_:)``.
    case termChanged = "term changed"
    /// See ``RaftEvent/leaderChanged(_:)``.
    case leaderChanged = "leader changed"
    /// See ``RaftEvent/membershipChanged(_:)``.
    case membershipChanged = "membership changed"
    /// See ``RaftEvent/membershipCommitted(_:)``.
    case membershipCommitted = "membership committed"
  }

  /// The kind of this event.
  public var kind: Kind {
    switch self {
    case .join: return .join
    case .leave: return .leave
    case .leader: return .leader
    case .candidate: return .candidate
    case .follower: return .follower
    case .stateChanged: return .stateChanged
    case .heartbeatTimeout: return .heartbeatTimeout
    case .startElection: return .startElection
    case .apply: return .apply
    case .updated: return .updated
    case .refresh: return .refresh
    case .termChanged: return .termChanged
    case .leaderChanged: return .leaderChanged
    case .membershipChanged: return .membershipChanged
    case .membershipCommitted: return .membershipCommitted
    }
  }
}
