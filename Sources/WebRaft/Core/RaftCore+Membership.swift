// The membership bookkeeping of the core, in one place. One rule holds wherever the log changes:
// the configuration in force is the last configuration entry in the log, or the snapshot's when
// the log holds none after it (dissertation §4.1: a server uses the latest configuration in its
// log, committed or not). A configuration whose entry left the log must not stay in force: it
// would decide quorums, and the next snapshot would store it durably.
//
// - `baseMembership` is the configuration at the log's snapshot point; `membershipEntries` lists
//   the configuration entries the log holds after it, oldest first, and nothing else.
// - An append adds its configuration entries; an append from a leader that truncates a suffix
//   first drops the entries of that suffix.
// - Compaction folds the entries it covers into `baseMembership`.
// - A snapshot install takes the snapshot's configuration as base and keeps the entries the log
//   still holds: those after the snapshot when the log is kept, none when it was replaced.
// - A restart reads the stored snapshot and entries by the same rule.

extension RaftCore {
  /// A configuration entry's index and value.
  struct MembershipAt: Hashable, Sendable {
    var index: UInt64
    var membership: Membership
  }

  /// The configuration entries among `entries`, oldest first.
  static func membershipEntries(in entries: [LogEntry]) -> [MembershipAt] {
    entries.compactMap { entry in
      if case .membership(let value) = entry.payload {
        return MembershipAt(index: entry.index, membership: value)
      }
      return nil
    }
  }

  /// The configuration the log puts in force.
  var membershipInLog: Membership { membershipEntries.last?.membership ?? baseMembership }

  /// The membership in force at the commit index: the last configuration that is committed.
  public var committedMembership: Membership { membership(at: commitIndex) }

  /// The configuration in force at `index`, if `index` is at or after the log's start.
  func membership(at index: UInt64) -> Membership {
    membershipEntries.last { $0.index <= index }?.membership ?? baseMembership
  }

  /// The latest configuration entry, when it is not committed yet.
  var uncommittedMembershipEntry: MembershipAt? {
    guard let latest = membershipEntries.last, latest.index > log.commitIndex else { return nil }
    return latest
  }

  /// The configuration in force before the latest configuration entry.
  var membershipBeforeLatestEntry: Membership {
    membershipEntries.count >= 2 ? membershipEntries[membershipEntries.count - 2].membership : baseMembership
  }

  /// The leader appended `next` at `index`: it is in force at once.
  mutating func membershipAppended(_ next: Membership, at index: UInt64) {
    membershipEntries.append(MembershipAt(index: index, membership: next))
    setMembership(next)
  }

  /// A follower's log dropped its entries from `truncatedFrom` (when set) and then took
  /// `appended`.
  mutating func membershipLogReplaced(truncatedFrom: UInt64?, appended: ArraySlice<LogEntry>) {
    var changed = false
    if let truncatedFrom, let last = membershipEntries.last, last.index >= truncatedFrom {
      membershipEntries.removeAll { $0.index >= truncatedFrom }
      changed = true
    }
    for entry in appended {
      if case .membership(let value) = entry.payload {
        membershipEntries.append(MembershipAt(index: entry.index, membership: value))
        changed = true
      }
    }
    if changed { setMembership(membershipInLog) }
  }

  /// The log was compacted: what was in force at its new snapshot point becomes the base.
  mutating func membershipCompacted() {
    baseMembership = membership(at: log.snapshotIndex)
    keepMembershipEntriesInLog()
  }

  /// The log was restored from a snapshot with `metadata`, keeping or replacing the entries
  /// after it.
  mutating func membershipRestored(_ metadata: SnapshotMetadata) {
    baseMembership = metadata.membership
    keepMembershipEntriesInLog()
    setMembership(membershipInLog)
  }

  /// Forgets the configuration entries the log no longer holds.
  private mutating func keepMembershipEntriesInLog() {
    let first = log.firstIndex
    let last = log.lastIndex
    membershipEntries.removeAll { $0.index < first || $0.index > last }
  }

  /// Makes `next` the membership in force, announcing who joined and who left.
  mutating func setMembership(_ next: Membership) {
    let previous = membership
    guard previous != next else { return }
    membership = next
    for joined in next.members.subtracting(previous.members).sorted() {
      emit(.join(joined))
    }
    for left in previous.members.subtracting(next.members).sorted() {
      emit(.leave(left))
    }
    emit(.membershipChanged(next))
    guard leading != nil else { return }
    for member in next.members where member != id && leading!.progress[member] == nil {
      let fresh = newProgress()
      leading!.progress[member] = fresh
    }
    for member in leading!.progress.members where !next.contains(member) {
      leading!.progress[member] = nil
    }
  }
}
