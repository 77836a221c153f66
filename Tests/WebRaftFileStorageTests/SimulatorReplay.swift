import Logging
import WebRaft
import WebRaftFileStorage
import WebRaftTesting

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// What opening a crash image with a ``FileStorage`` gave.
enum RecoveryOutcome {
  /// The storage refused to open or to read.
  case refused(FileStorageError)
  /// The storage opened: what it loaded (nil for a new node) and the directory after its repairs.
  case recovered(StoredState?, repaired: DirectoryImage, tornTailCut: Bool, installFinished: Bool)
}

/// Writes `image` into `directory`, opens it with a ``FileStorage``, loads it and reads its
/// snapshot.
func recover(
  _ image: DirectoryImage, in directory: String, configuration: FileStorage.Configuration
) async throws -> RecoveryOutcome {
  DirectoryImages.write(image, to: directory)
  let messages = RecordingLogHandler.Messages()
  let storage: FileStorage
  do {
    storage = try FileStorage(
      directory: directory, configuration: configuration, logger: RecordingLogHandler.logger(messages))
  } catch {
    return .refused(error)
  }
  defer { storage.close() }
  let stored: StoredState?
  do {
    stored = try await storedState(of: storage)
  } catch let error as FileStorageError {
    return .refused(error)
  }
  return .recovered(
    stored, repaired: DirectoryImages.read(directory),
    tornTailCut: messages.contains(.warning, "torn tail"),
    installFinished: messages.contains(.notice, "finished installing"))
}

/// What `storage` holds: its loaded state and its snapshot's bytes; nil for a new node.
func storedState(of storage: FileStorage) async throws -> StoredState? {
  guard let state = try await storage.load() else { return nil }
  var data = Data()
  if let reader = try await storage.openSnapshot() {
    while UInt64(data.count) < reader.size {
      let chunk = try await reader.read(at: UInt64(data.count), maxLength: 4_096)
      if chunk.isEmpty { break }
      data.append(chunk)
    }
  }
  return StoredState(state: state, snapshotData: data)
}

/// Counts of what a replay exercised.
struct ReplayStatistics: CustomStringConvertible {
  var persists = 0
  var snapshotCommits = 0
  var snapshotsReplacingConflicts = 0
  var overwrites = 0
  var segmentsStarted = 0
  var crashes = 0
  var lostWrites = 0
  var images = 0
  var recoveredBefore = 0
  var recoveredAfter = 0
  var newNodes = 0
  var tornTailsCut = 0
  var installsFinished = 0
  var ghostsBack = 0
  var interruptedRecoveries = 0

  mutating func add(_ other: ReplayStatistics) {
    persists += other.persists
    snapshotCommits += other.snapshotCommits
    snapshotsReplacingConflicts += other.snapshotsReplacingConflicts
    overwrites += other.overwrites
    segmentsStarted += other.segmentsStarted
    crashes += other.crashes
    lostWrites += other.lostWrites
    images += other.images
    recoveredBefore += other.recoveredBefore
    recoveredAfter += other.recoveredAfter
    newNodes += other.newNodes
    tornTailsCut += other.tornTailsCut
    installsFinished += other.installsFinished
    ghostsBack += other.ghostsBack
    interruptedRecoveries += other.interruptedRecoveries
  }

  var description: String {
    "\(persists) persists (\(overwrites) replacing a conflicting suffix, \(segmentsStarted) starting a segment), "
      + "\(snapshotCommits) snapshot commits (\(snapshotsReplacingConflicts) replacing a conflicting log), \(crashes) crashes (\(lostWrites) losing a write), "
      + "\(images) crash images: \(recoveredBefore) recovered the state before the write, "
      + "\(recoveredAfter) the state after it, \(newNodes) a new node; \(tornTailsCut) torn tails cut, "
      + "\(installsFinished) snapshot installations finished on open, \(ghostsBack) with deleted files back, \(interruptedRecoveries) of an interrupted recovery"
  }
}

