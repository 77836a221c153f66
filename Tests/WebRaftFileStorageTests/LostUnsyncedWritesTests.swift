import Logging
import Testing
import WebRaftTesting

@testable import WebRaftFileStorage

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The simulator's "lost unsynced writes" crash mode, exercised against ``FileStorage``.
///
/// The simulator models a crash as the loss of every write that was not durable. A seeded, faulty
/// 3-node simulated cluster (crashes that lose the write under way, partitions, a leader cut off
/// with entries that its successor overwrites, snapshots taken and installed in chunks) runs, and
/// every node's durable writes are replayed, in order, into a ``FileStorage`` of its own, as the
/// simulator's ``ClusterSimulator/storageObserver`` reports them. For each write, crash images
/// (``CrashImageModel``: the directory when the previous call returned, plus a torn part of what
/// the write added, files deleted earlier coming back, a temporary snapshot half written, a rename
/// done or not) are opened by a new ``FileStorage`` and must give what the simulator assumes a
/// crash keeps: exactly its state before the write when part of the write is missing, after it
/// when all of it reached the disk, and never a refusal, a lost acknowledged entry, a term or vote
/// that went back or an entry that was never written. At each simulated crash the write that the
/// simulator loses is written and cut the same way, the node's storage goes on from a crash image
/// that recovered exactly what the simulator kept, and crashes in the middle of that recovery's
/// repairs must recover the same.
///
/// The storages run with ``FileStorage/SyncPolicy/none``: the images are copies taken when each
/// call returned, which is what the contract promises to be durable with syncing on.
///
/// `swift test` runs 16 seeds; `WEBRAFT_SEED=N` replays seed N alone, `WEBRAFT_FUZZ_SEEDS=N` runs N
/// seeds (from `WEBRAFT_FUZZ_FIRST`, default 1), and `WEBRAFT_FUZZ_VERBOSE=1` prints what each seed
/// exercised.
@Suite("Lost unsynced writes")
struct LostUnsyncedWritesTests {
  static let seeds = SimulationEnvironment.fuzzSeeds(defaultCount: 16)
  static let verbose = ProcessInfo.processInfo.environment["WEBRAFT_FUZZ_VERBOSE"] != nil

