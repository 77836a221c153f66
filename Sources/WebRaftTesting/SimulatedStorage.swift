#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The durable storage of one simulated node: what survives a crash.
///
/// The simulator writes a ``Ready``'s hard state and entries here only once its simulated disk
/// delay has passed; a node that crashes before that loses the write, as a real node loses writes
/// that were not synced.
public struct SimulatedStorage: Hashable, Sendable {
  /// What a restarted node reads back.
  public private(set) var state: PersistentState
  /// The bytes of the snapshot the log starts after (empty before the first snapshot).
  public private(set) var snapshotData = Data()
  /// The number of durable writes so far.
  public private(set) var writeCount = 0

  /// Creates the storage of a node that has never run, with its bootstrap membership.
  public init(membership: Membership) {
    self.state = .initial(membership: membership)
  }

  /// Writes a batch durably: the hard state if given, then `entries`, replacing any stored entry
  /// at or after the first one's index (the Ready contract).
  ///
  /// - Returns: nil on success, or why the batch breaks the storage contract (it would leave a
  ///   gap in the log).
  public mutating func write(hardState: HardState?, entries: [LogEntry]) -> String? {
    writeCount += 1
    if let hardState {
      state.hardState = hardState
    }
    guard let first = entries.first else { return nil }
    let base = state.snapshot.index
    guard first.index > base else {
      return "a write starts at index \(first.index), inside the snapshot ending at \(base)"
    }
    let keep = Int(first.index - base - 1)
    guard keep <= state.entries.count else {
      return
        "a write starts at index \(first.index) but the stored log ends at \(base + UInt64(state.entries.count))"
    }
    state.entries.removeSubrange(keep...)
    var expected = first.index
    for entry in entries {
      if entry.index != expected {
        return "a write is not contiguous: expected index \(expected), found \(entry.index)"
      }
      expected += 1
    }
    state.entries.append(contentsOf: entries)
    return nil
  }

  /// Makes a snapshot durable and current, as a snapshot writer's commit does: stored entries up to
  /// its index are removed, and the whole log when the entry at its index differs (a snapshot from
  /// the leader that replaces a conflicting log). An older snapshot than the current one is ignored.
  public mutating func commitSnapshot(_ metadata: SnapshotMetadata, data: Data) {
    writeCount += 1
    let base = state.snapshot.index
    guard metadata.index > base else { return }
    let position = Int(metadata.index - base) - 1
    if position < state.entries.count, state.entries[position].term == metadata.term {
      state.entries.removeFirst(position + 1)
    } else {
      state.entries.removeAll()
    }
    state.snapshot = metadata
    state.hardState.commitIndex = max(state.hardState.commitIndex, metadata.index)
    snapshotData = data
  }
}

/// A change to the durable storage of one simulated node, as ``ClusterSimulator/storageObserver``
/// reports it: a test can replay a node's writes, in order, into a real storage and compare what
/// that storage recovers after a crash with what the simulator kept.
public enum SimulatedStorageEvent: Hashable, Sendable {
  /// A `Ready`'s hard state and entries became durable, as when `persist(hardState:entries:)`
  /// returns.
  case persisted(hardState: HardState?, entries: [LogEntry])
  /// A snapshot, taken by the node or received from its leader, became durable and current, as
  /// when its writer's `commit()` returns. A snapshot that is not newer than the current one is
  /// reported too, and ignored by the storage.
  case snapshotCommitted(SnapshotMetadata, data: Data)
  /// The node crashed. `lostHardState` and `lostEntries` are the write that was under way and is
  /// lost because it never became durable (nil and empty when none was).
  case crashed(lostHardState: HardState?, lostEntries: [LogEntry])
}