/// Replays the durable writes of every node of a ``ClusterSimulator``, as its
/// ``ClusterSimulator/storageObserver`` reports them, into one ``FileStorage`` per node, and checks
/// crash images of every write against what the simulator keeps.
///
/// Each write is carried out on the node's storage; the directory before and after it are a
/// ``StorageStep``, whose crash images (``CrashImageModel``) are opened in a scratch directory and
/// checked with ``StorageContractCheck`` and against the simulator's state before and after the
/// write. When the simulator crashes a node, the write it loses is written too and cut by the crash
/// images; the node's storage then goes on from a crash image that recovered exactly what the
/// simulator kept, repaired by the storage as a restarted node would find it.
final class SimulatorReplay {
  /// One node's storage and what the simulator says it holds.
  final class Node {
    let id: NodeID
    let directory = TemporaryDirectory("webraft-replay")
    var storage: FileStorage?
    var files: DirectoryImage = [:]
    var ghosts: DirectoryImage = [:]
    var simulated: SimulatedStorage
    var writes = 0

    init(id: NodeID, simulated: SimulatedStorage) {
      self.id = id
      self.simulated = simulated
    }
  }

  /// Stops a replay that cannot go on.
  struct Aborted: Error, CustomStringConvertible {
    let description: String
  }

  let seed: UInt64
  let configuration: FileStorage.Configuration
  let imagesPerWrite: Int
  let imagesPerCrash: Int
  /// Crash images of a write that replaces a conflicting suffix, starts a segment or commits a
  /// snapshot.
  let imagesPerNotableWrite = 4
  /// Crash images of the recovery a node goes on from after a crash.
  let imagesPerInterruptedRecovery = 2
  var model: CrashImageModel
  private(set) var statistics = ReplayStatistics()
  /// Every contract violation found, each naming the seed and how to replay it.
  private(set) var failures: [String] = []
  private var nodes: [NodeID: Node] = [:]
  private var pending: [(NodeID, SimulatedStorageEvent, SimulatedStorage)] = []
  private let scratch = TemporaryDirectory("webraft-crash-image")
  private let quiet = Logger(label: "replay") { _ in SwiftLogNoOpLogHandler() }
  private static let failureLimit = 20

  /// Initializes one storage per node of `simulator` (checking crash images of that too) and
  /// starts following the simulator's storage writes.
  init(
    seed: UInt64, simulator: ClusterSimulator, configuration: FileStorage.Configuration, imagesPerWrite: Int,
    imagesPerCrash: Int
  ) async throws {
    self.seed = seed
    self.configuration = configuration
    self.imagesPerWrite = imagesPerWrite
    self.imagesPerCrash = imagesPerCrash
    self.model = CrashImageModel(seed: seed ^ 0x0C2A_5B1E_1A6E_5EED)
    for id in simulator.nodeIDs {
      let initial = simulator.durableState(of: id)
      let node = Node(id: id, simulated: SimulatedStorage(membership: initial.snapshot.membership))
      guard node.simulated.state == initial else {
        throw Aborted(description: "\(id) has written before the replay started")
      }
      let storage = try FileStorage(
        directory: node.directory.path, configuration: configuration, logger: quiet)
      node.storage = storage
      nodes[id] = node
      let step = try await perform(.initialize, on: node) { try await storage.initialize(initial) }
      try await check(
        step, of: node, write: .initialize, before: nil, after: StoredState(node.simulated),
        count: imagesPerWrite)
    }
    simulator.storageObserver = { [self] id, event, storage in
      pending.append((id, event, storage))
    }
  }

  /// Carries out and checks the writes the simulator made since the last call.
  func drain() async throws {
    while !pending.isEmpty {
      let batch = pending
      pending = []
      for (id, event, storage) in batch {
        guard let node = nodes[id] else { throw Aborted(description: "unknown node \(id)") }
        try await apply(event, on: node, storageAfter: storage)
      }
    }
  }

  /// Checks that every node's storage holds what the simulator says it holds, then closes them.
  func finish(_ simulator: ClusterSimulator) async throws {
    try await drain()
    for id in simulator.nodeIDs {
      let node = nodes[id]!
      if node.simulated.state != simulator.durableState(of: id) {
        fail(
          node, "the replay lost track of the simulator: it expects \(StoredState(node.simulated).summary)")
      }
      guard let storage = node.storage else { continue }
      let stored = try await storedState(of: storage)
      if stored != StoredState(node.simulated) {
        fail(
          node,
          "at the end the storage holds \(stored?.summary ?? "nothing"), the simulator "
            + StoredState(node.simulated).summary)
      }
      storage.close()
      node.storage = nil
    }
  }

