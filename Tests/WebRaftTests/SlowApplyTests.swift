import Logging
import Synchronization
import Testing
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A state machine that takes `delay` to apply each command, as one that writes to a slow disk
/// does; it records the commands in order.
final class SlowMachine: RaftStateMachine {
  let delay: Duration
  let applied = Mutex<[String]>([])

  init(delay: Duration) {
    self.delay = delay
  }

  func apply(_ command: Data, index: UInt64, term: UInt64) async throws -> Int {
    try await Task.sleep(for: delay)
    return applied.withLock {
      $0.append(String(decoding: command, as: UTF8.self))
      return $0.count
    }
  }

  var commands: [String] { applied.withLock { $0 } }
}

/// Records when each node sent appends and heartbeats to each other node, and every election
/// (or pre-vote) started.
final class ReplicationLog: Sendable {
  private let sends = Mutex<[String: [ContinuousClock.Instant]]>([:])
  private let elections = Mutex<[NodeID]>([])

  func sent(_ message: RaftMessage) {
    switch message.body {
    case .appendEntries, .heartbeat:
      let now = ContinuousClock.now
      sends.withLock { $0["\(message.from)->\(message.to)", default: []].append(now) }
    default:
      break
    }
  }

  func electionStarted(on node: NodeID) {
    elections.withLock { $0.append(node) }
  }

  var electionsStarted: [NodeID] { elections.withLock { $0 } }

  /// The longest time between two appends or heartbeats from `leader` to `follower` within
  /// `window`.
  func longestGap(from leader: NodeID, to follower: NodeID, within window: Range<ContinuousClock.Instant>)
    -> Duration
  {
    let times = sends.withLock { $0["\(leader)->\(follower)"] ?? [] }.filter { window.contains($0) }
    var longest = Duration.zero
    var previous = window.lowerBound
    for time in times + [window.upperBound] {
      longest = max(longest, time - previous)
      previous = time
    }
    return longest
  }
}

/// The leader's commit and applied indexes over time, and when the last proposal was made.
final class IndexSamples: Sendable {
  struct Sample {
    var time: ContinuousClock.Instant
    var commit: UInt64
    var applied: UInt64
  }
  private let samples = Mutex<[Sample]>([])
  private let lastProposal = Mutex<ContinuousClock.Instant?>(nil)

  func record(_ status: RaftStatus) {
    let now = ContinuousClock.now
    samples.withLock {
      $0.append(Sample(time: now, commit: status.commitIndex, applied: status.appliedIndex))
    }
  }

  func proposingLast() {
    let now = ContinuousClock.now
    lastProposal.withLock { $0 = now }
  }

  var recorded: [Sample] { samples.withLock { $0 } }
  var lastProposed: ContinuousClock.Instant? { lastProposal.withLock { $0 } }
}

/// A peer that reports what it sends to a ``ReplicationLog``.
struct RecordingPeer: RaftPeer {
  let inner: any RaftPeer
  let log: ReplicationLog
  var id: NodeID { inner.id }

  func write(_ message: RaftMessage) {
    log.sent(message)
    inner.write(message)
  }

  nonisolated(nonsending) func send(_ message: RaftMessage) async {
    log.sent(message)
    await inner.send(message)
  }

  func close() { inner.close() }
}

