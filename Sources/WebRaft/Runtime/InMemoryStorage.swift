import Synchronization

/// A storage that keeps everything in memory: fast, and gone when the process ends.
///
/// Use it in tests, benchmarks and examples, or for a cluster whose members never restart. It
/// honours the ``RaftStorage`` contract within one process, so a node can be "restarted" from it.
public final class InMemoryStorage: RaftStorage {
  private let state = Mutex<PersistentState?>(nil)

  /// Creates an empty storage.
  public init() {}

  /// Creates a storage that already holds `state`.
  public init(state: PersistentState) {
    self.state.withLock { $0 = state }
  }

  /// Everything stored, as ``load()`` would return it.
  public var snapshot: PersistentState? {
    state.withLock { $0 }
  }

  /// Returns what is stored.
  public func load() async throws -> PersistentState? {
    state.withLock { $0 }
  }

  /// Stores the initial state.
  public func initialize(_ initial: PersistentState) async throws {
    state.withLock { $0 = initial }
  }

  /// Stores the hard state and the entries, replacing any stored suffix the entries overlap.
  public func persist(hardState: HardState?, entries: [LogEntry]) async throws {
    state.withLock { stored in
      var current = stored ?? .initial(membership: .empty)
      if let hardState { current.hardState = hardState }
      if let first = entries.first {
        let keep = Int(min(first.index - 1 - current.snapshot.index, UInt64(current.entries.count)))
        current.entries.removeLast(current.entries.count - keep)
        current.entries.append(contentsOf: entries)
      }
      stored = current
    }
  }
}
