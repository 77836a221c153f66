/// Where a node keeps its term, vote and log (the seed's persistence layer).
///
/// The contract, which every storage must keep and ``RaftNode`` relies on:
/// - ``persist(hardState:entries:)`` is durable when it returns: after a crash, ``load()`` returns
///   the hard state and entries it stored. It is atomic enough that a crash never leaves a later
///   batch stored while an earlier one is lost.
/// - Storing an entry at index `i` first removes every stored entry at `i` or later (a conflicting
///   suffix the leader replaced).
/// - Calls are never concurrent for one node: the node waits for each to return.
/// - ``load()`` returns entries in index order without gaps, starting right after the snapshot.
///
/// `WebRaftTesting` ships a conformance suite that checks a storage against this contract.
public protocol RaftStorage: Sendable {
  /// Reads back everything stored, or nil when nothing was ever stored (a new node).
  func load() async throws -> PersistentState?

  /// Writes the state of a node that has never run: its bootstrap membership as a snapshot at
  /// index 0, with no entries. Called once, before anything else is stored.
  func initialize(_ state: PersistentState) async throws

  /// Stores the hard state (when not nil) and the entries, durably, as one batch.
  func persist(hardState: HardState?, entries: [LogEntry]) async throws
}
