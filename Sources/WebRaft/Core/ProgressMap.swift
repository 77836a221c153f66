/// What a leader knows of each other member, kept as two small arrays in member order.
///
/// Clusters have a handful of members, and the leader looks a follower up on every message: a
/// linear search over a few identifiers costs less than hashing a string, and the entries are
/// changed in place (``update(_:_:)``) so that a follower's in-flight window is never copied.
/// Members are kept sorted, so iterating is deterministic.
struct ProgressMap: Sendable {
  /// The members, sorted.
  private(set) var members: [NodeID] = []
  /// The progress of `members[i]` at `i`.
  private var entries: [Progress] = []

  /// Whether no member is tracked.
  var isEmpty: Bool { members.isEmpty }

  /// The position of `member`, nil when it is not tracked.
  @inline(__always)
  private func position(of member: NodeID) -> Int? {
    members.firstIndex(of: member)
  }

  /// The progress of `member`, or nil; setting nil stops tracking it.
  subscript(member: NodeID) -> Progress? {
    get {
      guard let position = position(of: member) else { return nil }
      return entries[position]
    }
    set {
      if let position = position(of: member) {
        if let newValue {
          entries[position] = newValue
        } else {
          members.remove(at: position)
          entries.remove(at: position)
        }
      } else if let newValue {
        let position = members.firstIndex { $0 > member } ?? members.endIndex
        members.insert(member, at: position)
        entries.insert(newValue, at: position)
      }
    }
  }

  /// Reads a field of `member`'s progress without copying it; nil when it is not tracked.
  @inline(__always)
  func read<Result>(_ member: NodeID, _ body: (borrowing Progress) -> Result) -> Result? {
    guard let position = position(of: member) else { return nil }
    return body(entries[position])
  }

  /// Changes `member`'s progress in place; nil when it is not tracked.
  @inline(__always)
  @discardableResult
  mutating func update<Result>(_ member: NodeID, _ body: (inout Progress) -> Result) -> Result? {
    guard let position = position(of: member) else { return nil }
    return body(&entries[position])
  }

  /// Changes every member's progress in place.
  mutating func updateAll(_ body: (inout Progress) -> Void) {
    for position in entries.indices { body(&entries[position]) }
  }

  /// Every member with its progress, in member order.
  var all: Zip2Sequence<[NodeID], [Progress]> { zip(members, entries) }

  /// Stops tracking every member.
  mutating func removeAll() {
    members.removeAll()
    entries.removeAll()
  }
}
