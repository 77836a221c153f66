/// One thing a ``RaftDriver`` asks its host to do.
///
/// Actions marked "then call" are asynchronous: the driver hands out nothing more until the host
/// reports the completion (inputs may still be given to the driver meanwhile). ``apply(_:from:)``
/// is the exception: the driver goes on while the state machine applies. The others are done at
/// once.
public enum DriverAction: Sendable {
  /// Send `messages[range]`, in order, each to its recipient (no completion). (An array and a
  /// range rather than a slice, or one action per message: a plain array is the cheapest to
  /// hand out, and every `Ready` has messages.)
  case send([RaftMessage], Range<Int>)
  /// Write the hard state (if set) and the entries in one durable batch; a stored entry at or
  /// after the first entry's index is replaced. Then call ``RaftDriver/persisted()``.
  case persist(hardState: HardState?, entries: [LogEntry])
  /// Write a chunk of a snapshot received from the leader into the storage's snapshot writer (a
  /// chunk at offset 0 starts a new snapshot and drops any unfinished one). Then call
  /// ``RaftDriver/snapshotChunkWritten(accepted:)``.
  case writeSnapshotChunk(InstallSnapshot)
  /// Commit the snapshot received from the leader and restore the state machine from it (handed
  /// out only once every entry handed out to apply was reported applied). Then call
  /// ``RaftDriver/snapshotInstalled(_:resolve:)``.
  case installSnapshot(SnapshotMetadata)
  /// Read a chunk of the current snapshot for a follower. Then call
  /// ``RaftDriver/snapshotChunkRead(_:metadata:totalSize:data:)``, or
  /// ``RaftDriver/snapshotChunkUnavailable()`` when it cannot be read.
  case readSnapshotChunk(SnapshotChunkRequest)
  /// Apply the committed entries from position `from` of `entries` on, in order and after every
  /// batch handed out before, and call ``RaftDriver/applied(_:resolve:)`` for each once it is
  /// applied (one by one or a batch at a time, whenever the host is ready to). The driver does
  /// not wait: it goes on with its next actions, and may hand out further batches meanwhile (up
  /// to ``RaftConfiguration/maxApplyingEntries`` entries not yet reported). (An array and a
  /// position rather than a slice: the action is handed out for every batch, and a plain array
  /// is the cheapest to pass.)
  case apply([LogEntry], from: Int)
  /// Capture the state machine's state now, exactly as it is after the entry at the metadata's
  /// index (nothing may be applied in between; the driver hands this out only once every entry
  /// handed out to apply was reported applied), then call ``RaftDriver/snapshotCaptured(_:)``.
  /// Write the capture out in the background and call
  /// ``RaftDriver/snapshotWritten(_:)`` (or ``RaftDriver/snapshotFailed(unsupported:now:)``).
  case captureSnapshot(SnapshotMetadata)
  /// Commit the snapshot written in the background (making it the storage's current one). Then
  /// call ``RaftDriver/snapshotCommitted(_:)``.
  case commitSnapshot(SnapshotMetadata)
  /// Abort the snapshot written in the background: a newer one was installed meanwhile. No
  /// completion.
  case discardSnapshot(SnapshotMetadata)
  /// Publish the events to the node's listeners, in order (no completion).
  case publish([RaftEvent])
}