@Suite("Runtime: a slow state machine does not hold up replication", .serialized)
struct SlowApplyTests {
  @Test(
    "with a 50 ms apply per command, heartbeats keep their pace, no election starts, and later entries commit long before they are applied"
  )
  func slowApplyDoesNotDelayReplication() async throws {
    // Timeouts well above the heartbeat interval, so that only a node that stops sending (not a
    // busy test machine) makes a follower time out; the old driver held the leader's heartbeats
    // for the whole apply of a batch, 50 ms a command.
    var configuration = RaftConfiguration(
      electionTimeout: .milliseconds(300)...(.milliseconds(450)), heartbeatInterval: .milliseconds(20),
      heartbeatTimeout: .milliseconds(250))
    configuration.maxClockDrift = .milliseconds(20)
    let network = InMemoryNetwork()
    let log = ReplicationLog()
    let members: [NodeID] = ["a", "b", "c"]
    var nodes: [NodeID: RaftNode<SlowMachine>] = [:]
    var machines: [NodeID: SlowMachine] = [:]
    for member in members {
      let machine = SlowMachine(delay: .milliseconds(50))
      let makePeer = network.makePeer(from: member)
      let node = try await RaftNode(
        id: member, configuration: configuration, bootstrap: Membership(voters: Set(members)),
        storage: InMemoryStorage(), stateMachine: machine, proposalTimeout: .seconds(10),
        logger: Logger(label: "test"),
        makePeer: { target, inbound in RecordingPeer(inner: makePeer(target, inbound), log: log) })
      network.register(member, inbound: node.inbound)
      // A pre-vote counts too: it means a follower stopped hearing from the leader.
      node.listen(.startElection) { _ in log.electionStarted(on: member) }
      nodes[member] = node
      machines[member] = machine
    }
    var leaderID: NodeID?
    for _ in 0..<300 where leaderID == nil {
      for member in members where await nodes[member]!.status.role == .leader { leaderID = member }
      try await Task.sleep(for: .milliseconds(10))
    }
    let leaderIDFound = try #require(leaderID)
    let leader = nodes[leaderIDFound]!
    // Let the election's no-op apply, so that the proposals below start from a settled cluster.
    #expect(await eventually { await leader.status.appliedIndex == leader.status.commitIndex })
    let before = await leader.status
    let electionsBefore = log.electionsStarted.count
    let started = ContinuousClock.now

    // 20 proposals, one every 10 ms, without waiting for their results; the leader's status is
    // sampled meanwhile.
    let count = 20
    let lastIndex = before.lastIndex + UInt64(count)
    let samples = IndexSamples()
    let outputs = try await withThrowingTaskGroup(of: Int?.self) { group in
      group.addTask {
        while ContinuousClock.now - started < .seconds(4) {
          let status = await leader.status
          samples.record(status)
          if status.appliedIndex >= lastIndex { break }
          try await Task.sleep(for: .milliseconds(2))
        }
        return nil
      }
      for number in 0..<count {
        if number == count - 1 { samples.proposingLast() }
        group.addTask { try await leader.propose(Data("cmd\(number)".utf8)) }
        try await Task.sleep(for: .milliseconds(10))
      }
      var outputs: [Int] = []
      for try await output in group { if let output { outputs.append(output) } }
      return outputs
    }
    let finished = ContinuousClock.now

    #expect(outputs.sorted() == Array(1...count))
    // (a) No election: the same leader in the same term, and each follower heard from it at
    // least every 200 ms (heartbeats are due every 20 ms; the old driver went 500 ms without a
    // word) while the state machines lagged.
    #expect(log.electionsStarted.count == electionsBefore, "elections started on \(log.electionsStarted)")
    let after = await leader.status
    #expect(after.role == .leader && after.term == before.term)
    for member in members where member != leaderIDFound {
      #expect(await nodes[member]!.status.leader == leaderIDFound)
      let gap = log.longestGap(from: leaderIDFound, to: member, within: started..<finished)
      #expect(gap < .milliseconds(200), "\(member) heard nothing from the leader for \(gap)")
    }
    // (b) Commits go on while applying lags: the last proposal's entry commits within 300 ms of
    // being proposed (a few milliseconds on an idle machine; 660 ms with the old driver), when the
    // state machine is still several entries behind it (it applies one command per 50 ms).
    let proposedLast = try #require(samples.lastProposed)
    let recorded = samples.recorded
    let committed = try #require(
      recorded.first { $0.commit >= lastIndex }, "the last entry never committed while sampled")
    #expect(
      committed.time - proposedLast < .milliseconds(300),
      "the last entry committed \(committed.time - proposedLast) after it was proposed")
    #expect(
      committed.applied + 5 <= lastIndex,
      "the state machine had applied \(committed.applied) of \(lastIndex) when the last entry committed")
    let widestLag = recorded.map { $0.commit - $0.applied }.max() ?? 0
    #expect(widestLag >= 5, "the commit index ran at most \(widestLag) entries ahead of the applied index")

    for member in members {
      let machine = machines[member]!
      #expect(await eventually(5) { machine.commands.count == count })
      #expect(Set(machine.commands) == Set((0..<count).map { "cmd\($0)" }))
    }
    for node in nodes.values { await node.shutdown() }
  }

  @Test(
    "shutdown while entries wait to be applied ends the applier after the command under way and fails every waiting proposal"
  )
  func shutdownStopsTheApplier() async throws {
    let machine = SlowMachine(delay: .milliseconds(50))
    let node = try await RaftNode(
      id: "solo", configuration: fastConfiguration(), bootstrap: ["solo"], storage: InMemoryStorage(),
      stateMachine: machine, logger: Logger(label: "test"),
      makePeer: InMemoryNetwork().makePeer(from: "solo"))
    #expect(await eventually { await node.status.role == .leader })
    let count = 10
    let outcomes = (0..<count).map { number in
      Task { () -> RaftError? in
        do {
          _ = try await node.propose(Data("cmd\(number)".utf8))
          return nil
        } catch let error as RaftError {
          return error
        } catch {
          return .cancelled
        }
      }
    }
    // Everything commits at once; the state machine applies one command per 50 ms.
    #expect(await eventually { await node.status.commitIndex >= UInt64(count + 1) })
    #expect(await eventually { machine.commands.count >= 2 })
    let stopping = ContinuousClock.now
    await node.shutdown()
    #expect(ContinuousClock.now - stopping < .milliseconds(500))
    let appliedAtShutdown = machine.commands.count
    #expect(appliedAtShutdown < count)
    var failed = 0
    for outcome in outcomes {
      switch await outcome.value {
      case nil: break
      case .shutdown?: failed += 1
      case let other?: Issue.record("a proposal ended with \(other)")
      }
    }
    // The proposals whose commands were applied before the shutdown may have returned.
    #expect(failed >= count - appliedAtShutdown)
    try await Task.sleep(for: .milliseconds(200))
    #expect(machine.commands.count == appliedAtShutdown, "the state machine applied after the shutdown")
  }
}
