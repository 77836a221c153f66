import WebRaft

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why a ``FileStorage`` could not open, read or write its directory.
public enum FileStorageError: Error, Hashable, Sendable, CustomStringConvertible {
  /// A file of the storage holds bytes that cannot be what the storage wrote: a checksum failure
  /// before the end of the log, a missing or damaged file, or records that contradict each
  /// other. The storage refuses to open rather than return a log that may have lost acknowledged
  /// entries; ``description`` says what to do.
  case corruption(file: String, offset: UInt64, reason: String)
  /// Another ``FileStorage`` (in this or another process) has the directory open.
  case locked(directory: String)
  /// A system call failed.
  case ioFailure(operation: String, path: String, errno: Int32)
  /// The caller broke the ``WebRaft/RaftStorage`` contract, for example with entries that leave
  /// a gap in the log.
  case invalidArgument(String)
  /// ``FileStorage/initialize(_:)`` was called on a directory that already holds a node's state.
  case alreadyInitialized(directory: String)
  /// The storage was closed with ``FileStorage/close()``.
  case closed
  /// An earlier write or sync failed, so what is on disk is unknown; the storage accepts no more
  /// calls. Close it and open the directory again, which recovers the last durable state.
  case unusable(reason: String)
  /// The directory belongs to another cluster or node than the one that opened it
  /// (``FileStorage/init(directory:clusterID:nodeID:configuration:logger:)``): starting on it would
  /// run a node on another node's log.
  case identityMismatch(directory: String, expected: Owner, found: Owner)

  /// The cluster and node a data directory belongs to.
  public struct Owner: Hashable, Sendable, CustomStringConvertible {
    /// The cluster's ID.
    public var clusterID: String
    /// The node's ID.
    public var nodeID: NodeID

    /// Creates an owner.
    public init(clusterID: String, nodeID: NodeID) {
      self.clusterID = clusterID
      self.nodeID = nodeID
    }

    /// `node n1 of cluster "orders"`.
    public var description: String { "node \(nodeID) of cluster \"\(clusterID)\"" }
  }

  /// A sentence that names the problem and what to do about it.
  public var description: String {
    switch self {
    case .corruption(let file, let offset, let reason):
      return
        "WebRaft storage is corrupt: \(file) at byte offset \(offset): \(reason). The node must not "
        + "start from this directory, because it may have lost entries or votes it acknowledged. "
        + "Move the directory aside (keep it for diagnosis), then either restore it from a backup "
        + "or remove this node from the cluster and add it back with an empty directory so that "
        + "it catches up from the leader. Do not delete or edit individual files."
    case .locked(let directory):
      return
        "WebRaft storage directory \(directory) is already open by another FileStorage (in this "
        + "or another process). Each node needs its own directory; stop the other node first."
    case .ioFailure(let operation, let path, let code):
      let message = String(cString: strerror(code))
      return "WebRaft storage: \(operation) failed on \(path): \(message) (errno \(code))"
    case .invalidArgument(let reason):
      return "WebRaft storage: invalid call: \(reason)"
    case .alreadyInitialized(let directory):
      return
        "WebRaft storage directory \(directory) already holds a node's state; it cannot be initialized again"
    case .closed:
      return "WebRaft storage was closed"
    case .unusable(let reason):
      return
        "WebRaft storage is unusable after an earlier failure (\(reason)); close it and open the "
        + "directory again to recover the last durable state"
    case .identityMismatch(let directory, let expected, let found):
      return
        "WebRaft storage directory \(directory) belongs to \(found), but it was opened as \(expected). "
        + "Each node needs its own directory: start \(expected.nodeID) with its own data directory "
        + "(or an empty one to make it a new node), or start \(found.nodeID) of cluster "
        + "\"\(found.clusterID)\" on this one. Do not edit the IDENTITY file."
    }
  }
}
