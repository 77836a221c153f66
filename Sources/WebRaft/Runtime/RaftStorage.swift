#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Where a node keeps its term, vote, log and snapshot (the seed's persistence layer).
///
/// The contract, which every storage must keep and ``RaftNode`` relies on:
/// - ``persist(hardState:entries:)`` is durable when it returns: after a crash, ``load()`` returns
///   the hard state and entries it stored. A crash never leaves a later batch stored while an
///   earlier one is lost.
/// - Storing an entry at index `i` first removes every stored entry at `i` or later (a conflicting
///   suffix the leader replaced).
/// - A snapshot becomes current only when its writer's ``RaftSnapshotWriter/commit()`` returns;
///   it then removes the stored entries it covers (see there). A crash at any point leaves either
///   the old or the new snapshot, each with a loadable log.
/// - Calls are never concurrent for one node, except that a snapshot may be written or read while
///   entries are persisted.
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
  ///
  /// The requirement is `nonisolated(nonsending)`: an implementation marked the same way runs on
  /// the node's own executor and must then not block it (WebRaftFileStorage's `FileStorage`
  /// waits for its own I/O queue); one without the mark runs where Swift puts it.
  nonisolated(nonsending) func persist(hardState: HardState?, entries: [LogEntry]) async throws

  /// Starts writing a snapshot described by `metadata`; nothing changes until the writer commits.
  func beginSnapshot(_ metadata: SnapshotMetadata) async throws -> any RaftSnapshotWriter

  /// Opens the current snapshot for reading, or returns nil when there is none yet. The reader
  /// stays valid even if a newer snapshot is committed while it is open.
  func openSnapshot() async throws -> (any RaftSnapshotReader)?
}

/// Writes one snapshot into a storage, chunk by chunk, so that a large state never sits in memory.
public protocol RaftSnapshotWriter: AnyObject, Sendable {
  /// Appends bytes to the snapshot.
  func write(_ chunk: Data) async throws

  /// Makes the bytes written so far durable without making the snapshot current, so that the
  /// slow part of a commit (syncing a large file) can run in the background. ``commit()`` must
  /// still be called; it may then skip that work. The default does nothing.
  func prepareCommit() async throws

  /// Makes the snapshot durable and current. Stored entries up to its index are removed; if the
  /// stored entry at its index does not have its term, every stored entry is removed (the log
  /// conflicted with the snapshot).
  func commit() async throws

  /// Discards the snapshot being written.
  func abort() async
}

extension RaftSnapshotWriter {
  /// Does nothing: ``RaftSnapshotWriter/commit()`` does all the work.
  public func prepareCommit() async throws {}
}

/// Reads a stored snapshot in chunks.
public protocol RaftSnapshotReader: Sendable {
  /// What the snapshot covers.
  var metadata: SnapshotMetadata { get }
  /// Its size in bytes.
  var size: UInt64 { get }
  /// Reads up to `maxLength` bytes at `offset` (fewer only at the end).
  func read(at offset: UInt64, maxLength: Int) async throws -> Data
}
