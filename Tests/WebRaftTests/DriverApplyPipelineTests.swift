import Testing

@testable import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A host for a driver in a test: it completes every action at once, except that it only records
/// the batches handed out to apply, to report them when the test says.
struct PipelineHost {
  var driver: RaftDriver
  /// The entries handed out to apply and not reported yet, in order.
  var applying: [LogEntry] = []
  /// Everything the driver handed out, in order.
  var actions: [DriverAction] = []
  /// The requests the driver settled.
  var settled: [(UInt64, RequestOutcome)] = []

  init(_ core: RaftCore, snapshotEvery interval: UInt64? = nil) {
    driver = RaftDriver(
      core: core, appliedIndex: core.appliedIndex, appliedMembership: core.membership,
      snapshotPolicy: RaftDriver.SnapshotPolicy(entryInterval: interval, logBytes: nil))
  }

  /// Carries out what the driver hands out until it has nothing more; returns those actions.
  @discardableResult
  mutating func run() -> [DriverAction] {
    var done: [DriverAction] = []
    while true {
      guard let action = driver.next(resolve: { settled.append(($0, $1)) }) else {
        if driver.takeFinishedReady() { continue }
        break
      }
      done.append(action)
      switch action {
      case .persist: driver.persisted()
      case .apply(let entries, let first): applying += entries[first...]
      case .writeSnapshotChunk: driver.snapshotChunkWritten(accepted: true)
      case .installSnapshot(let metadata):
        driver.snapshotInstalled(metadata, resolve: { settled.append(($0, $1)) })
      case .captureSnapshot(let metadata): driver.snapshotCaptured(metadata)
      case .commitSnapshot(let metadata): driver.snapshotCommitted(metadata)
      case .readSnapshotChunk: driver.snapshotChunkUnavailable()
      case .send, .publish, .discardSnapshot: break
      }
    }
    actions += done
    return done
  }

  /// Reports the first `count` entries handed out as applied.
  mutating func apply(_ count: Int) {
    for entry in applying.prefix(count) {
      driver.applied(entry, resolve: { settled.append(($0, $1)) })
    }
    applying.removeFirst(min(count, applying.count))
  }
}

extension DriverAction {
  var persistedEntries: [LogEntry]? {
    if case .persist(_, let entries) = self { return entries }
    return nil
  }

  var sentMessages: [RaftMessage]? {
    if case .send(let messages, let range) = self { return Array(messages[range]) }
    return nil
  }

  var appliedEntries: [LogEntry]? {
    if case .apply(let entries, let first) = self { return Array(entries[first...]) }
    return nil
  }

  var capturedMetadata: SnapshotMetadata? {
    if case .captureSnapshot(let metadata) = self { return metadata }
    return nil
  }
}

/// Leader "a" of a, b, c in term 1 with its no-op (index 1) committed and handed out to apply, not
/// yet applied.
func pipelineLeader(
  snapshotEvery interval: UInt64? = nil, maxApplyingEntries: Int = 16_384
) throws -> PipelineHost {
  var configuration = testConfiguration(preVote: false)
  configuration.maxApplyingEntries = maxApplyingEntries
  var host = PipelineHost(try makeCore("a", configuration: configuration), snapshotEvery: interval)
  host.driver.campaign()
  host.run()
  host.driver.step(voteResponse("b", "a", term: 1, granted: true))
  host.run()
  #expect(host.driver.core.role == .leader)
  host.driver.step(appendAccepted("b", "a", term: 1, index: 1))
  host.run()
  #expect(host.applying.map(\.index) == [1])
  return host
}

@Suite("Driver: applying runs behind replication")
struct DriverApplyPipelineTests {
  @Test("while an apply is outstanding, the next Ready is persisted and sent, and its entries committed")
  func nextReadyGoesOnWhileApplying() throws {
    var host = try pipelineLeader()
    #expect(host.driver.appliedIndex == 0)

    _ = try host.driver.propose(Data("x".utf8), requestID: 7, deadline: nil)
    let actions = host.run()
    #expect(actions.compactMap(\.persistedEntries).flatMap { $0 }.map(\.index) == [2])
    let appended = appends(in: actions.compactMap(\.sentMessages).flatMap { $0 })
    #expect(appended.contains { $0.append.entries.map(\.index) == [2] })

    // Its commit is handed out too, behind the no-op still being applied.
    host.driver.step(appendAccepted("b", "a", term: 1, index: 2))
    host.run()
    #expect(host.applying.map(\.index) == [1, 2])
    #expect(host.driver.core.commitIndex == 2 && host.driver.appliedIndex == 0)
    #expect(host.settled.isEmpty)

    // Completions settle the proposal in order.
    host.apply(1)
    #expect(host.driver.appliedIndex == 1 && host.settled.isEmpty)
    host.apply(1)
    #expect(host.driver.appliedIndex == 2)
    #expect(host.settled.map(\.0) == [7])
    guard case .applied(let entry) = host.settled.first?.1 else {
      Issue.record("the proposal was not settled as applied: \(host.settled)")
      return
    }
    #expect(entry.index == 2)
  }

