/// Log entries in order, stored in fixed-size chunks instead of one contiguous array.
///
/// A growing array doubles its buffer and moves every element into fresh memory; with a log of
/// hundreds of thousands of entries that is a stall of milliseconds (the new pages fault in on
/// the way), and dropping a compacted prefix moves the whole remainder. Here appending never
/// moves what is held, dropping a prefix releases whole chunks, and a copy of the value shares
/// its chunks until one of them is changed.
///
/// Invariant: every chunk but the last holds exactly ``chunkCapacity`` entries, the first
/// `head` of them already dropped; the last holds at least one live entry unless `count` is 0.
struct ChunkedEntries: Sendable {
  /// Entries per chunk (a power of two).
  static let chunkCapacity = 1 << chunkShift
  private static let chunkShift = 10
  private static let chunkMask = chunkCapacity - 1

  private var chunks: [[LogEntry]] = []
  /// Entries dropped from the front of the first chunk and still held by it.
  private var head = 0
  /// The number of entries.
  private(set) var count = 0

  /// Creates an empty sequence.
  init() {}

  /// Creates a sequence holding `entries`.
  init(_ entries: some Collection<LogEntry>) {
    append(contentsOf: entries)
  }

  var isEmpty: Bool { count == 0 }

  /// The last entry, if any.
  var last: LogEntry? {
    count == 0 ? nil : self[count - 1]
  }

  /// The entry at `position` (0 is the first held).
  subscript(position: Int) -> LogEntry {
    precondition(position >= 0 && position < count, "position out of range")
    let absolute = head + position
    return chunks[absolute >> Self.chunkShift][absolute & Self.chunkMask]
  }

  /// Appends one entry.
  mutating func append(_ entry: LogEntry) {
    if chunks.isEmpty || chunks[chunks.count - 1].count == Self.chunkCapacity {
      var chunk: [LogEntry] = []
      chunk.reserveCapacity(Self.chunkCapacity)
      chunks.append(chunk)
    }
    chunks[chunks.count - 1].append(entry)
    count += 1
  }

  /// Appends entries in order.
  mutating func append(contentsOf entries: some Collection<LogEntry>) {
    for entry in entries { append(entry) }
  }

  /// Drops the first `k` entries.
  mutating func removeFirst(_ k: Int) {
    precondition(k >= 0 && k <= count, "cannot remove more entries than are held")
    if k == count {
      removeAll()
      return
    }
    head += k
    count -= k
    let emptied = head >> Self.chunkShift
    if emptied > 0 {
      chunks.removeFirst(emptied)
      head &= Self.chunkMask
    }
  }

  /// Drops the last `k` entries.
  mutating func removeLast(_ k: Int) {
    precondition(k >= 0 && k <= count, "cannot remove more entries than are held")
    if k == count {
      removeAll()
      return
    }
    count -= k
    let end = head + count
    let chunkCount = (end + Self.chunkMask) >> Self.chunkShift
    if chunks.count > chunkCount { chunks.removeLast(chunks.count - chunkCount) }
    let keepInLast = end - (chunkCount - 1) * Self.chunkCapacity
    let lastChunk = chunks.count - 1
    if chunks[lastChunk].count > keepInLast {
      chunks[lastChunk].removeLast(chunks[lastChunk].count - keepInLast)
    }
  }

  /// Drops every entry.
  mutating func removeAll() {
    chunks.removeAll()
    head = 0
    count = 0
  }

  /// The entries at `positions`, copied into an array.
  func copy(_ positions: Range<Int>) -> [LogEntry] {
    precondition(positions.lowerBound >= 0 && positions.upperBound <= count, "range out of bounds")
    var result: [LogEntry] = []
    result.reserveCapacity(positions.count)
    var absolute = head + positions.lowerBound
    let end = head + positions.upperBound
    while absolute < end {
      let chunk = absolute >> Self.chunkShift
      let offset = absolute & Self.chunkMask
      let take = min(end - absolute, Self.chunkCapacity - offset)
      result.append(contentsOf: chunks[chunk][offset..<(offset + take)])
      absolute += take
    }
    return result
  }

  /// Every entry, copied into an array.
  var array: [LogEntry] { copy(0..<count) }
}

extension ChunkedEntries: Hashable {
  static func == (lhs: ChunkedEntries, rhs: ChunkedEntries) -> Bool {
    guard lhs.count == rhs.count else { return false }
    for position in 0..<lhs.count where lhs[position] != rhs[position] { return false }
    return true
  }

  func hash(into hasher: inout Hasher) {
    hasher.combine(count)
    for position in 0..<count { hasher.combine(self[position]) }
  }
}
