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

  /// Releases the connection: the node no longer needs this peer.
  func close()
}

extension RaftPeer {
  /// Does nothing: peers without resources need no closing.
  public func close() {}
}

/// How a transport hands received messages to the node (the seed's `gotData`).
///
/// It is given to the peer factory, so a peer can deliver what its connection receives; it is
/// also available as ``RaftNode/inbound``. It never blocks: messages queue in order.
public struct RaftInbound: Sendable {
  private let deliver: @Sendable (RaftMessage) -> Void

  /// Creates an inbound that calls `deliver` for each message.
  public init(_ deliver: @escaping @Sendable (RaftMessage) -> Void) {
    self.deliver = deliver
  }

  /// Delivers a message received from another node (the seed's `gotData(payload)`).
  public func gotData(_ message: RaftMessage) {
    deliver(message)
  }
}
