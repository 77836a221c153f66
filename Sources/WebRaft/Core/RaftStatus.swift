/// A node's state at one moment, for status pages, dashboards and tests.
public struct RaftStatus: Hashable, Sendable, Codable {
  /// This node's identity.
  public var id: NodeID
  /// Its role.
  public var role: RaftRole
  /// Its current term.
  public var term: UInt64
  /// The leader it knows, if any.
  public var leader: NodeID?
  /// Whom it voted for in `term`.
  public var votedFor: NodeID?
  /// The highest index known to be committed.
  public var commitIndex: UInt64
  /// The highest index handed to the state machine.
  public var appliedIndex: UInt64
  /// The index of its last log entry.
  public var lastIndex: UInt64
  /// The index its log starts after.
  public var snapshotIndex: UInt64
  /// The membership in force on this node.
  public var membership: Membership
  /// On a leader, what it knows of each other member.
  public var followers: [NodeID: Follower]

  /// What a leader knows of one follower.
  public struct Follower: Hashable, Sendable, Codable {
    /// The highest index known to be stored on the follower.
    public var matchIndex: UInt64
    /// The next index the leader will send.
    public var nextIndex: UInt64
    /// How the leader sends to it: `probe` (finding where the logs match), `replicate`
    /// (pipelining appends) or `snapshot` (sending a snapshot).
    public var state: String
    /// Appends sent and not yet acknowledged.
    public var inflight: Int
  }
}
