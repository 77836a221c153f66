/// A min-heap of timed items ordered by (time, sequence number): items due at the same time come
/// out in the order they were pushed, so a simulation that pushes the same items pops them in the
/// same order.
struct EventQueue<Payload> {
  /// One queued item.
  struct Item {
    var time: UInt64
    var sequence: UInt64
    var payload: Payload

    func precedes(_ other: Item) -> Bool {
      time < other.time || (time == other.time && sequence < other.sequence)
    }
  }

  private var heap: [Item] = []
  private var nextSequence: UInt64 = 0

  /// The number of queued items.
  var count: Int { heap.count }

  /// The time of the earliest item.
  var nextTime: UInt64? { heap.first?.time }

  /// Queues `payload` at `time`.
  mutating func push(at time: UInt64, _ payload: Payload) {
    heap.append(Item(time: time, sequence: nextSequence, payload: payload))
    nextSequence += 1
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child].precedes(heap[parent]) else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  /// Removes and returns the earliest item.
  mutating func pop() -> Item? {
    guard !heap.isEmpty else { return nil }
    if heap.count == 1 { return heap.removeLast() }
    let first = heap[0]
    heap[0] = heap.removeLast()
    var parent = 0
    let count = heap.count
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < count, heap[left].precedes(heap[smallest]) { smallest = left }
      if right < count, heap[right].precedes(heap[smallest]) { smallest = right }
      if smallest == parent { break }
      heap.swapAt(parent, smallest)
      parent = smallest
    }
    return first
  }

  /// Removes every item for which `shouldRemove` is true, keeping the order of the rest.
  mutating func removeAll(where shouldRemove: (Payload) -> Bool) {
    let kept = heap.filter { !shouldRemove($0.payload) }
    guard kept.count != heap.count else { return }
    heap = []
    heap.reserveCapacity(kept.count)
    for item in kept.sorted(by: { $0.precedes($1) }) {
      heap.append(item)
    }
  }
}
