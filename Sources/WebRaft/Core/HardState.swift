/// The state a node must keep on stable storage before it answers anyone (Raft Figure 2,
/// "Persistent state on all servers"), plus the commit index as a hint for restarts.
public struct HardState: Hashable, Sendable, Codable {
  /// The latest term the node has seen. It never decreases.
  public var term: UInt64
  /// The candidate the node voted for in `term`, if any. At most one vote per term.
  public var votedFor: NodeID?
  /// The highest log index known to be committed when the state was written. Only a hint: a
  /// restarted node may apply up to it before it hears from a leader. The core hands it out for
  /// storing along with entries or a new term or vote, never on its own, so it may lag.
  public var commitIndex: UInt64

  /// Creates a hard state.
  public init(term: UInt64 = 0, votedFor: NodeID? = nil, commitIndex: UInt64 = 0) {
    self.term = term
    self.votedFor = votedFor
    self.commitIndex = commitIndex
  }
}

/// Describes the snapshot that the stored log starts after: the log holds entries from
/// `index + 1` on, and `membership` is the membership in force at `index`.
///
/// A node that never took a snapshot has a snapshot metadata at index 0 that holds its bootstrap
/// membership.
public struct SnapshotMetadata: Hashable, Sendable, Codable {
  /// The last log index the snapshot covers.
  public var index: UInt64
  /// The term of the entry at `index`.
  public var term: UInt64
  /// The membership in force at `index`.
  public var membership: Membership

  /// Creates snapshot metadata.
  public init(index: UInt64, term: UInt64, membership: Membership) {
    self.index = index
    self.term = term
    self.membership = membership
  }
}

/// Everything a node reads back from storage when it starts.
public struct PersistentState: Hashable, Sendable, Codable {
  /// The stored term, vote and commit hint.
  public var hardState: HardState
  /// Where the stored log starts, and the membership at that point.
  public var snapshot: SnapshotMetadata
  /// The stored log entries after `snapshot.index`, in index order and without gaps.
  public var entries: [LogEntry]

  /// Creates a persistent state.
  public init(hardState: HardState, snapshot: SnapshotMetadata, entries: [LogEntry]) {
    self.hardState = hardState
    self.snapshot = snapshot
    self.entries = entries
  }

  /// The state of a node that has never run, with its bootstrap membership.
  public static func initial(membership: Membership) -> PersistentState {
    PersistentState(
      hardState: HardState(),
      snapshot: SnapshotMetadata(index: 0, term: 0, membership: membership),
      entries: []
    )
  }

  /// Whether nothing has been stored yet.
  public var isEmpty: Bool {
    hardState == HardState() && snapshot.index == 0 && entries.isEmpty
  }
}
