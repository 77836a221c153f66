import Synchronization
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The replicated key-value store: a map from string keys to byte values, with per-client
/// deduplication of retried writes, snapshots and restore.
public final class KVStateMachine: RaftStateMachine {
  private struct State {
    var values: [String: Data] = [:]
    /// Each client's last sequence number and result, so that a retry returns the first result.
    var sessions: [UInt64: Session] = [:]
    /// The bytes of values the sessions' results hold (compare-and-set mismatches).
    var sessionBytes = 0
    var appliedIndex: UInt64 = 0
  }

  private struct Session {
    var sequence: UInt64
    var result: KVResult
    var lastIndex: UInt64

    var byteCount: Int {
      if case .mismatch(let current) = result { return current.count }
      return 0
    }
  }

  private let state = Mutex(State())
  /// The most client sessions remembered; the least recently used are forgotten beyond it.
  public let sessionLimit: Int
  /// The most value bytes the remembered results may hold (a compare-and-set that failed
  /// remembers the value it found); the least recently used sessions are forgotten beyond it.
  public let sessionByteLimit: Int

  /// Creates an empty store.
  ///
  /// Both limits must be the same on every node: forgetting sessions is part of the replicated
  /// state.
  public init(sessionLimit: Int = 100_000, sessionByteLimit: Int = 64 << 20) {
    self.sessionLimit = sessionLimit
    self.sessionByteLimit = sessionByteLimit
  }

  /// Applies a command from the log.
  public nonisolated(nonsending) func apply(_ command: Data, index: UInt64, term: UInt64) async throws
    -> KVResult
  {
    let decoded = try KVCommand(decoding: command)
    return state.withLock { state in
      state.appliedIndex = index
      if decoded.clientID != 0, let session = state.sessions[decoded.clientID],
        decoded.sequence <= session.sequence
      {
        return session.result
      }
      let result: KVResult
      switch decoded.operation {
      case .put(let key, let value):
        result = .done(existed: state.values.updateValue(value, forKey: key) != nil)
      case .delete(let key):
        result = .done(existed: state.values.removeValue(forKey: key) != nil)
      case .compareAndSet(let key, let from, let to):
        if let current = state.values[key] {
          if current == from {
            state.values[key] = to
            result = .swapped
          } else {
            result = .mismatch(current: current)
          }
        } else {
          result = .absent
        }
      }
      if decoded.clientID != 0 {
        let session = Session(sequence: decoded.sequence, result: result, lastIndex: index)
        let previous = state.sessions.updateValue(session, forKey: decoded.clientID)
        state.sessionBytes += session.byteCount - (previous?.byteCount ?? 0)
        if state.sessions.count > sessionLimit || state.sessionBytes > sessionByteLimit {
          Self.evictOldSessions(
            &state, keeping: sessionLimit - sessionLimit / 10, bytes: sessionByteLimit - sessionByteLimit / 10
          )
        }
      }
      return result
    }
  }

  /// Forgets the least recently used sessions until at most `count` remain holding at most
  /// `bytes` (a tenth of each limit goes at once, so that the sort is paid once per many writes
  /// rather than at each one). Sessions are ordered by the index of their last write, which is
  /// the same on every node.
  private static func evictOldSessions(_ state: inout State, keeping count: Int, bytes: Int) {
    let oldest = state.sessions.map { ($0.key, $0.value.lastIndex) }.sorted { $0.1 < $1.1 }
    for (client, _) in oldest {
      if state.sessions.count <= max(0, count) && state.sessionBytes <= max(0, bytes) { break }
      if let removed = state.sessions.removeValue(forKey: client) { state.sessionBytes -= removed.byteCount }
    }
  }

  /// The number of client sessions remembered.
  public var sessionCount: Int { state.withLock { $0.sessions.count } }

  /// The value of `key`, as this node has applied it.
  public func value(for key: String) -> Data? {
    state.withLock { $0.values[key] }
  }

  /// The number of keys.
  public var count: Int { state.withLock { $0.values.count } }

  /// The last index applied.
  public var appliedIndex: UInt64 { state.withLock { $0.appliedIndex } }

  /// Captures the store (copy-on-write, so this is cheap) for a snapshot.
  public func makeSnapshot() async throws -> any RaftStateSnapshot {
    let captured = state.withLock { state in (state.values, state.sessions) }
    return KVSnapshot(
      values: captured.0, sessions: captured.1.mapValues { ($0.sequence, $0.result, $0.lastIndex) })
  }

  /// Replaces the store with a snapshot's contents.
  public func restore(from snapshot: any RaftSnapshotReader) async throws {
    let bytes = try await snapshot.readAll()
    var reader = BinaryReader([UInt8](bytes))
    var values: [String: Data] = [:]
    let count = try reader.readCount(minimumSize: 2)
    values.reserveCapacity(count)
    for _ in 0..<count {
      let key = try reader.readString()
      values[key] = try reader.readData()
    }
    var sessions: [UInt64: Session] = [:]
    let sessionCount = try reader.readCount(minimumSize: 4)
    for _ in 0..<sessionCount {
      let client = try reader.readVarint()
      let sequence = try reader.readVarint()
      let lastIndex = try reader.readVarint()
      sessions[client] = Session(
        sequence: sequence, result: try KVResult.decode(from: &reader), lastIndex: lastIndex)
    }
    guard reader.isAtEnd else { throw RaftError.malformedMessage("trailing bytes in a key-value snapshot") }
    let index = snapshot.metadata.index
    state.withLock { state in
      state.values = values
      state.sessions = sessions
      state.sessionBytes = sessions.values.reduce(0) { $0 + $1.byteCount }
      state.appliedIndex = index
    }
  }
}

/// A captured store, serialized when the snapshot is written.
private struct KVSnapshot: RaftStateSnapshot {
  let values: [String: Data]
  let sessions: [UInt64: (sequence: UInt64, result: KVResult, lastIndex: UInt64)]

  func write(to writer: any RaftSnapshotWriter) async throws {
    var out = BinaryWriter(capacity: 1 << 16)
    out.write(varint: UInt64(values.count))
    for (key, value) in values {
      out.write(string: key)
      out.write(data: value)
      if out.bytes.count >= 1 << 20 {
        try await writer.write(Data(out.bytes))
        out = BinaryWriter(capacity: 1 << 16)
      }
    }
    out.write(varint: UInt64(sessions.count))
    for (client, session) in sessions {
      out.write(varint: client)
      out.write(varint: session.sequence)
      out.write(varint: session.lastIndex)
      session.result.encode(into: &out)
    }
    try await writer.write(Data(out.bytes))
  }
}
