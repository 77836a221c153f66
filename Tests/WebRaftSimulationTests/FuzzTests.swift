import Foundation
import Testing
import WebRaft
import WebRaftTesting

/// The randomized fuzzer: every seed builds a random cluster (1–9 nodes, pre-vote and check-quorum
/// on or off, small or large append windows), keeps clients proposing on random nodes, and throws
/// every kind of fault at it — crashes that lose unsynced writes, restarts, isolated nodes, one-way
/// and two-way link cuts, partitions, loss, duplicates, delays, long reordering, slow disks — and,
/// on some seeds, membership changes, snapshots with log compaction and InstallSnapshot in small
/// chunks, linearizable and lease reads (also on stale leaders), leadership transfers, slow state
/// machines (applying behind replication, with a queue that fills up), late timers and clocks that
/// drift apart. The invariant checker watches
/// every step. At the end
/// everything is healed and the cluster must agree again with every acknowledged proposal applied
/// on every node.
///
/// `swift test` runs 300 seeds; `WEBRAFT_FUZZ_SEEDS=N` runs N (from `WEBRAFT_FUZZ_FIRST`, default
/// 1), `WEBRAFT_SEED=N` replays seed N alone, and `WEBRAFT_FUZZ_VERBOSE=1` prints what each seed did.
@Suite("Simulation: fuzzer")
struct FuzzTests {
  static let seeds = SimulationEnvironment.fuzzSeeds(defaultCount: 300)
  static let chunkCount = 4