  // MARK: Writes

  private func apply(_ event: SimulatedStorageEvent, on node: Node, storageAfter after: SimulatedStorage)
    async throws
  {
    guard let storage = node.storage else { throw Aborted(description: "\(node.id) has no open storage") }
    node.writes += 1
    let before = node.simulated
    switch event {
    case .persisted(let hardState, let entries):
      statistics.persists += 1
      let base = before.state.snapshot.index
      let stored = before.state.entries
      let overwrites = entries.contains {
        $0.index > base && $0.index <= base + UInt64(stored.count) && stored[Int($0.index - base) - 1] != $0
      }
      if overwrites { statistics.overwrites += 1 }
      let step = try await perform(.persist, on: node) {
        try await storage.persist(hardState: hardState, entries: entries)
      }
      let startsSegment = ImageDiff(step.before, step.after).created.contains { $0.hasPrefix("segment-") }
      if startsSegment { statistics.segmentsStarted += 1 }
      node.simulated = after
      try await check(
        step, of: node, write: .persist(hardState: hardState, entries: entries), before: StoredState(before),
        after: StoredState(after), count: overwrites || startsSegment ? imagesPerNotableWrite : imagesPerWrite
      )
    case .snapshotCommitted(let metadata, let data):
      statistics.snapshotCommits += 1
      let base = before.state.snapshot.index
      let stored = before.state.entries
      if metadata.index > base, metadata.index <= base + UInt64(stored.count),
        stored[Int(metadata.index - base) - 1].term != metadata.term
      {
        statistics.snapshotsReplacingConflicts += 1
      }
      let prepare = node.writes % 2 == 0
      let step = try await perform(.snapshot, on: node) {
        let writer = try await storage.beginSnapshot(metadata)
        let half = data.count / 2
        try await writer.write(data.subdata(in: 0..<half))
        try await writer.write(data.subdata(in: half..<data.count))
        if prepare { try await writer.prepareCommit() }
        try await writer.commit()
      }
      node.simulated = after
      try await check(
        step, of: node, write: .snapshot(metadata), before: StoredState(before), after: StoredState(after),
        count: imagesPerNotableWrite)
    case .crashed(let hardState, let entries):
      try await crash(node, losing: hardState, entries)
    }
  }

  /// Runs `body`, a call of the node's storage, and returns the step it made.
  private func perform(_ kind: StorageStep.Kind, on node: Node, _ body: () async throws -> Void)
    async throws -> StorageStep
  {
    let before = node.files
    try await body()
    let after = DirectoryImages.read(node.directory.path)
    let step = StorageStep(kind: kind, before: before, after: after, ghosts: node.ghosts)
    node.ghosts = CrashImageModel.ghosts(after: step)
    node.files = after
    return step
  }

