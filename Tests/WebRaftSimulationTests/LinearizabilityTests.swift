import Foundation
import Testing
import WebRaft
import WebRaftTesting

/// End-to-end linearizability: simulated clients read, put and compare-and-set two keys of a
/// replicated key-value store while the cluster suffers partitions that cut off the leader,
/// crashes and restarts, message loss and duplicates; the whole history of each seed is then
/// checked with the ``LinearizabilityChecker`` (Wing & Gong, key by key).
///
/// Both read modes are checked: ReadIndex and lease reads. The simulator has one shared, perfect
/// clock, so the lease is tested without clock drift between nodes (the configured
/// `maxClockDrift` still shortens it); what is checked is the lease logic itself: a cut-off leader
/// must stop answering before another leader can commit.
///
/// `swift test` runs 40 seeds per read mode; `WEBRAFT_LINEARIZABILITY_SEEDS=N` runs N (from
/// `WEBRAFT_FUZZ_FIRST`, default 1), `WEBRAFT_SEED=N` replays seed N alone, and
/// `WEBRAFT_FUZZ_VERBOSE=1` prints what each seed did.
@Suite("Simulation: linearizable key-value histories")
struct LinearizabilityTests {
  static let seeds = SimulationEnvironment.seeds(
    countVariable: "WEBRAFT_LINEARIZABILITY_SEEDS", defaultCount: 40)
  static let verbose = ProcessInfo.processInfo.environment["WEBRAFT_FUZZ_VERBOSE"] != nil

  /// Runs clients against a cluster under faults for one seed and returns their workload, with
  /// every operation ended or abandoned.
  static func runWorkload(seed: UInt64, readMode: KeyValueWorkload.ReadMode) throws -> KeyValueWorkload {
    var setup = SplitMix64(seed: seed ^ 0x11AE_A12B_11AE_A12B)
    let size = [3, 3, 5].randomElement(using: &setup)!
    let simulator = try ClusterSimulator(seed: seed, nodes: size)
    if Bool.random(using: &setup) {
      simulator.snapshotInterval = 10
    }
    simulator.network.dropProbability = [0, 0.02, 0.05].randomElement(using: &setup)!
    simulator.network.duplicateProbability = [0, 0, 0.02].randomElement(using: &setup)!
    simulator.network.delay = [1...3, 1...10, 0...20].randomElement(using: &setup)!
    let workload = KeyValueWorkload(simulator: simulator, clients: 4, readMode: readMode)
    _ = try simulator.awaitLeader()
    for _ in 0..<10 {
      try injectFault(simulator)
      try workload.run(for: UInt64(150 + simulator.randomInt(0..<250)))
    }
    // Heal everything, let the clients go on for a while, then let what is under way end.
    simulator.reconnectAll()
    simulator.network.makeReliable()
    try simulator.restartAll()
    try workload.run(for: 500)
    try workload.settle(for: 2000)
    if verbose {
      print(
        "seed \(seed), \(readMode) reads, \(size) nodes, \(simulator.now) ms: \(workload.counts), "
          + "\(workload.duplicatesApplied) duplicates")
    }
    return workload
  }

  /// One fault, or one repair, at random. Cutting off the leader (alone, or with one follower on
  /// the minority side) is the fault a wrong read path is most exposed to.
  static func injectFault(_ simulator: ClusterSimulator) throws {
    let size = simulator.nodeIDs.count
    switch simulator.randomInt(0..<8) {
    case 0, 1:
      if let leader = simulator.currentLeader() {
        simulator.network.partition([[leader], simulator.nodeIDs.filter { $0 != leader }])
      }
    case 2:
      if let leader = simulator.currentLeader() {
        let follower = simulator.node(
          simulator.position(of: leader) + 1 + simulator.randomInt(0..<(size - 1)))
        let minority = [leader] + (size >= 5 ? [follower] : [])
        simulator.network.partition([minority, simulator.nodeIDs.filter { !minority.contains($0) }])
      }
    case 3:
      if let leader = simulator.currentLeader() { try simulator.crash(leader) }
    case 4:
      try simulator.crash(simulator.node(simulator.randomInt(0..<size)))
    case 5:
      try simulator.restartAll()
    default:
      simulator.reconnectAll()
      try simulator.restart(simulator.node(simulator.randomInt(0..<size)))
    }
  }

