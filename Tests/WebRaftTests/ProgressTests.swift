import Testing

@testable import WebRaft

@Suite("Progress: what the leader knows of one follower")
struct ProgressTests {
  @Test("a new follower is probed from the leader's next index, with nothing matched")
  func initialState() {
    let progress = Progress(next: 7, inflightCapacity: 4)
    #expect(progress.state == .probe)
    #expect(progress.match == 0)
    #expect(progress.next == 7)
    #expect(!progress.isPaused)
  }

  @Test("in probe state one append is outstanding at a time, and sending does not move next")
  func probeSendsOne() {
    var progress = Progress(next: 7, inflightCapacity: 4)
    progress.sent(lastIndex: 9, entryCount: 3)
    #expect(progress.isPaused)
    #expect(progress.next == 7, "the probe is resent from the same place until answered")
    #expect(progress.inflights.count == 0)
  }

  @Test("an acknowledgement raises match and next and unpauses a probe; a stale one changes nothing")
  func acknowledge() {
    var progress = Progress(next: 7, inflightCapacity: 4)
    progress.sent(lastIndex: 9, entryCount: 3)
    let advanced = progress.acknowledge(9)
    #expect(advanced)
    #expect(progress.match == 9)
    #expect(progress.next == 10)
    #expect(!progress.isPaused)
    let older = progress.acknowledge(5)
    #expect(!older, "an older acknowledgement is stale")
    #expect(progress.match == 9)
    #expect(progress.next == 10)
    let duplicate = progress.acknowledge(9)
    #expect(!duplicate, "a duplicate is stale")
  }

  @Test("becomeReplicate pipelines from match + 1; each non-empty append fills the window")
  func replicatePipelines() {
    var progress = Progress(next: 7, inflightCapacity: 2)
    _ = progress.acknowledge(6)
    progress.becomeReplicate()
    #expect(progress.state == .replicate)
    #expect(progress.next == 7)
    progress.sent(lastIndex: 8, entryCount: 2)
    #expect(progress.next == 9, "replicate state sends ahead optimistically")
    #expect(!progress.isPaused)
    progress.sent(lastIndex: 8, entryCount: 0)
    #expect(progress.inflights.count == 1, "an empty append (a commit update) takes no slot")
    progress.sent(lastIndex: 10, entryCount: 2)
    #expect(progress.next == 11)
    #expect(progress.isPaused, "the window of 2 is full")
    _ = progress.acknowledge(8)
    progress.inflights.free(upTo: 8)
    #expect(!progress.isPaused)
  }

  @Test("a rejection in replicate state falls back to probing at the hint; a stale rejection is ignored")
  func rejectInReplicate() {
    var progress = Progress(next: 1, inflightCapacity: 4)
    _ = progress.acknowledge(5)
    progress.becomeReplicate()
    progress.sent(lastIndex: 8, entryCount: 3)
    progress.sent(lastIndex: 12, entryCount: 4)
    // A rejection of an append whose previous index is at or below match is from an old probe.
    let stale = progress.reject(5, hint: 2)
    #expect(!stale)
    #expect(progress.state == .replicate)
    #expect(progress.next == 13)
    let current = progress.reject(8, hint: 7)
    #expect(current)
    #expect(progress.state == .probe)
    #expect(progress.next == 7)
    #expect(progress.inflights.count == 0)
    #expect(!progress.isPaused)
  }

  struct HintCase: Sendable, CustomTestStringConvertible {
    var match: UInt64
    var next: UInt64
    var rejected: UInt64
    var hint: UInt64
    var accepted: Bool
    var expectedNext: UInt64
    var testDescription: String {
      "match \(match), next \(next), rejected \(rejected), hint \(hint) -> \(accepted ? "next \(expectedNext)" : "ignored")"
    }
  }

  @Test(
    "a rejection in probe state moves next to the hint, never below match + 1 nor above the rejected index",
    arguments: [
      HintCase(match: 0, next: 11, rejected: 10, hint: 4, accepted: true, expectedNext: 4),
      HintCase(match: 0, next: 11, rejected: 10, hint: 0, accepted: true, expectedNext: 1),
      HintCase(match: 3, next: 11, rejected: 10, hint: 2, accepted: true, expectedNext: 4),
      HintCase(match: 0, next: 11, rejected: 10, hint: 50, accepted: true, expectedNext: 10),
      HintCase(match: 0, next: 11, rejected: 10, hint: 10, accepted: true, expectedNext: 10),
      // Not the outstanding probe: a stale or duplicated rejection.
      HintCase(match: 0, next: 11, rejected: 7, hint: 2, accepted: false, expectedNext: 11),
      HintCase(match: 0, next: 11, rejected: 12, hint: 2, accepted: false, expectedNext: 11),
    ])
  func rejectInProbe(example: HintCase) {
    var progress = Progress(next: example.next, inflightCapacity: 4)
    progress.match = example.match
    progress.sent(lastIndex: example.next, entryCount: 1)
    let outcome = progress.reject(example.rejected, hint: example.hint)
    #expect(outcome == example.accepted)
    #expect(progress.next == example.expectedNext)
    #expect(progress.isPaused == !example.accepted, "an accepted rejection lets the next probe go")
  }

  @Test("becomeProbe restarts from match + 1 and empties the window")
  func becomeProbe() {
    var progress = Progress(next: 1, inflightCapacity: 2)
    _ = progress.acknowledge(4)
    progress.becomeReplicate()
    progress.sent(lastIndex: 6, entryCount: 2)
    progress.sent(lastIndex: 8, entryCount: 2)
    #expect(progress.isPaused)
    progress.becomeProbe()
    #expect(progress.state == .probe)
    #expect(progress.next == 5)
    #expect(progress.inflights.count == 0)
    #expect(!progress.isPaused)
  }

  @Test("while a snapshot is being sent no append goes out and rejections are ignored")
  func snapshotState() {
    var progress = Progress(next: 3, inflightCapacity: 4)
    progress.becomeSnapshot(index: 50)
    #expect(progress.state == .snapshot)
    #expect(progress.snapshotIndex == 50)
    #expect(progress.isPaused)
    progress.sent(lastIndex: 60, entryCount: 3)
    #expect(progress.next == 3)
    let rejected = progress.reject(2, hint: 1)
    #expect(!rejected)
    #expect(progress.state == .snapshot)
  }
}
