#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The user's replicated state machine (the seed's `apply` and `refresh` handlers).
///
/// Every node applies every committed command exactly once, in index order. The node waits for
/// each call to return before the next (the seed's callback). A thrown error stops the node from
/// applying anything further — it never skips an entry — and is reported by
/// ``RaftError/stateMachineFailed(index:reason:)``.
///
/// The node applies in a task of its own, apart from replication: while a slow `apply` runs, the
/// node goes on storing and replicating entries, voting and sending heartbeats, and up to
/// ``RaftConfiguration/maxApplyingEntries`` committed entries queue for the state machine.
/// ``makeSnapshot()`` and ``restore(from:)`` are called only while no `apply` runs.
///
/// Snapshots let the node compact its log and catch up followers that fell behind it. Implement
/// ``makeSnapshot()`` and ``restore(from:)``; without them the log grows without bound (the
/// default implementations throw ``RaftError/snapshotsUnsupported`` and the node logs it once).
public protocol RaftStateMachine: Sendable {
  /// What applying a command returns to the proposer.
  associatedtype Output: Sendable

  /// Applies the command of the committed entry at `index`, created in `term`.
  ///
  /// The requirement is `nonisolated(nonsending)`: an implementation marked the same way runs in
  /// the node's applier task, without an executor switch per command. An actor, or an
  /// implementation without the mark, works too and runs where Swift puts it.
  nonisolated(nonsending) func apply(_ command: Data, index: UInt64, term: UInt64) async throws -> Output

  /// Captures the state as it is now (after the last applied entry), cheaply: the node does not
  /// apply anything while this runs, but it writes the returned value out in the background while
  /// it goes on applying, so the capture must not change afterwards (copy-on-write values are
  /// ideal).
  func makeSnapshot() async throws -> any RaftStateSnapshot

  /// Replaces the whole state with the snapshot's (the seed's `refresh`): called when a follower
  /// receives a snapshot from the leader, and on start when storage holds a snapshot.
  func restore(from snapshot: any RaftSnapshotReader) async throws
}

extension RaftStateMachine {
  /// Snapshots are not supported unless the state machine implements them.
  public func makeSnapshot() async throws -> any RaftStateSnapshot {
    throw RaftError.snapshotsUnsupported
  }

  /// Snapshots are not supported unless the state machine implements them.
  public func restore(from snapshot: any RaftSnapshotReader) async throws {
    throw RaftError.snapshotsUnsupported
  }
}

/// A captured state machine state, written out chunk by chunk.
public protocol RaftStateSnapshot: Sendable {
  /// Writes the state into `writer` (call ``RaftSnapshotWriter/write(_:)`` as often as needed;
  /// do not commit).
  func write(to writer: any RaftSnapshotWriter) async throws
}

/// A snapshot held as one byte string, for state machines small enough to serialize at once.
public struct DataSnapshot: RaftStateSnapshot {
  /// The serialized state.
  public let data: Data
  /// How many bytes are written per chunk.
  public let chunkSize: Int

  /// Creates a snapshot of `data`.
  public init(_ data: Data, chunkSize: Int = 1 << 20) {
    self.data = data
    self.chunkSize = max(1, chunkSize)
  }

  /// Writes the bytes in chunks.
  public func write(to writer: any RaftSnapshotWriter) async throws {
    var offset = data.startIndex
    while offset < data.endIndex {
      let end = min(data.endIndex, offset + chunkSize)
      try await writer.write(data.subdata(in: offset..<end))
      offset = end
    }
  }
}

extension RaftSnapshotReader {
  /// Reads the whole snapshot into memory, in chunks of `chunkSize` bytes.
  public func readAll(chunkSize: Int = 1 << 20) async throws -> Data {
    var result = Data()
    var offset: UInt64 = 0
    while offset < size {
      let chunk = try await read(at: offset, maxLength: max(1, chunkSize))
      if chunk.isEmpty { break }
      result.append(chunk)
      offset += UInt64(chunk.count)
    }
    return result
  }
}