  /// One fuzzer run.
  static func fuzz(seed: UInt64) throws {
    var setup = SplitMix64(seed: seed ^ 0xF022_F022_F022_F022)
    let size = [1, 2, 3, 3, 3, 4, 5, 5, 5, 5, 6, 7, 9].randomElement(using: &setup)!
    var configuration = RaftConfiguration()
    switch Int.random(in: 0..<10, using: &setup) {
    case 0: configuration.preVote = false
    case 1: configuration.checkQuorum = false
    case 2:
      configuration.preVote = false
      configuration.checkQuorum = false
    default: break
    }
    if Int.random(in: 0..<2, using: &setup) == 0 {
      configuration.maxInflightAppends = [1, 2, 4, 256].randomElement(using: &setup)!
      configuration.maxEntriesPerAppend = [1, 2, 3, 16].randomElement(using: &setup)!
    }
    let snapshotInterval: UInt64? = [nil, nil, 5, 20, 100].randomElement(using: &setup)!
    if snapshotInterval != nil {
      configuration.snapshotChunkSize = [1, 16, 64, 1 << 20].randomElement(using: &setup)!
    }
    let readsAndTransfers = Int.random(in: 0..<3, using: &setup) == 0
    let faultRate = [0.2, 0.4, 0.7, 1.0].randomElement(using: &setup)!
    let changesMembership = size >= 2 && Int.random(in: 0..<4, using: &setup) == 0
    // Drawn apart from `setup`, so that seeds without joint changes keep the runs they had.
    var jointSetup = SplitMix64(seed: seed ^ 0x4A01_4A01_4A01_4A01)
    let jointChanges = changesMembership && size >= 3 && Int.random(in: 0..<2, using: &jointSetup) == 0
    // Commit indexes sent at once (the paper) or carried by the next append.
    configuration.commitNotificationDelay = .milliseconds([0, 2, 2, 10].randomElement(using: &setup)!)
    // Small apply batches, and a state machine whose queue fills up (the driver then hands out no
    // committed entries until it catches up); drawn apart so that the other choices stay as they
    // were for each seed.
    var applyLimits = SplitMix64(seed: seed ^ 0x0A99_1E00_0A99_1E00)
    configuration.maxApplyBatch = [4096, 4096, 1, 3].randomElement(using: &applyLimits)!
    configuration.maxApplyingEntries = [16_384, 16_384, 1, 4].randomElement(using: &applyLimits)!
    let simulator = try ClusterSimulator(seed: seed, nodes: size, configuration: configuration)
    simulator.diskDelay = [0...2, 0...2, 0...10, 5...60].randomElement(using: &setup)!
    simulator.snapshotInterval = snapshotInterval
    // Leaders' appends leave while their own write runs (dissertation §10.2.1), or after it.
    simulator.sendsEarlyMessages = Int.random(in: 0..<4, using: &setup) != 0
    if Bool.random(using: &setup) { randomizeNetwork(simulator) }
    // A slow state machine, and timers that fire late (a starved tick task, a paused process).
    simulator.applyDelay = [0...0, 0...0, 0...3, 1...20].randomElement(using: &setup)!
    simulator.tickDelay = [0...0, 0...0, 0...5, 0...40, 100...600].randomElement(using: &setup)!
    // Clocks that run at different rates, within what lease reads assume (2 × 4 % of a heartbeat
    // timeout stays below maxClockDrift).
    simulator.setClockDrift([0, 0, 0.01, 0.04].randomElement(using: &setup)!)
    // The specification trace is written whether the run passes or fails, so that
    // scripts/check-trace.py can show the first step the specification does not allow.
    let directory = SimulationEnvironment.specTraceDirectory
    let recorder = directory.map { _ in simulator.startSpecTrace() }
    defer {
      if let recorder, let directory {
        try? recorder.write(to: URL(fileURLWithPath: "\(directory)/seed-\(seed).jsonl"))
      }
    }

    var counter = 0
    let rounds = 15 + simulator.randomInt(0..<30)
    for _ in 0..<rounds {
      if Double.random(in: 0..<1, using: &simulator.random) < faultRate {
        try injectFault(simulator)
      }
      if simulator.randomInt(0..<100) < 35 {
        try repair(simulator)
      }
      if changesMembership, simulator.randomInt(0..<100) < 20 {
        if jointChanges, simulator.randomInt(0..<2) == 0 {
          try changeMembershipJointly(simulator)
        } else {
          try changeMembership(simulator)
        }
      }
      if snapshotInterval != nil, simulator.randomInt(0..<100) < 5 {
        try simulator.requestSnapshot(on: simulator.node(simulator.randomInt(0..<size)))
      }
      if readsAndTransfers, simulator.randomInt(0..<100) < 10, let leader = simulator.currentLeader() {
        let target = simulator.randomInt(0..<2) == 0 ? nil : simulator.node(simulator.randomInt(0..<size))
        try simulator.transferLeadership(on: leader, to: target)
      }
      // Clients keep proposing, on the leader or on any node (which forwards to the leader).
      for _ in 0..<(3 + simulator.randomInt(0..<10)) {
        for _ in 0..<simulator.randomInt(0..<4) {
          counter += 1
          let target =
            simulator.randomInt(0..<2) == 0
            ? simulator.currentLeader() ?? simulator.node(simulator.randomInt(0..<size))
            : simulator.node(simulator.randomInt(0..<size))
          try simulator.propose(command("z\(counter)"), on: target)
        }
        if readsAndTransfers {
          try simulator.read(on: simulator.node(simulator.randomInt(0..<size)))
          // Also on a stale leader, which must have stopped trusting its lease by now.
          let believers = simulator.leaders()
          if !believers.isEmpty {
            _ = try simulator.leaseRead(on: believers[simulator.randomInt(0..<believers.count)])
          }
        }
        try simulator.run(for: UInt64(5 + simulator.randomInt(0..<60)))
      }
    }

    // Heal everything: the cluster must agree again, and keep every acknowledged proposal.
    simulator.reconnectAll()
    simulator.network.makeReliable()
    simulator.diskDelay = 0...2
    simulator.applyDelay = 0...0
    simulator.tickDelay = 0...0
    try simulator.restartAll()
    try simulator.run(for: 2500)
    _ = try simulator.awaitLeader(within: 10_000)
    if changesMembership { try restoreMembership(simulator) }
    try simulator.agree(command("final"), expectedNodes: size, timeout: 20_000)
    try simulator.run(for: 300)
    try simulator.checkEverything()
    try simulator.requireAcknowledgedEverywhere()
    if ProcessInfo.processInfo.environment["WEBRAFT_FUZZ_VERBOSE"] != nil {
      let leader = simulator.currentLeader().flatMap { simulator.core(of: $0) }
      print(
        "seed \(seed): \(size) nodes, fault rate \(faultRate), membership \(changesMembership), "
          + "\(rounds) rounds, \(simulator.now) ms, \(simulator.stepCount) steps, "
          + "\(simulator.messagesSent) messages, \(simulator.proposals.count) proposals, "
          + "\(simulator.acknowledgedProposals.count) acknowledged, term \(leader?.term ?? 0), "
          + "last index \(leader?.lastIndex ?? 0), \(simulator.snapshotsTaken) snapshots taken, "
          + "\(simulator.snapshotsInstalled) installed, "
          + "\(simulator.reads.filter { if case .served = $0.status { return true } else { return false } }.count) "
          + "reads served, trace \(simulator.trace)")
    }
  }

  static func injectFault(_ simulator: ClusterSimulator) throws {
    let size = simulator.nodeIDs.count
    let anyNode = simulator.node(simulator.randomInt(0..<size))
    let otherNode = simulator.node(simulator.randomInt(0..<size))
    switch simulator.randomInt(0..<11) {
    case 0:
      try simulator.crash(anyNode)
    case 1:
      if let leader = simulator.currentLeader() { try simulator.crash(leader) }
    case 2:
      simulator.disconnect(anyNode)
    case 3:
      if let leader = simulator.currentLeader() { simulator.disconnect(leader) }
    case 4:
      simulator.network.cut(from: anyNode, to: otherNode)
    case 5:
      simulator.network.cut(between: anyNode, and: otherNode)
    case 6:
      var groups: [[NodeID]] = Array(repeating: [], count: 2 + simulator.randomInt(0..<2))
      for id in simulator.nodeIDs {
        groups[simulator.randomInt(0..<groups.count)].append(id)
      }
      simulator.network.partition(groups)
    case 7:
      // Crash a node right after it took a proposal, before its write is durable.
      try simulator.propose(command("doomed \(simulator.stepCount)"), on: anyNode)
      try simulator.crash(anyNode)
    case 8:
      simulator.diskDelay = [0...2, 0...10, 5...60, 50...200][simulator.randomInt(0..<4)]
      simulator.applyDelay = [0...0, 0...3, 1...20, 20...100][simulator.randomInt(0..<4)]
    default:
      randomizeNetwork(simulator)
    }
  }

