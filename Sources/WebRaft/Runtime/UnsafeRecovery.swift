/// Recovery from a lost quorum: makes one surviving node's stored log name a new set of voters, so
/// that the node can be started as the leader of a smaller cluster and new nodes added to it.
///
/// **This breaks Raft's guarantees and is meant for disasters only**: use it when a majority of
/// the voters is lost for good (machines and disks gone) and the cluster cannot make progress.
/// The survivor's log becomes the truth. Entries that a lost majority committed but that never
/// reached the survivor are lost; entries the survivor holds that were never committed (and whose
/// clients may have been told they failed or timed out) become committed. If a lost node comes
/// back with its old data, it must not rejoin with it: remove it and add it again with an empty
/// directory. Stop the node before you call it (a running node would overwrite what it stores),
/// and recover one survivor only — two recovered survivors would be two clusters.
///
/// It works on any ``RaftStorage``, from the node's own data: it appends a configuration entry
/// with the new voters after the last stored entry, in a term one above any the node has seen,
/// and stores that term with no vote. The configuration in force is the last configuration entry
/// in the log, so the node starts with the new voters; when they are the node alone, it elects
/// itself and commits its whole log. When a later snapshot covers the entry, the snapshot's
/// metadata carries the new configuration.
public enum UnsafeRecovery {
  /// What ``forceConfiguration(of:node:voters:)`` did.
  public struct Outcome: Hashable, Sendable {
    /// The configuration in force before.
    public var previousMembership: Membership
    /// The configuration now in force.
    public var membership: Membership
    /// The index of the configuration entry it appended.
    public var index: UInt64
    /// The term of that entry, now the node's stored term.
    public var term: UInt64
    /// The commit index the node had stored (a hint: at least this much was committed).
    public var storedCommitIndex: UInt64
    /// The index of the last entry before the recovery.
    public var previousLastIndex: UInt64

    /// Creates an outcome.
    public init(
      previousMembership: Membership, membership: Membership, index: UInt64, term: UInt64,
      storedCommitIndex: UInt64, previousLastIndex: UInt64
    ) {
      self.previousMembership = previousMembership
      self.membership = membership
      self.index = index
      self.term = term
      self.storedCommitIndex = storedCommitIndex
      self.previousLastIndex = previousLastIndex
    }

    /// The entries after the stored commit index that the new configuration will commit, though
    /// the old cluster may never have committed them.
    public var entriesPossiblyUncommitted: UInt64 {
      previousLastIndex > storedCommitIndex ? previousLastIndex - storedCommitIndex : 0
    }
  }

  /// Why the recovery was not done; nothing was changed.
  public enum Failure: Error, Hashable, Sendable, CustomStringConvertible {
    /// The storage holds no state: the node never ran, there is nothing to recover.
    case nothingStored
    /// The new voters do not include the node whose storage this is, which then could not lead.
    case nodeNotAVoter(node: NodeID, voters: Set<NodeID>)

    /// A sentence that says what went wrong and what to do.
    public var description: String {
      switch self {
      case .nothingStored:
        return
          "the storage holds no Raft state: this node never ran, so there is nothing to recover; "
          + "recover a node that holds the cluster's data"
      case .nodeNotAVoter(let node, let voters):
        let names = voters.map(\.rawValue).sorted().joined(separator: ", ")
        return
          "the new voters (\(names)) must include the recovered node \(node), which is the only "
          + "one that can lead the new configuration"
      }
    }
  }

  /// Rewrites `node`'s stored configuration to `voters` (by default `node` alone). See
  /// ``UnsafeRecovery`` for what it does and what it may lose.
  ///
  /// The new configuration keeps the stored attributes of the voters it keeps; it has no
  /// learners. Call it on a storage that no running node uses.
  ///
  /// - Throws: ``Failure`` when nothing is stored or `voters` leaves `node` out; what the storage
  ///   throws.
  @discardableResult
  public static func forceConfiguration(
    of storage: some RaftStorage, node: NodeID, voters: Set<NodeID>? = nil
  ) async throws -> Outcome {
    let voters = voters ?? [node]
    guard voters.contains(node) else { throw Failure.nodeNotAVoter(node: node, voters: voters) }
    guard let stored = try await storage.load() else { throw Failure.nothingStored }
    var previous = stored.snapshot.membership
    for entry in stored.entries {
      if case .membership(let membership) = entry.payload { previous = membership }
    }
    let lastIndex = stored.entries.last?.index ?? stored.snapshot.index
    let lastTerm = stored.entries.last?.term ?? stored.snapshot.term
    let term = max(stored.hardState.term, lastTerm) + 1
    var attributes: [NodeID: [String: String]] = [:]
    for voter in voters { attributes[voter] = previous.attributes[voter] }
    let membership = Membership(voters: voters, attributes: attributes)
    let entry = LogEntry(index: lastIndex + 1, term: term, payload: .membership(membership))
    let hardState = HardState(term: term, votedFor: nil, commitIndex: stored.hardState.commitIndex)
    try await storage.persist(hardState: hardState, entries: [entry])
    return Outcome(
      previousMembership: previous, membership: membership, index: entry.index, term: term,
      storedCommitIndex: max(stored.hardState.commitIndex, stored.snapshot.index),
      previousLastIndex: lastIndex)
  }
}