  @Test("a due snapshot is captured only once everything handed out is applied, before more is handed out")
  func captureWaitsForTheApplyBoundary() throws {
    var host = try pipelineLeader(snapshotEvery: 2)
    _ = try host.driver.propose(Data("x".utf8), requestID: 7, deadline: nil)
    host.run()
    host.driver.step(appendAccepted("b", "a", term: 1, index: 2))
    host.run()
    #expect(host.applying.map(\.index) == [1, 2])
    // Entry 3 commits while 1 and 2 are being applied; the snapshot due at 2 holds it back.
    _ = try host.driver.propose(Data("y".utf8), requestID: 8, deadline: nil)
    host.run()
    host.driver.step(appendAccepted("b", "a", term: 1, index: 3))
    host.run()
    #expect(host.driver.core.commitIndex == 3)
    #expect(host.applying.map(\.index) == [1, 2])
    #expect(host.actions.allSatisfy { $0.capturedMetadata == nil })

    host.apply(1)
    #expect(host.run().allSatisfy { $0.capturedMetadata == nil }, "captured with index 2 still applying")
    host.apply(1)
    let after = host.run()
    #expect(after.first?.capturedMetadata?.index == 2, "\(after)")
    let captureAt = after.firstIndex { $0.capturedMetadata != nil } ?? after.endIndex
    let applyAt = after.firstIndex { $0.appliedEntries != nil } ?? after.endIndex
    #expect(captureAt < applyAt)
    #expect(host.applying.map(\.index) == [3])
  }

  @Test("a snapshot due while several entries are being applied waits for the last of them")
  func captureWaitsForEveryEntryHandedOut() throws {
    var host = try pipelineLeader(snapshotEvery: 2)
    // Entries 2 and 3 commit together and are handed out behind the no-op (none is due yet).
    _ = try host.driver.propose(Data("x".utf8), requestID: 7, deadline: nil)
    _ = try host.driver.propose(Data("y".utf8), requestID: 8, deadline: nil)
    host.run()
    host.driver.step(appendAccepted("b", "a", term: 1, index: 3))
    host.run()
    #expect(host.applying.map(\.index) == [1, 2, 3])

    // With 2 applied a snapshot is due, but the state machine may be applying 3 already: a state
    // captured now could hold entry 3 under metadata that says 2, and a node restored from it
    // would apply 3 twice.
    host.apply(2)
    #expect(host.driver.appliedIndex == 2)
    #expect(host.run().allSatisfy { $0.capturedMetadata == nil }, "captured with index 3 still applying")
    host.apply(1)
    let after = host.run()
    #expect(after.compactMap(\.capturedMetadata).map(\.index) == [3], "\(after)")
  }

  @Test("at most maxApplyingEntries wait to be applied; persisting and sending go on past the limit")
  func pipelineIsBounded() throws {
    var host = try pipelineLeader(maxApplyingEntries: 2)
    for (number, index) in zip(0..<4, UInt64(2)...) {
      _ = try host.driver.propose(Data("c\(number)".utf8), requestID: 10 + UInt64(number), deadline: nil)
      let actions = host.run()
      #expect(actions.compactMap(\.persistedEntries).flatMap { $0 }.map(\.index) == [index])
      host.driver.step(appendAccepted("b", "a", term: 1, index: index))
      host.run()
    }
    #expect(host.driver.core.commitIndex == 5)
    #expect(host.applying.map(\.index) == [1, 2])
    #expect(host.driver.handedOutIndex == 2)
    // A heartbeat still goes out while the state machine is full.
    host.driver.tick(now: host.driver.core.now + 150)
    #expect(!heartbeats(in: host.run().compactMap(\.sentMessages).flatMap { $0 }).isEmpty)

    host.apply(1)
    host.run()
    #expect(host.applying.map(\.index) == [2, 3])
    host.apply(2)
    host.run()
    #expect(host.applying.map(\.index) == [4, 5])
    host.apply(2)
    #expect(host.driver.appliedIndex == 5)
    #expect(Set(host.settled.map(\.0)) == [10, 11, 12, 13])
  }

  @Test("a snapshot received from the leader is installed only after the entries being applied")
  func installWaitsForOutstandingApplies() throws {
    var host = PipelineHost(try makeCore("b", configuration: testConfiguration(preVote: false)))
    host.driver.step(
      append(
        "a", "b", term: 1, prevIndex: 0, prevTerm: 0, entries: [entry(1, 1, "x"), entry(2, 1, "y")],
        commit: 2))
    host.run()
    #expect(host.applying.map(\.index) == [1, 2])

    let metadata = SnapshotMetadata(index: 5, term: 1, membership: ["a", "b", "c"])
    host.driver.step(
      message(
        "a", "b", term: 1,
        .installSnapshot(
          InstallSnapshot(metadata: metadata, totalSize: 3, offset: 0, data: Data("abc".utf8), done: true))))
    let before = host.run()
    #expect(before.contains { if case .writeSnapshotChunk = $0 { true } else { false } })
    #expect(!before.contains { if case .installSnapshot = $0 { true } else { false } })
    #expect(host.driver.waitsForApplies)

    host.apply(2)
    let after = host.run()
    #expect(after.contains { if case .installSnapshot(metadata) = $0 { true } else { false } })
    #expect(host.driver.appliedIndex == 5 && host.driver.handedOutIndex == 5)
  }
}
