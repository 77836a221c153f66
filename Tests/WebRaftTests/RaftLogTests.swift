import Testing

@testable import WebRaft

/// A log of entries with `terms` after a snapshot at (`snapshotIndex`, `snapshotTerm`).
private func makeLog(
  terms: [UInt64], snapshotIndex: UInt64 = 0, snapshotTerm: UInt64 = 0, commit: UInt64 = 0,
  applied: UInt64 = 0
) -> RaftLog {
  RaftLog(
    snapshot: SnapshotMetadata(index: snapshotIndex, term: snapshotTerm, membership: ["a"]),
    entries: logEntries(terms: terms, from: snapshotIndex + 1), commitIndex: commit, appliedIndex: applied)
}

@Suite("RaftLog: the in-memory log")
struct RaftLogTests {
  @Test("term(at:) answers for the snapshot point and held entries, nil outside")
  func termAt() {
    let log = makeLog(terms: [1, 1, 2])
    #expect(log.term(at: 0) == 0)
    #expect(log.term(at: 1) == 1)
    #expect(log.term(at: 3) == 2)
    #expect(log.term(at: 4) == nil)
    #expect(log.term(at: .max) == nil)
    #expect(log.lastIndex == 3)
    #expect(log.lastTerm == 2)

    let compacted = makeLog(terms: [3, 4], snapshotIndex: 5, snapshotTerm: 3, commit: 5, applied: 5)
    #expect(compacted.term(at: 4) == nil, "compacted away")
    #expect(compacted.term(at: 5) == 3, "the snapshot's own term")
    #expect(compacted.term(at: 6) == 3)
    #expect(compacted.term(at: 7) == 4)
    #expect(compacted.term(at: 8) == nil)
    #expect(compacted.entry(at: 5) == nil)
    #expect(compacted.entry(at: 6) == entry(6, 3, "e6"))
    #expect(compacted.firstIndex == 6)

    let empty = makeLog(terms: [], snapshotIndex: 9, snapshotTerm: 4, commit: 9, applied: 9)
    #expect(empty.lastIndex == 9)
    #expect(empty.lastTerm == 4)
  }

  @Test("init keeps snapshot <= applied <= commit <= last, raising a stored commit hint below applied")
  func initClamps() {
    let log = makeLog(terms: [1, 1], snapshotIndex: 3, snapshotTerm: 1, commit: 9, applied: 9)
    #expect(log.commitIndex == 5)
    #expect(log.appliedIndex == 5)
    let low = makeLog(terms: [1, 1], snapshotIndex: 3, snapshotTerm: 1, commit: 0, applied: 0)
    #expect(low.commitIndex == 3)
    #expect(low.appliedIndex == 3)
    let applied = makeLog(terms: [1, 1, 1], commit: 2, applied: 3)
    #expect(applied.commitIndex == 3, "what the state machine applied was committed; the stored hint lags")
    #expect(applied.appliedIndex == 3)
    #expect(applied.stableIndex == 3, "what storage returned is durable")
  }

