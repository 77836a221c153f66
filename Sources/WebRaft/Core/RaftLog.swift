/// The in-memory view of a node's log: a compacted prefix (up to `snapshotIndex`), the entries
/// after it, how far they are durable, committed and applied.
///
/// Invariants: `snapshotIndex <= appliedIndex <= commitIndex <= lastIndex`, and
/// `snapshotIndex <= stableIndex <= lastIndex`.
struct RaftLog: Hashable, Sendable {
  /// The last index covered by the snapshot the log starts after.
  private(set) var snapshotIndex: UInt64
  /// The term of the entry at `snapshotIndex`.
  private(set) var snapshotTerm: UInt64
  /// The entries after `snapshotIndex`, without gaps.
  private var held: ChunkedEntries
  /// Entries up to this index are durable in storage.
  private(set) var stableIndex: UInt64
  /// The highest index known to be committed.
  private(set) var commitIndex: UInt64
  /// The highest index handed to the state machine.
  private(set) var appliedIndex: UInt64
  /// The payload bytes of the entries held (for the snapshot policy and memory limits).
  private(set) var byteCount: Int

  init(snapshot: SnapshotMetadata, entries: [LogEntry], commitIndex: UInt64, appliedIndex: UInt64) {
    self.snapshotIndex = snapshot.index
    self.snapshotTerm = snapshot.term
    self.held = ChunkedEntries(entries)
    let last = snapshot.index + UInt64(entries.count)
    self.stableIndex = last
    // What the state machine already applied was committed, even if the stored commit index
    // (a hint written along with entries) lags behind it.
    self.commitIndex = min(max(commitIndex, snapshot.index, appliedIndex), last)
    self.appliedIndex = min(max(appliedIndex, snapshot.index), self.commitIndex)
    self.byteCount = entries.reduce(0) { $0 + $1.byteCount }
  }

  /// The entries after `snapshotIndex`, copied into an array.
  var entries: [LogEntry] { held.array }

  /// The index of the last entry (the snapshot index when the log is empty).
  var lastIndex: UInt64 { snapshotIndex + UInt64(held.count) }

  /// The term of the last entry.
  var lastTerm: UInt64 { held.last?.term ?? snapshotTerm }

  /// The first index still held in memory.
  var firstIndex: UInt64 { snapshotIndex + 1 }

  /// The term of the entry at `index`, or nil when it is past the end or compacted away.
  func term(at index: UInt64) -> UInt64? {
    if index == snapshotIndex { return snapshotTerm }
    if index < snapshotIndex || index > lastIndex { return nil }
    return held[Int(index - snapshotIndex - 1)].term
  }

  /// The entry at `index`, if held.
  func entry(at index: UInt64) -> LogEntry? {
    if index <= snapshotIndex || index > lastIndex { return nil }
    return held[Int(index - snapshotIndex - 1)]
  }

  /// Entries from `from` through `through`, stopping early at `maxCount` entries or once
  /// `maxBytes` is reached (one entry is always returned if any is in range).
  func entries(from: UInt64, through: UInt64, maxCount: Int, maxBytes: Int) -> [LogEntry] {
    let lower = max(from, firstIndex)
    let upper = min(through, lastIndex)
    if lower > upper { return [] }
    let start = Int(lower - snapshotIndex - 1)
    var end = Int(upper - snapshotIndex)
    if maxCount < end - start { end = start + maxCount }
    var bytes = 0
    for position in start..<end {
      bytes += held[position].byteCount
      if bytes > maxBytes, position > start {
        end = position
        break
      }
    }
    return held.copy(start..<end)
  }

  /// Whether a log ending at (`lastIndex`, `lastTerm`) is at least as up to date as this one
  /// (Raft §5.4.1: compare last terms, then lengths).
  func isUpToDate(lastIndex otherIndex: UInt64, lastTerm otherTerm: UInt64) -> Bool {
    otherTerm > lastTerm || (otherTerm == lastTerm && otherIndex >= lastIndex)
  }

  /// The first index of the run of entries with term `term` that contains `index`.
  func firstIndex(ofTermAt index: UInt64) -> UInt64 {
    guard let term = term(at: index) else { return index }
    var cursor = index
    while cursor > commitIndex, cursor > firstIndex, self.term(at: cursor - 1) == term {
      cursor -= 1
    }
    return cursor
  }

  /// The last index at or below `index` whose entry has term `term`, if any is held.
  func lastIndex(ofTerm term: UInt64, atOrBelow index: UInt64) -> UInt64? {
    var cursor = min(index, lastIndex)
    while cursor >= snapshotIndex {
      guard let found = self.term(at: cursor) else { return nil }
      if found == term { return cursor }
      if found < term || cursor == 0 { return nil }
      cursor -= 1
    }
    return nil
  }

  /// Appends an entry created by this node as leader.
  mutating func appendAsLeader(_ entry: LogEntry) {
    byteCount += entry.byteCount
    held.append(entry)
  }

