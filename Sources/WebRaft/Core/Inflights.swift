/// The appends sent to one follower and not yet acknowledged: a bounded window that lets the
/// leader pipeline appends without sending unboundedly far ahead.
struct Inflights: Hashable, Sendable {
  /// The last index of each append in flight, oldest first.
  private var lastIndexes: [UInt64] = []
  private var start = 0
  /// The most appends in flight at once.
  let capacity: Int

  init(capacity: Int) {
    self.capacity = capacity
    lastIndexes.reserveCapacity(min(capacity, 64))
  }

  /// The number of appends in flight.
  var count: Int { lastIndexes.count - start }

  /// Whether no further append may be sent.
  var isFull: Bool { count >= capacity }

  /// Records an append whose last entry is `index`.
  mutating func add(_ index: UInt64) {
    lastIndexes.append(index)
  }

  /// Forgets every append whose last index is at most `index` (they were acknowledged).
  mutating func free(upTo index: UInt64) {
    while start < lastIndexes.count, lastIndexes[start] <= index {
      start += 1
    }
    if start == lastIndexes.count {
      lastIndexes.removeAll(keepingCapacity: true)
      start = 0
    } else if start > 256, start * 2 > lastIndexes.count {
      lastIndexes.removeFirst(start)
      start = 0
    }
  }

  /// Forgets the oldest append, so that one more can be sent after a long silence.
  mutating func freeFirst() {
    if count > 0 { free(upTo: lastIndexes[start]) }
  }

  /// Forgets everything.
  mutating func reset() {
    lastIndexes.removeAll(keepingCapacity: true)
    start = 0
  }
}