  @Test("entries(from:through:) honours the range, the count limit and the byte limit")
  func entriesRange() {
    let log = makeLog(terms: [1, 1, 1, 2, 2])
    #expect(log.entries(from: 2, through: 4, maxCount: .max, maxBytes: .max).map(\.index) == [2, 3, 4])
    #expect(
      log.entries(from: 0, through: 99, maxCount: .max, maxBytes: .max).map(\.index) == [1, 2, 3, 4, 5])
    #expect(log.entries(from: 4, through: 2, maxCount: .max, maxBytes: .max).isEmpty)
    #expect(log.entries(from: 6, through: 9, maxCount: .max, maxBytes: .max).isEmpty)
    #expect(log.entries(from: 1, through: 5, maxCount: 2, maxBytes: .max).map(\.index) == [1, 2])
    // Each entry "eN" is 2 payload bytes + 24 of overhead.
    #expect(log.entries(from: 1, through: 5, maxCount: .max, maxBytes: 52).map(\.index) == [1, 2])
    #expect(log.entries(from: 1, through: 5, maxCount: .max, maxBytes: 51).map(\.index) == [1])
    #expect(
      log.entries(from: 1, through: 5, maxCount: .max, maxBytes: 1).map(\.index) == [1],
      "one entry is always returned")
  }

  // MARK: offer

  @Test("offer: the consistency check fails when the previous entry is missing or has another term")
  func offerMismatch() {
    var log = makeLog(terms: [1, 1, 2])
    let before = log
    let missing = log.offer(prevIndex: 4, prevTerm: 2, newEntries: [entry(5, 2)])
    #expect(missing == .mismatch)
    let otherTerm = log.offer(prevIndex: 3, prevTerm: 1, newEntries: [entry(4, 2)])
    #expect(otherTerm == .mismatch)
    #expect(log == before)
  }

  @Test("offer: new entries after the last one are appended and unstable")
  func offerAppends() {
    var log = makeLog(terms: [1, 1])
    let outcome = log.offer(prevIndex: 2, prevTerm: 1, newEntries: [entry(3, 2), entry(4, 2)])
    #expect(outcome == .appended(lastNewIndex: 4, appendedFrom: 3, truncatedFrom: nil))
    #expect(log.lastIndex == 4)
    #expect(log.stableIndex == 2)
    #expect(log.unstableEntries.map(\.index) == [3, 4])
  }

  @Test("offer: entries already held are left alone, even when the log goes further")
  func offerDuplicate() {
    var log = makeLog(terms: [1, 1, 2, 2])
    let before = log
    let held = log.offer(prevIndex: 1, prevTerm: 1, newEntries: [entry(2, 1), entry(3, 2)])
    #expect(held == .appended(lastNewIndex: 3, appendedFrom: nil, truncatedFrom: nil))
    #expect(log == before)
    let empty = log.offer(prevIndex: 4, prevTerm: 2, newEntries: [])
    #expect(empty == .appended(lastNewIndex: 4, appendedFrom: nil, truncatedFrom: nil))
    #expect(log == before)
  }

  @Test("offer: a conflicting suffix is truncated and replaced, and is no longer stable")
  func offerTruncates() {
    var log = makeLog(terms: [1, 1, 2, 2, 2], commit: 2)
    let outcome = log.offer(prevIndex: 1, prevTerm: 1, newEntries: [entry(2, 1, "e2"), entry(3, 3, "x")])
    #expect(outcome == .appended(lastNewIndex: 3, appendedFrom: 3, truncatedFrom: 3))
    #expect(log.entries == logEntries(terms: [1, 1]) + [entry(3, 3, "x")])
    #expect(log.stableIndex == 2)
    #expect(log.unstableEntries == [entry(3, 3, "x")])
  }

  @Test("offer: overwriting a committed entry is refused and changes nothing")
  func offerConflictsWithCommitted() {
    var log = makeLog(terms: [1, 1, 2], commit: 2)
    let before = log
    let outcome = log.offer(prevIndex: 1, prevTerm: 1, newEntries: [entry(2, 3)])
    #expect(outcome == .conflictsWithCommitted(index: 2))
    #expect(log == before)
  }

  @Test("offer: entries at or below the snapshot are skipped")
  func offerBelowSnapshot() {
    var log = makeLog(terms: [2], snapshotIndex: 4, snapshotTerm: 1, commit: 4, applied: 4)
    let outcome = log.offer(prevIndex: 4, prevTerm: 1, newEntries: [entry(5, 2, "e5"), entry(6, 2)])
    #expect(outcome == .appended(lastNewIndex: 6, appendedFrom: 6, truncatedFrom: nil))
    #expect(log.lastIndex == 6)
  }

  // MARK: Stable, commit, apply

  @Test("stable(to:term:) records durability only if the log still holds that entry")
  func stableTo() {
    var log = makeLog(terms: [1])
    _ = log.offer(prevIndex: 1, prevTerm: 1, newEntries: [entry(2, 1), entry(3, 1)])
    log.stable(to: 3, term: 2)
    #expect(log.stableIndex == 1, "another entry is at index 3 now")
    log.stable(to: 2, term: 1)
    #expect(log.stableIndex == 2)
    #expect(log.unstableEntries.map(\.index) == [3])
    log.stable(to: 1, term: 1)
    #expect(log.stableIndex == 2, "never goes back")
    log.stable(to: 9, term: 1)
    #expect(log.stableIndex == 2, "not past the end")
    log.stable(to: 3, term: 1)
    #expect(log.unstableEntries.isEmpty)
  }

  @Test("a write handed out before a truncation does not mark the replacement entries durable")
  func stableAfterTruncation() {
    var log = makeLog(terms: [1])
    _ = log.offer(prevIndex: 1, prevTerm: 1, newEntries: [entry(2, 1), entry(3, 1)])
    let handedOut = log.unstableEntries.last!
    _ = log.offer(prevIndex: 1, prevTerm: 1, newEntries: [entry(2, 1), entry(3, 2)])
    log.stable(to: handedOut.index, term: handedOut.term)
    #expect(log.stableIndex == 1)
    #expect(log.unstableEntries.map(\.index) == [2, 3])
  }

  @Test("commit(to:) only raises the commit index, and never past the last entry")
  func commitTo() {
    var log = makeLog(terms: [1, 1, 1])
    let raised = log.commit(to: 2)
    #expect(raised)
    #expect(log.commitIndex == 2)
    let lowered = log.commit(to: 1)
    #expect(!lowered)
    #expect(log.commitIndex == 2)
    let capped = log.commit(to: 9)
    #expect(capped)
    #expect(log.commitIndex == 3)
    let beyond = log.commit(to: .max)
    #expect(!beyond)
  }

  @Test("committedToApply hands out committed, unapplied entries in order, at most maxCount")
  func committedToApply() {
    var log = makeLog(terms: [1, 1, 1, 1, 1], commit: 4, applied: 1)
    #expect(log.committedToApply(maxCount: 10).map(\.index) == [2, 3, 4])
    #expect(log.committedToApply(maxCount: 2).map(\.index) == [2, 3])
    log.applied(to: 3)
    #expect(log.committedToApply(maxCount: 10).map(\.index) == [4])
    log.applied(to: 2)
    #expect(log.appliedIndex == 3, "never goes back")
    log.applied(to: 9)
    #expect(log.appliedIndex == 4, "never past commit")
    #expect(log.committedToApply(maxCount: 10).isEmpty)
  }

  // MARK: Compaction

  @Test("compact(through:) drops applied entries only, and keeps terms and byte counts right")
  func compact() {
    var log = makeLog(terms: [1, 1, 2, 2, 3], commit: 4, applied: 3)
    let bytesPerEntry = entry(1, 1, "e1").byteCount
    #expect(log.byteCount == 5 * bytesPerEntry)
    log.compact(through: 4)
    #expect(log.snapshotIndex == 0, "entry 4 is not applied yet")
    log.compact(through: 2)
    #expect(log.snapshotIndex == 2)
    #expect(log.term(at: 2) == 1)
    #expect(log.term(at: 1) == nil)
    #expect(log.entry(at: 3) == entry(3, 2, "e3"))
    #expect(log.lastIndex == 5)
    #expect(log.byteCount == 3 * bytesPerEntry)
    log.compact(through: 1)
    #expect(log.snapshotIndex == 2, "never goes back")
    #expect(log.isUpToDate(lastIndex: 5, lastTerm: 3))
  }

  @Test("restore(_:) keeps the entries after a snapshot the log agrees with")
  func restoreKeepsMatchingSuffix() {
    var log = makeLog(terms: [1, 1, 2, 2, 3], commit: 1, applied: 1)
    log.restore(SnapshotMetadata(index: 3, term: 2, membership: ["a"]))
    #expect(log.snapshotIndex == 3)
    #expect(log.lastIndex == 5)
    #expect(log.entry(at: 4) == entry(4, 2, "e4"))
    #expect(log.commitIndex == 3)
    #expect(log.appliedIndex == 3)
  }

  @Test("restore(_:) replaces a log that disagrees with the snapshot, or is shorter")
  func restoreReplacesLog() {
    var conflicting = makeLog(terms: [1, 1, 2, 2, 3], commit: 1, applied: 1)
    conflicting.restore(SnapshotMetadata(index: 4, term: 4, membership: ["a"]))
    #expect(conflicting.snapshotIndex == 4)
    #expect(conflicting.lastIndex == 4)
    #expect(conflicting.lastTerm == 4)
    #expect(conflicting.entries.isEmpty)
    #expect(conflicting.byteCount == 0)
    #expect(conflicting.commitIndex == 4)
    #expect(conflicting.appliedIndex == 4)
    #expect(conflicting.stableIndex == 4)

    var short = makeLog(terms: [1])
    short.restore(SnapshotMetadata(index: 9, term: 3, membership: ["a"]))
    #expect(short.lastIndex == 9)
    #expect(short.term(at: 9) == 3)

    var ahead = makeLog(terms: [2], snapshotIndex: 9, snapshotTerm: 3, commit: 9, applied: 9)
    let before = ahead
    ahead.restore(SnapshotMetadata(index: 5, term: 2, membership: ["a"]))
    #expect(ahead == before, "an older snapshot changes nothing")
  }

  // MARK: Up to date, and backtracking helpers

  struct UpToDateCase: Sendable, CustomTestStringConvertible {
    var lastTerm: UInt64
    var lastIndex: UInt64
    var expected: Bool
    var testDescription: String { "other (term \(lastTerm), index \(lastIndex)) -> \(expected)" }
  }

  @Test(
    "isUpToDate compares (last term, last index) as a pair: term first, then length",
    arguments: [
      UpToDateCase(lastTerm: 2, lastIndex: 3, expected: true),
      UpToDateCase(lastTerm: 2, lastIndex: 4, expected: true),
      UpToDateCase(lastTerm: 2, lastIndex: 2, expected: false),
      UpToDateCase(lastTerm: 3, lastIndex: 1, expected: true),
      UpToDateCase(lastTerm: 3, lastIndex: 0, expected: true),
      UpToDateCase(lastTerm: 1, lastIndex: 3, expected: false),
      UpToDateCase(lastTerm: 1, lastIndex: 100, expected: false),
      UpToDateCase(lastTerm: 0, lastIndex: 0, expected: false),
    ])
  func isUpToDate(example: UpToDateCase) {
    let log = makeLog(terms: [1, 1, 2])  // ends at (term 2, index 3)
    #expect(log.isUpToDate(lastIndex: example.lastIndex, lastTerm: example.lastTerm) == example.expected)
  }

  @Test("firstIndex(ofTermAt:) finds the start of a term's run, not below the commit index")
  func firstIndexOfTerm() {
    let log = makeLog(terms: [1, 1, 3, 3, 3, 5])
    #expect(log.firstIndex(ofTermAt: 5) == 3)
    #expect(log.firstIndex(ofTermAt: 3) == 3)
    #expect(log.firstIndex(ofTermAt: 2) == 1)
    #expect(log.firstIndex(ofTermAt: 6) == 6)
    #expect(log.firstIndex(ofTermAt: 9) == 9, "past the end: the index itself")
    let committed = makeLog(terms: [1, 1, 3, 3, 3, 5], commit: 4)
    #expect(committed.firstIndex(ofTermAt: 5) == 4)
  }

  @Test("lastIndex(ofTerm:atOrBelow:) finds the leader's last entry of a term, if it has any")
  func lastIndexOfTerm() {
    let log = makeLog(terms: [1, 1, 3, 3, 3, 5])
    #expect(log.lastIndex(ofTerm: 3, atOrBelow: 6) == 5)
    #expect(log.lastIndex(ofTerm: 3, atOrBelow: 4) == 4)
    #expect(log.lastIndex(ofTerm: 1, atOrBelow: 9) == 2)
    #expect(log.lastIndex(ofTerm: 2, atOrBelow: 6) == nil, "no entry of term 2")
    #expect(log.lastIndex(ofTerm: 4, atOrBelow: 6) == nil)
    #expect(log.lastIndex(ofTerm: 5, atOrBelow: 5) == nil, "none at or below 5")
    #expect(log.lastIndex(ofTerm: 7, atOrBelow: 6) == nil)
    let compacted = makeLog(terms: [3, 3], snapshotIndex: 4, snapshotTerm: 2, commit: 4, applied: 4)
    #expect(compacted.lastIndex(ofTerm: 2, atOrBelow: 6) == 4, "the snapshot point counts")
    #expect(compacted.lastIndex(ofTerm: 1, atOrBelow: 6) == nil, "compacted away")
  }
}
