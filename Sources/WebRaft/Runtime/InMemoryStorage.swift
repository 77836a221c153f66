import Synchronization

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A storage that keeps everything in memory: fast, and gone when the process ends.
///
/// Use it in tests, benchmarks and examples, or for a cluster whose members never restart. It
/// honours the ``RaftStorage`` contract within one process, so a node can be "restarted" from it.
public final class InMemoryStorage: RaftStorage {
  /// What is stored. The log is held in chunks, so that a long log grows without stalls and a
  /// snapshot drops its prefix without moving the rest.
  private struct Stored {
    var initialized = false
    var hardState = HardState()
    var snapshot = SnapshotMetadata(index: 0, term: 0, membership: .empty)
    var entries = ChunkedEntries()
    var snapshotData = Data()

    mutating func replace(with state: PersistentState) {
      initialized = true
      hardState = state.hardState
      snapshot = state.snapshot
      entries = ChunkedEntries(state.entries)
    }

    var state: PersistentState? {
      guard initialized else { return nil }
      return PersistentState(hardState: hardState, snapshot: snapshot, entries: entries.array)
    }
  }

  private let stored = Mutex(Stored())

  /// Creates an empty storage.
  public init() {}

  /// Creates a storage that already holds `state`.
  public init(state: PersistentState) {
    stored.withLock { $0.replace(with: state) }
  }

  /// Everything stored, as ``load()`` would return it.
  public var contents: PersistentState? {
    stored.withLock { $0.state }
  }

  /// Returns what is stored.
  public func load() async throws -> PersistentState? {
    stored.withLock { $0.state }
  }

  /// Stores the initial state.
  public func initialize(_ initial: PersistentState) async throws {
    stored.withLock { $0.replace(with: initial) }
  }

  /// Stores the hard state and the entries, replacing any stored suffix the entries overlap.
  public nonisolated(nonsending) func persist(hardState: HardState?, entries: [LogEntry]) async throws {
    stored.withLock { stored in
      stored.initialized = true
      if let hardState { stored.hardState = hardState }
      if let first = entries.first {
        let base = stored.snapshot.index
        let count = stored.entries.count
        let keep = first.index > base ? Int(min(first.index - 1 - base, UInt64(count))) : 0
        stored.entries.removeLast(count - keep)
        stored.entries.append(contentsOf: entries.drop { $0.index <= base })
      }
    }
  }

  /// Starts a snapshot held in memory.
  public func beginSnapshot(_ metadata: SnapshotMetadata) async throws -> any RaftSnapshotWriter {
    InMemorySnapshotWriter(storage: self, metadata: metadata)
  }

  /// Opens the current snapshot.
  public func openSnapshot() async throws -> (any RaftSnapshotReader)? {
    stored.withLock { stored in
      guard stored.initialized, stored.snapshot.index > 0 else { return nil }
      return InMemorySnapshotReader(metadata: stored.snapshot, data: stored.snapshotData)
    }
  }

  fileprivate func install(_ metadata: SnapshotMetadata, data: Data) {
    stored.withLock { stored in
      stored.initialized = true
      let base = stored.snapshot.index
      if metadata.index <= base { return }
      let position = Int(metadata.index - base) - 1
      if position < stored.entries.count, stored.entries[position].term == metadata.term {
        stored.entries.removeFirst(position + 1)
      } else {
        stored.entries.removeAll()
      }
      stored.snapshot = metadata
      stored.hardState.commitIndex = max(stored.hardState.commitIndex, metadata.index)
      stored.snapshotData = data
    }
  }
}

private final class InMemorySnapshotWriter: RaftSnapshotWriter {
  private let storage: InMemoryStorage
  private let metadata: SnapshotMetadata
  private let buffer = Mutex(Data())

  init(storage: InMemoryStorage, metadata: SnapshotMetadata) {
    self.storage = storage
    self.metadata = metadata
  }

  func write(_ chunk: Data) async throws {
    buffer.withLock { $0.append(chunk) }
  }

  func commit() async throws {
    storage.install(metadata, data: buffer.withLock { $0 })
  }

  func abort() async {
    buffer.withLock { $0 = Data() }
  }
}

private struct InMemorySnapshotReader: RaftSnapshotReader {
  let metadata: SnapshotMetadata
  let data: Data

  var size: UInt64 { UInt64(data.count) }

  func read(at offset: UInt64, maxLength: Int) async throws -> Data {
    guard offset < UInt64(data.count) else { return Data() }
    let start = data.startIndex + Int(offset)
    let end = min(data.endIndex, start + maxLength)
    return data.subdata(in: start..<end)
  }
}
