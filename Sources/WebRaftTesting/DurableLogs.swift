/// What each node's storage holds of the log, as the invariant checker needs it to see that a
/// leader commits only what a quorum holds durably: the term of each stored entry, from just after
/// the node's snapshot on.
struct DurableLogs {
  private struct Log {
    /// Entries up to here are covered by a snapshot the node holds.
    var base: UInt64 = 0
    /// The term of the entry at `base + 1 + i` at `i`.
    var terms: [UInt64] = []
  }

  private var logs: [NodeID: Log] = [:]

  /// `node` wrote `entries` durably; they replace whatever it held from the first one on.
  mutating func stored(_ entries: [LogEntry], on node: NodeID) {
    guard let first = entries.first else { return }
    var log = logs[node] ?? Log()
    if first.index <= log.base {
      // Entries under the snapshot are already covered; keep those after it.
      let skip = Int(log.base - first.index + 1)
      guard skip < entries.count else { return }
      log.terms = []
      log.terms.append(contentsOf: entries[skip...].map(\.term))
    } else {
      let keep = min(Int(first.index - log.base - 1), log.terms.count)
      log.terms.removeSubrange(keep...)
      // A gap would mean the node stored entries it could not connect; the checker's log matching
      // finds that, and here it only makes the entries after it count for nothing.
      if keep == Int(first.index - log.base - 1) { log.terms.append(contentsOf: entries.map(\.term)) }
    }
    logs[node] = log
  }

  /// `node` holds a snapshot up to `index`: everything before it counts as held.
  mutating func snapshotHeld(through index: UInt64, on node: NodeID) {
    var log = logs[node] ?? Log()
    guard index > log.base else { return }
    let drop = min(Int(index - log.base), log.terms.count)
    log.terms.removeFirst(drop)
    log.base = index
    logs[node] = log
  }

  /// Whether `node` holds the entry of `term` at `index` durably (or a snapshot past it).
  func holds(index: UInt64, term: UInt64, on node: NodeID) -> Bool {
    guard let log = logs[node] else { return false }
    if index <= log.base { return true }
    let position = Int(index - log.base - 1)
    return position < log.terms.count && log.terms[position] == term
  }
}