  @Test(
    "key-value histories with concurrent reads, puts and compare-and-sets under partitions, crashes and loss are linearizable",
    arguments: [KeyValueWorkload.ReadMode.readIndex, .lease])
  func historiesAreLinearizable(readMode: KeyValueWorkload.ReadMode) throws {
    var total = KeyValueWorkload.Counts()
    var failures = 0
    for seed in Self.seeds {
      do {
        let workload = try Self.runWorkload(seed: seed, readMode: readMode)
        try workload.requireLinearizable()
        // The network duplicates messages, forwarded proposals included: the leader must not
        // append one twice (the store would ignore the copy, but a client without sessions would not).
        try workload.simulator.require(
          workload.duplicatesApplied == 0, "a command was applied \(workload.duplicatesApplied) extra times")
        total.add(workload.counts)
      } catch {
        failures += 1
        Issue.record(
          "\(error)\nreplay: WEBRAFT_SEED=\(seed) swift test --filter LinearizabilityTests")
        if failures >= 3 { return }
      }
    }
    // The runs must have exercised what they claim to check.
    let runs = Self.seeds.count
    #expect(total.acknowledgedWrites >= 20 * runs, "\(total)")
    #expect(total.successfulCompareAndSets >= 3 * runs, "\(total)")
    #expect(total.unknownWrites >= runs / 2, "\(total)")
    switch readMode {
    case .readIndex:
      #expect(total.readIndexReads >= 20 * runs, "\(total)")
    case .lease:
      #expect(total.leaseReads >= 10 * runs, "\(total)")
    case .localUnsafe:
      break
    }
  }

  @Test("the key-value store applies puts and compare-and-sets, and ignores a command applied twice")
  func storeSemantics() {
    typealias Command = SimulatedKeyValueStore.Command
    let commands = [
      Command(operationID: 1, key: "x", action: .put("a")),
      Command(operationID: 2, key: "x", action: .compareAndSet(expected: "a", new: "b")),
      Command(operationID: 3, key: "x", action: .compareAndSet(expected: "a", new: "c")),
      Command(operationID: 4, key: "y", action: .compareAndSet(expected: nil, new: "d")),
      Command(operationID: 1, key: "x", action: .put("a")),
    ]
    for command in commands {
      #expect(Command(decoding: command.encoded) == command)
    }
    #expect(Command(decoding: command("not a key-value command")) == nil)
    var entries = commands.enumerated().map { position, command in
      LogEntry(index: UInt64(position + 2), term: 1, payload: .command(command.encoded))
    }
    entries.insert(LogEntry(index: 1, term: 1, payload: .noop), at: 0)
    let store = SimulatedKeyValueStore(replaying: entries)
    #expect(store["x"] == "b" && store["y"] == "d" && store["z"] == nil)
    #expect(store.responses[1] == .written)
    #expect(store.responses[2] == .compared(succeeded: true))
    #expect(store.responses[3] == .compared(succeeded: false))
    #expect(store.responses[4] == .compared(succeeded: true))
    #expect(store.duplicates == 1 && store.appliedIndex == 6)
  }

  @Test("the check catches a leader that reads its local state machine without confirming it still leads")
  func staleLocalReadsAreCaught() throws {
    let limit: UInt64 = 30
    var found: UInt64?
    for seed in 1...limit {
      let workload = try Self.runWorkload(seed: seed, readMode: .localUnsafe)
      if case .violation(let key, let operations) = workload.check() {
        found = seed
        if Self.verbose {
          print(
            "seed \(seed): key \(key) is not linearizable:\n"
              + operations.map(\.description).joined(separator: "\n"))
        }
        break
      }
    }
    #expect(found != nil, "no seed in 1...\(limit) produced a non-linearizable history of local reads")
  }
}
