/// Something that happens at a point of simulated time in a ``ClusterSimulator``.
enum SimulationEvent {
  /// A message reaches its receiver, if the receiver is still in run `incarnation`.
  case deliver(RaftMessage, incarnation: UInt64)
  /// A node's timer fires, if `generation` is still its latest tick.
  case tick(node: Int, generation: UInt64)
  /// A node's storage write becomes durable, if `token` is still its write under way.
  case writeDone(node: Int, token: UInt64)
  /// A node's state machine finished applying its batch, if `token` is still the batch under way.
  case applyDone(node: Int, token: UInt64)
  /// A node finished writing its own snapshot in the background, if `token` is still that write.
  case snapshotWritten(node: Int, token: UInt64)
}
