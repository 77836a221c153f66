#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// One node of a ``ClusterSimulator``: its core while it runs, its durable storage, the `Ready`
/// whose write is under way, and its simulated state machine.
final class SimulatedNode {
  /// The node's identity.
  let id: NodeID
  /// Its position in the simulator's node list.
  let position: Int
  /// The protocol core, nil while the node is down.
  var core: RaftCore?
  /// What survives a crash.
  var storage: SimulatedStorage
  /// Counts starts and crashes; a message is delivered only to the run it was sent to.
  var incarnation: UInt64 = 0
  /// The number of times the node was started.
  var starts = 0
  /// The `Ready` whose storage write is under way.
  var pendingReady: Ready?
  /// How many of `pendingReady`'s first messages went out when its write started.
  var earlySent = 0
  /// Identifies the write under way, so that a write of a crashed run is ignored.
  var writeToken: UInt64 = 0
  /// Identifies the latest scheduled tick; older ticks are ignored.
  var tickGeneration: UInt64 = 0
  /// When the latest tick is scheduled.
  var scheduledTick: UInt64?
  /// What the state machine holds: every entry from index 1 to the last applied one, restored from
  /// a snapshot or applied, in order. Lost in a crash.
  var stateMachine: [LogEntry] = []
  /// A snapshot being received from the leader, chunk by chunk. Lost in a crash.
  var incomingSnapshot: (metadata: SnapshotMetadata, data: Data)?
  /// Reads whose index is known, waiting for the state machine to reach it (read positions).
  var readsAwaitingApply: [Int] = []
  /// Proposals made on this node as leader, by the index they were appended at.
  var waitingAppended: [UInt64: [Int]] = [:]

  init(id: NodeID, position: Int, membership: Membership) {
    self.id = id
    self.position = position
    self.storage = SimulatedStorage(membership: membership)
  }

  var isUp: Bool { core != nil }
}