  /// The simulator crashed the node: its write under way (if any) is written and cut by crash
  /// images; the storage goes on from one that recovered exactly what the simulator kept.
  private func crash(_ node: Node, losing hardState: HardState?, _ entries: [LogEntry]) async throws {
    guard let storage = node.storage else { return }
    statistics.crashes += 1
    let kept = StoredState(node.simulated)
    var lost = node.simulated
    let step: StorageStep
    if hardState != nil || !entries.isEmpty {
      statistics.lostWrites += 1
      if let problem = lost.write(hardState: hardState, entries: entries) {
        throw Aborted(description: "\(node.id)'s lost write breaks the storage contract: \(problem)")
      }
      step = try await perform(.persist, on: node) {
        try await storage.persist(hardState: hardState, entries: entries)
      }
    } else {
      step = StorageStep(kind: .persist, before: node.files, after: node.files, ghosts: node.ghosts)
    }
    storage.close()
    node.storage = nil
    node.files = step.before
    var candidates: [(image: CrashImage, repaired: DirectoryImage)] = []
    let outcomes = try await check(
      step, of: node, write: .persist(hardState: hardState, entries: entries), before: kept,
      after: StoredState(lost), count: imagesPerCrash)
    for (image, outcome) in outcomes {
      if case .recovered(let state, let repaired, _, _) = outcome, state == kept {
        candidates.append((image, repaired))
      }
    }
    if candidates.isEmpty {
      let image = model.untouched(step)
      if case .recovered(let state, let repaired, _, _) = try await check(
        image, of: node, step: step, write: .persist(hardState: hardState, entries: entries), before: kept,
        after: StoredState(lost)),
        state == kept
      {
        candidates.append((image, repaired))
      }
    }
    guard !candidates.isEmpty else {
      throw Aborted(
        description: "seed \(seed): no crash image of \(node.id) recovered what the simulator kept")
    }
    // The node restarts from the directory the crash left, as its storage repaired it.
    let chosen = candidates[Int(model.random.next() % UInt64(candidates.count))]
    // A crash while the storage repairs the directory leaves one that recovers the same.
    for _ in 0..<imagesPerInterruptedRecovery {
      let image: CrashImage
      do {
        image = try model.interruptedRecovery(crashed: chosen.image.files, repaired: chosen.repaired)
      } catch {
        fail(node, "after \(chosen.image.description): \(error)")
        break
      }
      statistics.interruptedRecoveries += 1
      try await check(
        image, of: node, step: step, write: .persist(hardState: nil, entries: []), before: kept, after: kept)
    }
    DirectoryImages.write(chosen.repaired, to: node.directory.path)
    node.ghosts = chosen.image.files.filter { chosen.repaired[$0.key] == nil }
    let reopened = try FileStorage(
      directory: node.directory.path, configuration: configuration, logger: quiet)
    node.storage = reopened
    node.files = DirectoryImages.read(node.directory.path)
    let stored = try await storedState(of: reopened)
    if stored != kept {
      fail(node, "reopened after the crash it holds \(stored?.summary ?? "nothing"), not \(kept.summary)")
    }
  }

  // MARK: Checking

  /// Builds `count` crash images of `step` and checks each; returns them with their outcomes.
  @discardableResult
  private func check(
    _ step: StorageStep, of node: Node, write: InterruptedWrite, before: StoredState?, after: StoredState,
    count: Int
  ) async throws -> [(CrashImage, RecoveryOutcome)] {
    let images: [CrashImage]
    do {
      images = try model.images(of: step, count: count)
    } catch {
      fail(node, "\(write.summary): \(error)")
      return []
    }
    var results: [(CrashImage, RecoveryOutcome)] = []
    for image in images {
      results.append(
        (image, try await check(image, of: node, step: step, write: write, before: before, after: after)))
    }
    return results
  }

  /// Opens one crash image and checks what the storage recovered.
  @discardableResult
  private func check(
    _ image: CrashImage, of node: Node, step: StorageStep, write: InterruptedWrite, before: StoredState?,
    after: StoredState
  ) async throws -> RecoveryOutcome {
    statistics.images += 1
    if image.description.contains("came back") { statistics.ghostsBack += 1 }
    let outcome = try await recover(image.files, in: scratch.path, configuration: configuration)
    let context = "\(write.summary), crash image [\(image.description)]"
    switch outcome {
    case .refused(let error):
      fail(node, "\(context): the storage refused to open: \(error)")
    case .recovered(let stored, _, let tornTailCut, let installFinished):
      if tornTailCut { statistics.tornTailsCut += 1 }
      if installFinished { statistics.installsFinished += 1 }
      if stored == nil {
        statistics.newNodes += 1
      } else if stored == after, after != before {
        statistics.recoveredAfter += 1
      } else if stored == before {
        statistics.recoveredBefore += 1
      }
      let violations = StorageContractCheck.violations(
        recovered: stored, before: before, write: write, after: after)
      for violation in violations {
        fail(node, "\(context): \(violation)")
      }
      let expected = image.completesStep ? after : before
      if violations.isEmpty, stored != expected {
        fail(
          node,
          "\(context): the storage recovered \(stored?.summary ?? "a new node"), but the image "
            + (image.completesStep ? "holds the whole write" : "lacks part of the write")
            + ", so it should be \(expected?.summary ?? "a new node")")
      }
    }
    return outcome
  }

  private func fail(_ node: Node, _ message: String) {
    guard failures.count < Self.failureLimit else { return }
    failures.append(
      "seed \(seed), \(node.id), write \(node.writes): \(message); replay with WEBRAFT_SEED=\(seed) "
        + "swift test --filter LostUnsyncedWritesTests")
  }
}