  static func repair(_ simulator: ClusterSimulator) throws {
    let anyNode = simulator.node(simulator.randomInt(0..<simulator.nodeIDs.count))
    switch simulator.randomInt(0..<6) {
    case 0, 1:
      try simulator.restart(anyNode)
    case 2:
      simulator.connect(anyNode)
    case 3:
      let links = simulator.network.cutLinks.sorted {
        ($0.from, $0.to) < ($1.from, $1.to)
      }
      if !links.isEmpty {
        let link = links[simulator.randomInt(0..<links.count)]
        simulator.network.restore(from: link.from, to: link.to)
      }
    case 4:
      simulator.reconnectAll()
    default:
      simulator.network.makeReliable()
    }
  }

  /// Proposes a random single-server change on the leader (or on a random node, which forwards).
  static func changeMembership(_ simulator: ClusterSimulator) throws {
    guard let leader = simulator.currentLeader(), let membership = simulator.core(of: leader)?.membership
    else { return }
    let target = simulator.node(simulator.randomInt(0..<simulator.nodeIDs.count))
    let change: MembershipChange
    if membership.voters.contains(target) {
      guard membership.voters.count > 1 else { return }
      change = .remove(target)
    } else if membership.learners.contains(target) {
      change = simulator.randomInt(0..<3) == 0 ? .remove(target) : .addVoter(target)
    } else {
      change = simulator.randomInt(0..<2) == 0 ? .addLearner(target) : .addVoter(target)
    }
    let on =
      simulator.randomInt(0..<3) == 0
      ? simulator.node(simulator.randomInt(0..<simulator.nodeIDs.count)) : leader
    try simulator.proposeMembershipChange(change, on: on)
  }

  /// Proposes two or three random changes at once, which go through a joint configuration when
  /// more than one voter comes or goes: additions (voters at once, or learners), removals,
  /// promotions and demotions; on the leader or on a random node, which forwards.
  static func changeMembershipJointly(_ simulator: ClusterSimulator) throws {
    guard let leader = simulator.currentLeader(), let membership = simulator.core(of: leader)?.membership
    else { return }
    var targets = simulator.nodeIDs
    var changes: [MembershipChange] = []
    for _ in 0..<(2 + simulator.randomInt(0..<2)) where !targets.isEmpty {
      let target = targets.remove(at: simulator.randomInt(0..<targets.count))
      let coin = simulator.randomInt(0..<2) == 0
      if membership.voters.contains(target) {
        changes.append(coin ? .remove(target) : .demote(target))
      } else if membership.learners.contains(target) {
        changes.append(coin ? .remove(target) : .promote(target))
      } else {
        changes.append(coin ? .addLearner(target) : .addVoter(target))
      }
    }
    let on =
      simulator.randomInt(0..<3) == 0
      ? simulator.node(simulator.randomInt(0..<simulator.nodeIDs.count)) : leader
    try simulator.proposeMembershipChanges(changes, on: on)
  }

  /// Makes every node a voter again, one change at a time.
  static func restoreMembership(_ simulator: ClusterSimulator) throws {
    for _ in 0..<100 {
      guard let leader = simulator.establishedLeader(), let core = simulator.core(of: leader) else {
        _ = try simulator.awaitLeader(within: 10_000)
        continue
      }
      let missing = simulator.nodeIDs.filter { !core.membership.voters.contains($0) }
      if missing.isEmpty, !core.membership.isJoint, core.commitIndex == core.lastIndex { return }
      if let first = missing.first {
        try simulator.proposeMembershipChange(.addVoter(first), on: leader)
      }
      try simulator.run(for: 300)
    }
    throw simulator.failure("could not make every node a voter again; \(simulator.summary())")
  }

  static func randomizeNetwork(_ simulator: ClusterSimulator) {
    simulator.network.dropProbability = [0, 0, 0.01, 0.05, 0.1, 0.3][simulator.randomInt(0..<6)]
    simulator.network.duplicateProbability = [0, 0, 0.02, 0.1][simulator.randomInt(0..<4)]
    simulator.network.delay = [1...3, 0...10, 0...26, 5...80][simulator.randomInt(0..<4)]
    simulator.network.longDelayProbability = [0, 0, 0.01, 0.1, 0.3][simulator.randomInt(0..<5)]
  }

  @Test(
    "the fuzzer mixes every fault over many seeds without an invariant violation",
    arguments: 0..<chunkCount)
  func fuzzer(chunk: Int) throws {
    let mine = Self.seeds.enumerated().filter { $0.offset % Self.chunkCount == chunk }.map(\.element)
    var failures = 0
    for seed in mine {
      do {
        try Self.fuzz(seed: seed)
      } catch {
        failures += 1
        Issue.record("\(error)")
        if failures >= 5 { break }
      }
    }
  }
}