  /// Drops the entries up to `index` (covered by a snapshot now stored). Only applied entries
  /// can be compacted.
  mutating func compact(through index: UInt64) {
    guard index > snapshotIndex, index <= appliedIndex else { return }
    compactUnapplied(through: index)
  }

  /// Makes the log start after an installed snapshot: entries after it are kept when the log
  /// holds the snapshot's last entry, otherwise the whole log is replaced by the snapshot.
  mutating func restore(_ metadata: SnapshotMetadata) {
    guard metadata.index > snapshotIndex else { return }
    if term(at: metadata.index) == metadata.term {
      compactUnapplied(through: metadata.index)
    } else {
      held.removeAll()
      byteCount = 0
      snapshotIndex = metadata.index
      snapshotTerm = metadata.term
      stableIndex = metadata.index
    }
    commitIndex = max(commitIndex, metadata.index)
    appliedIndex = max(appliedIndex, metadata.index)
  }

  private mutating func compactUnapplied(through index: UInt64) {
    guard let term = term(at: index) else { return }
    let count = Int(index - snapshotIndex)
    for position in 0..<count { byteCount -= held[position].byteCount }
    held.removeFirst(count)
    snapshotIndex = index
    snapshotTerm = term
    stableIndex = max(stableIndex, index)
  }

  /// The outcome of offering a leader's entries to this log.
  enum AppendOutcome: Equatable {
    /// The consistency check failed at `prevLogIndex`.
    case mismatch
    /// The entries are stored; `lastNewIndex` is the last index known to match the leader's log.
    /// `appendedFrom` is the first index actually added (nil when every entry was already held),
    /// `truncatedFrom` is set when a conflicting suffix was removed.
    case appended(lastNewIndex: UInt64, appendedFrom: UInt64?, truncatedFrom: UInt64?)
    /// The entries would overwrite committed entries: the sender is broken or malicious.
    case conflictsWithCommitted(index: UInt64)
  }

  /// Offers entries that follow (`prevIndex`, `prevTerm`) (Figure 2, AppendEntries rules 2–4):
  /// a conflicting suffix is truncated, entries already held are left alone, new ones appended.
  mutating func offer(prevIndex: UInt64, prevTerm: UInt64, newEntries: [LogEntry]) -> AppendOutcome {
    guard term(at: prevIndex) == prevTerm else { return .mismatch }
    var conflictPosition: Int?
    for (position, entry) in newEntries.enumerated() {
      if entry.index <= snapshotIndex { continue }
      if term(at: entry.index) != entry.term {
        conflictPosition = position
        break
      }
    }
    let lastNewIndex = prevIndex + UInt64(newEntries.count)
    guard let position = conflictPosition else {
      return .appended(lastNewIndex: lastNewIndex, appendedFrom: nil, truncatedFrom: nil)
    }
    let conflictIndex = newEntries[position].index
    var truncatedFrom: UInt64?
    if conflictIndex <= lastIndex {
      if conflictIndex <= commitIndex { return .conflictsWithCommitted(index: conflictIndex) }
      let removed = Int(lastIndex - conflictIndex + 1)
      for position in (held.count - removed)..<held.count { byteCount -= held[position].byteCount }
      held.removeLast(removed)
      stableIndex = min(stableIndex, conflictIndex - 1)
      truncatedFrom = conflictIndex
    }
    for entry in newEntries[position...] { byteCount += entry.byteCount }
    held.append(contentsOf: newEntries[position...])
    return .appended(
      lastNewIndex: lastNewIndex, appendedFrom: conflictIndex, truncatedFrom: truncatedFrom)
  }

  /// Raises the commit index to `index` (never lowers it, never past the last entry).
  mutating func commit(to index: UInt64) -> Bool {
    let target = min(index, lastIndex)
    guard target > commitIndex else { return false }
    commitIndex = target
    return true
  }

  /// Entries not yet durable, to be written in the next batch.
  var unstableEntries: [LogEntry] {
    if stableIndex >= lastIndex { return [] }
    return held.copy(Int(stableIndex - snapshotIndex)..<held.count)
  }

  /// Records that entries up to (`index`, `term`) are durable, unless the log changed since.
  mutating func stable(to index: UInt64, term: UInt64) {
    guard index > stableIndex, self.term(at: index) == term else { return }
    stableIndex = index
  }

  /// Committed entries not yet handed to the state machine, at most `maxCount`.
  func committedToApply(maxCount: Int) -> [LogEntry] {
    guard commitIndex > appliedIndex, maxCount > 0 else { return [] }
    let start = Int(appliedIndex - snapshotIndex)
    let end = min(Int(commitIndex - snapshotIndex), start + maxCount)
    return held.copy(start..<end)
  }

  /// Records that entries up to `index` were handed to the state machine.
  mutating func applied(to index: UInt64) {
    appliedIndex = max(appliedIndex, min(index, commitIndex))
  }
}
