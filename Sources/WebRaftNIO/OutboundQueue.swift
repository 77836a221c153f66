import NIOCore
import WebRaft

/// The messages waiting for one peer: a small-message lane that is always sent first, and a bulk
/// lane for appends with entries and snapshot chunks. Both are bounded; when full, the oldest
/// message of the lane is dropped (Raft sends again what it still needs).
struct OutboundQueue: Sendable {
  /// A queued message with its estimated encoded size.
  struct Item: Sendable {
    var message: RaftMessage
    var size: Int
  }

  private(set) var control = CircularBuffer<Item>(initialCapacity: 16)
  private(set) var bulk = CircularBuffer<Item>(initialCapacity: 16)
  private(set) var bulkBytes = 0
  let maxControl: Int
  let maxBulkMessages: Int
  let maxBulkBytes: Int

  init(maxControl: Int, maxBulkMessages: Int, maxBulkBytes: Int) {
    self.maxControl = max(1, maxControl)
    self.maxBulkMessages = max(1, maxBulkMessages)
    self.maxBulkBytes = max(1, maxBulkBytes)
  }

  var isEmpty: Bool { control.isEmpty && bulk.isEmpty }
  var count: Int { control.count + bulk.count }

  /// Whether `message` travels in the bulk lane.
  static func isBulk(_ message: RaftMessage) -> Bool {
    switch message.body {
    case .appendEntries(let append): return !append.entries.isEmpty
    case .installSnapshot: return true
    default: return false
    }
  }

  /// An estimate of the encoded size of `message`, for the byte bound and batching.
  static func estimatedSize(_ message: RaftMessage) -> Int {
    let head = 32 + message.from.rawValue.utf8.count + message.to.rawValue.utf8.count
    switch message.body {
    case .appendEntries(let append):
      return append.entries.reduce(head) { $0 + $1.byteCount }
    case .installSnapshot(let chunk):
      return head + chunk.data.count + 32 * chunk.metadata.membership.members.count
    case .proposal(let proposal):
      if case .command(let data) = proposal.request { return head + data.count }
      return head + 64
    default:
      return head
    }
  }

  /// Adds a message; returns how many old messages were dropped to make room.
  mutating func push(_ message: RaftMessage) -> Int {
    let item = Item(message: message, size: Self.estimatedSize(message))
    var dropped = 0
    if Self.isBulk(message) {
      bulk.append(item)
      bulkBytes += item.size
      // Keep at least the newest message, however large: the frame limit bounds it.
      while bulk.count > 1 && (bulk.count > maxBulkMessages || bulkBytes > maxBulkBytes) {
        bulkBytes -= bulk.removeFirst().size
        dropped += 1
      }
    } else {
      control.append(item)
      while control.count > maxControl {
        control.removeFirst()
        dropped += 1
      }
    }
    return dropped
  }

  /// Takes messages to send in one write: every small message first, then bulk messages while the
  /// batch stays under `maxBytes` (at least one).
  mutating func popBatch(maxBytes: Int, into batch: inout [RaftMessage]) {
    var bytes = 0
    while let item = control.popFirst() {
      batch.append(item.message)
      bytes += item.size
    }
    while let first = bulk.first, batch.isEmpty || bytes + first.size <= maxBytes {
      bulk.removeFirst()
      bulkBytes -= first.size
      batch.append(first.message)
      bytes += first.size
    }
  }

  /// Drops everything; returns how many messages were dropped.
  mutating func removeAll() -> Int {
    let dropped = count
    control.removeAll()
    bulk.removeAll()
    bulkBytes = 0
    return dropped
  }
}
