import Testing

@testable import WebRaft

// The rule the core keeps wherever its log changes: the configuration in force is the last
// configuration entry in the log, or the snapshot's when the log holds none after it. A
// configuration whose entry left the log (truncated, or dropped with a log that a snapshot
// replaced) must not stay in force, nor be written into a later snapshot.

/// The membership of the snapshot every case starts from.
private let base = Membership(voters: ["a", "b", "c"])
/// The configuration logged at index 8 in the cases below.
private let withLearnerD = Membership(voters: ["a", "b", "c"], learners: ["d"])
/// Another configuration, written by a later leader.
private let withLearnerE = Membership(voters: ["a", "b", "c"], learners: ["e"])

/// A follower (a) restarted with entries 1–10 of term 1, none committed, where entry 8 adds
/// learner d.
private func followerWithConfigurationAt8() throws -> RaftCore {
  var entries = logEntries(terms: Array(repeating: 1, count: 10))
  entries[7] = LogEntry(index: 8, term: 1, payload: .membership(withLearnerD))
  let state = PersistentState(
    hardState: HardState(term: 1),
    snapshot: SnapshotMetadata(index: 0, term: 0, membership: base),
    entries: entries)
  return try RaftCore(id: "a", configuration: testConfiguration(), state: state, seed: 1)
}

/// One way the log changes, and the configuration that must be in force afterwards.
struct LogChange: Sendable, CustomTestStringConvertible {
  var name: String
  var change: @Sendable (inout RaftCore) throws -> Void
  var expected: Membership
  var testDescription: String { name }

  static let all: [LogChange] = [
    LogChange(
      name: "restart with a configuration entry in the log: that entry", change: { _ in },
      expected: withLearnerD),
    LogChange(
      name: "restart with no configuration entry after the snapshot: the snapshot's",
      change: { core in
        let state = PersistentState(
          hardState: HardState(term: 1),
          snapshot: SnapshotMetadata(index: 3, term: 1, membership: withLearnerE),
          entries: logEntries(terms: [1, 1], from: 4))
        core = try RaftCore(id: "a", configuration: testConfiguration(), state: state, seed: 1)
      },
      expected: withLearnerE),
    LogChange(
      name: "append that truncates a suffix holding a configuration: the one before it",
      change: { core in
        core.step(
          append("b", term: 2, prevIndex: 6, prevTerm: 1, entries: logEntries(terms: [2, 2, 2], from: 7)))
      },
      expected: base),
    LogChange(
      name: "append that replaces a configuration by another at the same index: the new one",
      change: { core in
        core.step(
          append(
            "b", term: 2, prevIndex: 7, prevTerm: 1,
            entries: [LogEntry(index: 8, term: 2, payload: .membership(withLearnerE))]))
      },
      expected: withLearnerE),
    LogChange(
      name: "append that truncates only entries after the configuration: it stays",
      change: { core in
        core.step(append("b", term: 2, prevIndex: 8, prevTerm: 1, entries: logEntries(terms: [2], from: 9)))
      },
      expected: withLearnerD),
    LogChange(
      name: "snapshot install that keeps the log after it: the configuration after it",
      change: { core in
        core.snapshotInstalled(SnapshotMetadata(index: 5, term: 1, membership: base))
      },
      expected: withLearnerD),
    LogChange(
      name: "snapshot install that replaces the log: the snapshot's",
      change: { core in
        core.step(message("b", "a", term: 2, .heartbeat(Heartbeat(commit: 0))))
        core.snapshotInstalled(SnapshotMetadata(index: 5, term: 2, membership: base))
      },
      expected: base),
    LogChange(
      name: "snapshot install past the end of the log: the snapshot's",
      change: { core in
        core.step(message("b", "a", term: 2, .heartbeat(Heartbeat(commit: 0))))
        core.snapshotInstalled(SnapshotMetadata(index: 12, term: 2, membership: withLearnerE))
      },
      expected: withLearnerE),
    LogChange(
      name: "compaction through the configuration entry: it stays, now the snapshot's",
      change: { core in
        core.step(append("b", term: 1, prevIndex: 10, prevTerm: 1, commit: 10))
        core.drain()
        let metadata = try #require(core.snapshotMetadata(at: 9))
        #expect(metadata.membership == withLearnerD)
        core.snapshotCommitted(metadata)
      },
      expected: withLearnerD),
  ]
}

@Suite("Membership bookkeeping: the configuration in force follows the log")
struct MembershipBookkeepingTests {
  @Test(
    "the configuration in force is the last configuration entry in the log, or the snapshot's when none follows it",
    arguments: LogChange.all)
  func configurationInForceFollowsTheLog(_ scenario: LogChange) throws {
    var core = try followerWithConfigurationAt8()
    #expect(core.membership == withLearnerD)
    try scenario.change(&core)
    #expect(core.membership == scenario.expected)
    let logged = core.entries.last { entry in
      if case .membership = entry.payload { return true }
      return false
    }
    if case .membership(let last)? = logged?.payload {
      #expect(core.membership == last, "the last configuration entry in the log is in force")
    }
    // A restart from what storage now holds comes to the same configuration.
    let snapshot = try #require(core.snapshotMetadata(at: core.snapshotIndex) ?? fallbackSnapshot(core))
    let restarted = try RaftCore(
      id: "a", configuration: testConfiguration(),
      state: PersistentState(hardState: core.hardState, snapshot: snapshot, entries: core.entries), seed: 1)
    #expect(restarted.membership == core.membership)
  }

  /// The metadata of the core's snapshot point, for a core whose state machine is not applied
  /// that far (snapshotMetadata(at:) only describes applied indexes).
  private func fallbackSnapshot(_ core: RaftCore) -> SnapshotMetadata? {
    core.term(at: core.snapshotIndex).map {
      SnapshotMetadata(index: core.snapshotIndex, term: $0, membership: core.baseMembership)
    }
  }

  @Test(
    "a snapshot install that replaces the log drops the configurations of the dropped entries, also after the next appends and in the next snapshot"
  )
  func snapshotReplacingTheLogDropsItsConfigurations() throws {
    var core = try followerWithConfigurationAt8()
    core.step(message("b", "a", term: 2, .heartbeat(Heartbeat(commit: 0))))
    core.snapshotInstalled(SnapshotMetadata(index: 5, term: 2, membership: base))
    #expect(core.lastIndex == 5, "the log was replaced by the snapshot")
    #expect(core.membership == base)
    let installed = core.drain().flatMap(\.events)
    #expect(installed.contains(.leave("d")))

    // The leader of term 2 appends entries without a configuration, and commits them.
    core.step(
      append("b", term: 2, prevIndex: 5, prevTerm: 2, entries: logEntries(terms: [2, 2, 2], from: 6)))
    core.step(append("b", term: 2, prevIndex: 8, prevTerm: 2, commit: 8))
    core.drain()
    #expect(core.appliedIndex == 8)
    #expect(core.membership == base)
    let next = try #require(core.snapshotMetadata(at: 8))
    #expect(next.membership == base, "the next snapshot stores the configuration in force")
  }
}
