/// Where the live entries of the log are on disk, without the entries themselves.
///
/// The log is a sequence of batch records; replaying them in order (a batch starting at index `i`
/// replaces every entry from `i` on, a compaction removes a prefix or everything) gives the live
/// entries `baseIndex + 1 ... lastIndex`. The index keeps, for each batch record that still holds
/// live entries, its segment, offset and first index, and the terms as runs, so that its memory is
/// a few words per batch whatever the size of the entries.
///
/// While a log is replayed from a segment whose predecessors were deleted, entries from
/// `baseIndex + 1` to ``unknownLast`` are known to have existed but are not on disk any more; a
/// later batch or compaction must remove them before the replay ends.
struct LogIndex: Sendable {
  /// A batch record holding live entries.
  struct Location: Hashable, Sendable {
    /// The segment's sequence number.
    var segment: UInt64
    /// The offset of the record's frame in the segment.
    var offset: UInt64
    /// The index of the record's first entry (live or not).
    var firstIndex: UInt64
  }

  /// The index of the snapshot the log starts after.
  private(set) var baseIndex: UInt64
  /// The term of the snapshot the log starts after.
  private(set) var baseTerm: UInt64
  /// The index of the last live entry (`baseIndex` when there is none).
  private(set) var lastIndex: UInt64
  /// The records holding live entries, in order.
  private(set) var locations: [Location] = []
  /// The terms of the live entries known from records.
  private(set) var runs: [TermRun] = []
  /// The last entry that existed in deleted segments and was not removed yet (replay only).
  private(set) var unknownLast: UInt64
  private var unknownLastTerm: UInt64

  /// An empty log after the snapshot at `baseIndex`, or a log whose entries up to `lastIndex` are
  /// in segments that were deleted.
  init(baseIndex: UInt64, baseTerm: UInt64, lastIndex: UInt64, lastTerm: UInt64) {
    self.baseIndex = baseIndex
    self.baseTerm = baseTerm
    self.lastIndex = max(lastIndex, baseIndex)
    self.unknownLast = max(lastIndex, baseIndex)
    self.unknownLastTerm = lastIndex > baseIndex ? lastTerm : baseTerm
  }

  /// The term of the last entry, or of the snapshot when the log is empty.
  var lastTerm: UInt64 {
    if lastIndex == baseIndex { return baseTerm }
    if let run = runs.last { return run.term }
    return unknownLastTerm
  }

  /// Whether entries whose records are gone are still live.
  var hasUnknownEntries: Bool { unknownLast > baseIndex }

  /// The term of the live entry at `index`, or nil when there is none (or it is unknown).
  func term(at index: UInt64) -> UInt64? {
    if index == baseIndex { return baseTerm }
    guard index > unknownLast, index <= lastIndex else { return nil }
    var low = 0
    var high = runs.count
    while low < high {
      let middle = (low + high) / 2
      if runs[middle].firstIndex <= index { low = middle + 1 } else { high = middle }
    }
    return low > 0 ? runs[low - 1].term : nil
  }

  /// Applies a batch record at `location` holding `count` entries from `location.firstIndex`,
  /// the first with `firstTerm` and the others as `laterRuns` say; the caller checked that it
  /// starts after the base and leaves no gap.
  mutating func append(at location: Location, count: UInt64, firstTerm: UInt64, laterRuns: [TermRun]) {
    let first = location.firstIndex
    precondition(first > baseIndex && first <= lastIndex + 1 && count > 0)
    while let last = locations.last, last.firstIndex >= first { locations.removeLast() }
    while let last = runs.last, last.firstIndex >= first { runs.removeLast() }
    unknownLast = min(unknownLast, first - 1)
    locations.append(location)
    // A record whose entries all lie at or before the base holds nothing live any more (a batch
    // right after a snapshot replaced what followed it).
    while locations.count > 1, locations[1].firstIndex <= baseIndex + 1 { locations.removeFirst() }
    if runs.last?.term != firstTerm { runs.append(TermRun(firstIndex: first, term: firstTerm)) }
    for run in laterRuns where runs.last?.term != run.term {
      runs.append(run)
    }
    lastIndex = first + count - 1
  }

  /// Makes the snapshot at `index` with `term` the base: entries up to it are removed, and every
  /// entry when `keepSuffix` is false.
  mutating func compact(to index: UInt64, term: UInt64, keepSuffix: Bool) {
    if keepSuffix && index < lastIndex {
      while locations.count > 1, locations[1].firstIndex <= index + 1 { locations.removeFirst() }
      while runs.count > 1, runs[1].firstIndex <= index + 1 { runs.removeFirst() }
      if !runs.isEmpty, runs[0].firstIndex <= index { runs[0].firstIndex = index + 1 }
    } else {
      locations.removeAll()
      runs.removeAll()
      lastIndex = index
      unknownLast = index
    }
    baseIndex = index
    baseTerm = term
    unknownLastTerm = term
    if unknownLast < index { unknownLast = index }
  }

  /// The live part of the record at position `position` of ``locations``, or nil when it holds
  /// no live entry.
  func liveRange(ofLocation position: Int) -> ClosedRange<UInt64>? {
    let start = max(locations[position].firstIndex, baseIndex + 1)
    let end = position + 1 < locations.count ? locations[position + 1].firstIndex - 1 : lastIndex
    return start <= end ? start...end : nil
  }
}
