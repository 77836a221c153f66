#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// One node of a ``ClusterSimulator``: its driver (and core) while it runs, its durable storage,
/// the asynchronous steps under way, and its simulated state machine.
final class SimulatedNode {
  /// The node's identity.
  let id: NodeID
  /// Its position in the simulator's node list.
  let position: Int
  /// The driver and its core, nil while the node is down.
  var driver: RaftDriver?
  /// What survives a crash.
  var storage: SimulatedStorage
  /// Counts starts and crashes; a message is delivered only to the run it was sent to.
  var incarnation: UInt64 = 0
  /// The number of times the node was started.
  var starts = 0
  /// The write under way, until it is durable.
  var pendingWrite: (hardState: HardState?, entries: [LogEntry])?
  /// Identifies the write under way, so that a write of a crashed run is ignored.
  var writeToken: UInt64 = 0
  /// The batches of committed entries handed to the state machine and not applied yet, in order,
  /// each with the delay drawn for it; the first `applyingBatches` are being applied. The node
  /// goes on with everything else meanwhile.
  var pendingApplies: [(entries: ArraySlice<LogEntry>, delay: UInt64)] = []
  /// How many of `pendingApplies` the run under way applies (0: none scheduled).
  var applyingBatches = 0
  /// Identifies the run under way.
  var applyToken: UInt64 = 0
  /// The node's own snapshot being written in the background.
  var snapshotBeingWritten: SnapshotMetadata?
  /// Identifies that write.
  var snapshotToken: UInt64 = 0
  /// The bytes of the node's own snapshot once written, waiting to be committed.
  var writtenSnapshot: (metadata: SnapshotMetadata, data: Data)?
  /// Identifies the latest scheduled tick; older ticks are ignored.
  var tickGeneration: UInt64 = 0
  /// How much faster (above 0) or slower (below 0) the node's clock runs than simulated time.
  var clockRate: Double = 0
  /// The node's timer fires no sooner than this (its tick task is starved or its process paused).
  var timerStalledUntil: UInt64 = 0
  /// When the latest tick is scheduled.
  var scheduledTick: UInt64?
  /// What the state machine holds: every entry from index 1 to the last applied one, restored from
  /// a snapshot or applied, in order. Lost in a crash.
  var stateMachine: [LogEntry] = []
  /// Requests the driver settled during the call under way, handled once it returns.
  var settled: [(UInt64, RequestOutcome)] = []
  /// A snapshot being received from the leader, chunk by chunk. Lost in a crash.
  var incomingSnapshot: (metadata: SnapshotMetadata, data: Data)?

  init(id: NodeID, position: Int, membership: Membership) {
    self.id = id
    self.position = position
    self.storage = SimulatedStorage(membership: membership)
  }

  /// Forgets everything volatile (a crash, or a start): the asynchronous steps under way, the
  /// timer, the state machine and a snapshot being received. Tokens move on, so that events of the
  /// earlier run are ignored.
  func reset() {
    pendingWrite = nil
    writeToken += 1
    pendingApplies = []
    applyingBatches = 0
    applyToken += 1
    snapshotBeingWritten = nil
    writtenSnapshot = nil
    snapshotToken += 1
    tickGeneration += 1
    scheduledTick = nil
    stateMachine = []
    incomingSnapshot = nil
    settled = []
  }

  /// The protocol core, nil while the node is down.
  var core: RaftCore? { driver?.core }

  var isUp: Bool { driver != nil }
}