  /// Runs the workload of `seed` with its writes replayed into file storages.
  static func run(seed: UInt64, rounds: Int = 36) async throws -> SimulatorReplay {
    var setup = SplitMix64(seed: seed ^ 0x0F11_E570_12A6_E5ED)
    var configuration = RaftConfiguration()
    configuration.snapshotChunkSize = [16, 64, 1 << 20].randomElement(using: &setup)!
    let simulator = try ClusterSimulator(seed: seed, nodes: 3, configuration: configuration)
    simulator.snapshotInterval = [6, 12, 25].randomElement(using: &setup)!
    simulator.diskDelay = [1...5, 2...20].randomElement(using: &setup)!
    let segmentSize = [300, 700, 2_048].randomElement(using: &setup)!
    let replay = try await SimulatorReplay(
      seed: seed, simulator: simulator,
      configuration: FileStorage.Configuration(segmentSize: segmentSize, syncPolicy: .none),
      imagesPerWrite: 1, imagesPerCrash: 6)

    var counter = 0
    func command() -> Data {
      counter += 1
      let size = Int.random(in: 1...300, using: &simulator.random)
      return Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ counter) })
    }
    func anyNode() -> NodeID { simulator.nodeIDs.randomElement(using: &simulator.random)! }
    func number(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &simulator.random) }

    for _ in 0..<rounds {
      switch number(0...14) {
      case 0...5:
        // Clients propose on the leader, or on any node, which forwards.
        for _ in 0..<number(1...6) {
          try simulator.propose(command(), on: simulator.currentLeader() ?? anyNode())
        }
      case 6:
        try simulator.crash(anyNode())
      case 7, 8:
        // A node crashes right after it took proposals, before their write is durable.
        let node = simulator.currentLeader() ?? anyNode()
        for _ in 0..<number(1...3) { try simulator.propose(command(), on: node) }
        try simulator.run(for: UInt64(number(0...3)))
        try simulator.crash(node)
      case 9, 10, 11:
        let down = simulator.nodeIDs.filter { !simulator.isUp($0) }
        if let node = down.randomElement(using: &simulator.random) { try simulator.restart(node) }
      case 12:
        // A leader cut off appends entries that its successor overwrites.
        if let leader = simulator.currentLeader() {
          simulator.disconnect(leader)
          for _ in 0..<number(1...4) { try simulator.propose(command(), on: leader) }
          try simulator.run(for: 600)
          if let successor = simulator.currentLeader(connectedOnly: true) {
            for _ in 0..<number(1...3) { try simulator.propose(command(), on: successor) }
          }
          try simulator.run(for: 100)
          simulator.connect(leader)
        }
      case 13:
        var groups: [[NodeID]] = [[], []]
        for id in simulator.nodeIDs { groups[number(0...1)].append(id) }
        simulator.network.partition(groups)
      default:
        simulator.network.heal()
      }
      try simulator.run(for: UInt64(number(20...150)))
      try await replay.drain()
    }

    // Heal everything; the cluster must agree again.
    simulator.reconnectAll()
    simulator.network.heal()
    try simulator.restartAll()
    try simulator.agree(Data("final".utf8), expectedNodes: 3, timeout: 20_000)
    try await replay.finish(simulator)
    return replay
  }

  @Test("crash images of every write of a simulated cluster recover what the simulator keeps")
  func crashImagesRecoverWhatTheSimulatorKeeps() async throws {
    var total = ReplayStatistics()
    for seed in Self.seeds {
      let replay: SimulatorReplay
      do {
        replay = try await Self.run(seed: seed)
      } catch {
        Issue.record(
          "seed \(seed): \(error); replay with WEBRAFT_SEED=\(seed) swift test --filter LostUnsyncedWritesTests"
        )
        continue
      }
      for failure in replay.failures {
        Issue.record(Comment(rawValue: failure))
      }
      if Self.verbose { print("seed \(seed): \(replay.statistics)") }
      total.add(replay.statistics)
    }
    if Self.verbose { print("all seeds: \(total)") }
    guard Self.seeds.count >= 16 else { return }
    // The workload reaches what the test claims to exercise.
    #expect(total.overwrites > 0, "no conflicting suffix was overwritten: \(total)")
    #expect(total.snapshotCommits > 0, "no snapshot was committed: \(total)")
    #expect(total.segmentsStarted > 0, "no segment was started: \(total)")
    #expect(total.lostWrites > 0, "no crash lost a write: \(total)")
    #expect(total.tornTailsCut > 0, "no torn tail was cut: \(total)")
    #expect(total.installsFinished > 0, "no interrupted snapshot installation was finished: \(total)")
    #expect(total.ghostsBack > 0, "no deleted file came back: \(total)")
    #expect(total.interruptedRecoveries > 0, "no recovery was interrupted: \(total)")
    #expect(total.recoveredBefore > 0 && total.recoveredAfter > 0, "\(total)")
    #expect(total.images > 1_000, "\(total)")
  }

  @Test("the same seed cuts the same crash images")
  func sameSeedSameImages() async throws {
    let seed = SimulationEnvironment.seed(default: 7)
    let first = try await Self.run(seed: seed, rounds: 8)
    let second = try await Self.run(seed: seed, rounds: 8)
    #expect(first.statistics.description == second.statistics.description)
    #expect(first.failures == second.failures)
  }

  /// Found by the crash images: a crash while the log starts a new segment leaves that segment
  /// with a torn header; the next open deletes it without syncing the directory and appends to
  /// the segment before it. A second crash may bring the deleted segment back while the segment
  /// before it ends in a torn write: recovery took that torn tail for damage in the middle of
  /// the log and refused to start, although nothing acknowledged was lost.
  @Test(
    "a segment whose creation a crash interrupted, back after another crash, lets the torn tail before it be cut"
  )
  func interruptedSegmentComesBack() async throws {
    let directory = TemporaryDirectory("webraft-lost-writes")
    let scratch = TemporaryDirectory("webraft-lost-writes")
    let configuration = FileStorage.Configuration(segmentSize: 200, syncPolicy: .none)
    let storage = try FileStorage(
      directory: directory.path, configuration: configuration,
      logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    var model = SimulatedStorage(membership: Self.membership)
    try await storage.initialize(model.state)
    for index in UInt64(1)...4 {
      let hardState = HardState(term: index, votedFor: "n1")
      try await storage.persist(hardState: hardState, entries: entries(index...index, term: index, size: 60))
      #expect(
        model.write(hardState: hardState, entries: entries(index...index, term: index, size: 60)) == nil)
    }
    let acknowledged = DirectoryImages.read(directory.path)
    try await storage.persist(hardState: HardState(term: 5, votedFor: "n2"), entries: [])
    let written = DirectoryImages.read(directory.path)
    storage.close()
    let last = try #require(acknowledged.keys.compactMap(StorageDirectory.segmentSequence).max())
    #expect(last > 1)
    let name = StorageDirectory.segmentName(last)
    var image = acknowledged
    // The last write is torn, and the segment after it, deleted by an earlier recovery, is back.
    image[name] = Array(written[name]![..<(acknowledged[name]!.count + 11)])
    image[StorageDirectory.segmentName(last + 1)] = Array(repeating: 0, count: 30)
    let outcome = try await recover(image, in: scratch.path, configuration: configuration)
    guard case .recovered(let stored, let repaired, let tornTailCut, _) = outcome else {
      Issue.record("refused: \(outcome)")
      return
    }
    #expect(stored == StoredState(model))
    #expect(tornTailCut)
    #expect(repaired[StorageDirectory.segmentName(last + 1)] == nil)
    #expect(repaired[name] == acknowledged[name])
  }

  // MARK: The check can fail

  static let membership: Membership = ["n1", "n2", "n3"]

  /// Three batches written into a storage, and what the simulator's storage model holds after them.
  static func threeBatches(in directory: TemporaryDirectory) async throws -> (DirectoryImage, StoredState) {
    let storage = try FileStorage(
      directory: directory.path, configuration: FileStorage.Configuration(syncPolicy: .none),
      logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
    var model = SimulatedStorage(membership: membership)
    try await storage.initialize(model.state)
    let writes: [(HardState?, [LogEntry])] = [
      (HardState(term: 1, votedFor: "n1"), entries(1...3, term: 1, size: 40)),
      (nil, entries(4...6, term: 1, size: 40)),
      (HardState(term: 2, votedFor: "n2", commitIndex: 5), entries(7...8, term: 2, size: 40)),
    ]
    for (hardState, batch) in writes {
      try await storage.persist(hardState: hardState, entries: batch)
      #expect(model.write(hardState: hardState, entries: batch) == nil)
    }
    storage.close()
    return (DirectoryImages.read(directory.path), StoredState(model))
  }

  /// The offsets of the records of a segment after its header.
  static func recordOffsets(_ segment: [UInt8]) -> [Int] {
    var offsets: [Int] = []
    var offset = 0
    while case .record(_, let payload) = segment.withUnsafeBytes({ RecordFrame.parse($0, at: offset) }) {
      offsets.append(offset)
      offset = payload.upperBound
    }
    return Array(offsets.dropFirst())
  }

  @Test("a damaged acknowledged record before the last one is refused as corruption")
  func damagedAcknowledgedRecordIsRefused() async throws {
    let directory = TemporaryDirectory("webraft-lost-writes")
    let scratch = TemporaryDirectory("webraft-lost-writes")
    let (image, acknowledged) = try await Self.threeBatches(in: directory)
    let configuration = FileStorage.Configuration(syncPolicy: .none)
    guard
      case .recovered(let intact, _, _, _) = try await recover(
        image, in: scratch.path, configuration: configuration)
    else {
      Issue.record("the intact image was refused")
      return
    }
    #expect(intact == acknowledged)

    let name = try #require(image.keys.first { $0.hasPrefix("segment-") })
    let records = Self.recordOffsets(image[name]!)
    try #require(records.count == 3)
    var damaged = image
    damaged[name]![records[1] + 20] ^= 0x10
    let outcome = try await recover(damaged, in: scratch.path, configuration: configuration)
    guard case .refused(.corruption(let file, let offset, _)) = outcome else {
      Issue.record("a flipped byte in the second of three records gave \(outcome)")
      return
    }
    #expect(file == name && offset == UInt64(records[1]))
  }

  @Test("the contract check reports a lost acknowledged write and a wrong expectation")
  func contractCheckReportsLostWrites() async throws {
    let directory = TemporaryDirectory("webraft-lost-writes")
    let scratch = TemporaryDirectory("webraft-lost-writes")
    let (image, acknowledged) = try await Self.threeBatches(in: directory)
    let configuration = FileStorage.Configuration(syncPolicy: .none)
    let nothing = InterruptedWrite.persist(hardState: nil, entries: [])

    // Damage in the last record looks like a torn tail: the storage cuts it and opens, and only
    // the comparison with what was acknowledged can tell.
    let name = try #require(image.keys.first { $0.hasPrefix("segment-") })
    let records = Self.recordOffsets(image[name]!)
    var damaged = image
    damaged[name]![records[2] + 20] ^= 0x10
    guard
      case .recovered(let cut, _, let tornTailCut, _) = try await recover(
        damaged, in: scratch.path, configuration: configuration)
    else {
      Issue.record("the image with a damaged last record was refused")
      return
    }
    #expect(tornTailCut)
    let lost = StorageContractCheck.violations(
      recovered: cut, before: acknowledged, write: nothing, after: acknowledged)
    #expect(lost.contains { $0.contains("term went back from 2 to 1") }, "\(lost)")
    #expect(
      lost.contains { $0.contains("acknowledged entry 7 (term 2) and the ones after it are missing") },
      "\(lost)")

    // Mutant expectations: the intact image compared with states it does not hold.
    guard
      case .recovered(let intact, _, _, _) = try await recover(
        image, in: scratch.path, configuration: configuration)
    else {
      Issue.record("the intact image was refused")
      return
    }
    #expect(
      StorageContractCheck.violations(
        recovered: intact, before: acknowledged, write: nothing, after: acknowledged
      ).isEmpty)
    var changedEntry = acknowledged
    changedEntry.state.entries[4].payload = .command(Data("not written".utf8))
    let changed = StorageContractCheck.violations(
      recovered: intact, before: changedEntry, write: nothing, after: changedEntry)
    #expect(changed.contains { $0.contains("entry 5 holds term 1") }, "\(changed)")
    var laterVote = acknowledged
    laterVote.state.hardState.votedFor = "n3"
    let vote = StorageContractCheck.violations(
      recovered: intact, before: laterVote, write: nothing, after: laterVote)
    #expect(vote.contains { $0.contains("the vote of term 2 changed from n3 to n2") }, "\(vote)")

    // Beyond the acknowledged log only the entries being written may appear, in their places.
    var shorter = acknowledged
    shorter.state.entries.removeLast(2)
    let foreign = StorageContractCheck.violations(
      recovered: intact, before: shorter,
      write: .persist(hardState: nil, entries: entries(7...8, term: 3, size: 40)), after: shorter)
    #expect(foreign.contains { $0.contains("entry 7 (term 2) beyond the acknowledged log") }, "\(foreign)")
  }
}
