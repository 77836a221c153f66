/// One remote node, as the transport reaches it (the seed's `NodeInstance`).
///
/// A node asks its peer factory for a peer the first time it sends to a member and keeps it
/// while the member is in the cluster. `write` must not block: queue, send or drop. Raft retries
/// everything it needs, so a peer may drop messages when its connection is down, but it must not
/// reorder messages arbitrarily long after the fact without that being acceptable — Raft is correct
/// under loss, duplication and reordering, only slower.
public protocol RaftPeer: Sendable {
  /// The node at the other end.
  var id: NodeID { get }

  /// Sends a message to the node (the seed's `write(payload)`).
  func write(_ message: RaftMessage)

  /// Sends a message from the node's own task. The default calls ``write(_:)``; an in-process
  /// transport can instead hand the message over with ``RaftInbound/handOff(_:)``, which lets
  /// an idle receiver work it off in the sender's task, without a thread switch. It must not
  /// wait for anything else: no network round trip, no unbounded queue.
  nonisolated(nonsending) func send(_ message: RaftMessage) async

  /// Releases the connection: the node no longer needs this peer.
  func close()
}

extension RaftPeer {
  /// Does nothing: peers without resources need no closing.
  public func close() {}

  /// Calls ``write(_:)``.
  public nonisolated(nonsending) func send(_ message: RaftMessage) async {
    write(message)
  }
}

/// How a transport hands received messages to the node (the seed's `gotData`).
///
/// It is given to the peer factory, so a peer can deliver what its connection receives; it is
/// also available as ``RaftNode/inbound``. It never blocks: messages queue in order.
public struct RaftInbound: Sendable {
  private let deliver: @Sendable (RaftMessage) -> Void
  private let deliverInTask: (nonisolated(nonsending) @Sendable (RaftMessage) async -> Void)?

  /// Creates an inbound that calls `deliver` for each message.
  public init(_ deliver: @escaping @Sendable (RaftMessage) -> Void) {
    self.deliver = deliver
    self.deliverInTask = nil
  }

  /// Creates a node's inbound.
  init(
    deliver: @escaping @Sendable (RaftMessage) -> Void,
    handOff: nonisolated(nonsending) @escaping @Sendable (RaftMessage) async -> Void
  ) {
    self.deliver = deliver
    self.deliverInTask = handOff
  }

  /// Delivers a message received from another node (the seed's `gotData(payload)`).
  public func gotData(_ message: RaftMessage) {
    deliver(message)
  }

  /// Delivers a message like ``gotData(_:)``, but when the receiving node is idle it works the
  /// message off in the caller's task and returns after that, instead of waking a task of its
  /// own: for transports between nodes of one process, where it saves a thread switch per
  /// message. Call it only from a task that may wait for the receiver's storage write.
  public nonisolated(nonsending) func handOff(_ message: RaftMessage) async {
    if let deliverInTask {
      await deliverInTask(message)
    } else {
      deliver(message)
    }
  }
}
