/// The appends sent to one follower and not yet acknowledged: a bounded window (by count and by
/// bytes) that lets the leader pipeline appends without sending unboundedly far ahead.
struct Inflights: Hashable, Sendable {
  /// The last index and the payload bytes of each append in flight, oldest first.
  private var appends: [(lastIndex: UInt64, bytes: Int)] = []
  private var start = 0
  /// The most appends in flight at once.
  let capacity: Int
  /// The most payload bytes in flight at once (one append is always allowed).
  let byteCapacity: Int
  /// The payload bytes in flight.
  private(set) var bytes = 0

  init(capacity: Int, byteCapacity: Int = .max) {
    self.capacity = capacity
    self.byteCapacity = byteCapacity
    appends.reserveCapacity(min(capacity, 64))
  }

  static func == (lhs: Inflights, rhs: Inflights) -> Bool {
    lhs.capacity == rhs.capacity && lhs.byteCapacity == rhs.byteCapacity
      && lhs.appends[lhs.start...].elementsEqual(rhs.appends[rhs.start...]) { $0 == $1 }
  }

  func hash(into hasher: inout Hasher) {
    hasher.combine(count)
    hasher.combine(bytes)
  }

  /// The number of appends in flight.
  var count: Int { appends.count - start }

  /// Whether no further append may be sent.
  var isFull: Bool { count >= capacity || (count > 0 && bytes >= byteCapacity) }

  /// Records an append whose last entry is `index`, carrying `byteCount` payload bytes.
  mutating func add(_ index: UInt64, bytes byteCount: Int = 0) {
    appends.append((index, byteCount))
    bytes += byteCount
  }

  /// Forgets every append whose last index is at most `index` (they were acknowledged).
  mutating func free(upTo index: UInt64) {
    while start < appends.count, appends[start].lastIndex <= index {
      bytes -= appends[start].bytes
      start += 1
    }
    if start == appends.count {
      appends.removeAll(keepingCapacity: true)
      start = 0
      bytes = 0
    } else if start > 256, start * 2 > appends.count {
      appends.removeFirst(start)
      start = 0
    }
  }

  /// Forgets the oldest append, so that one more can be sent after a long silence.
  mutating func freeFirst() {
    if count > 0 { free(upTo: appends[start].lastIndex) }
  }

  /// Forgets everything.
  mutating func reset() {
    appends.removeAll(keepingCapacity: true)
    start = 0
    bytes = 0
  }
}
