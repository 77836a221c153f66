import Synchronization

/// A transport for nodes in one process: messages are handed over in memory, in order.
///
/// A message sent to an idle node is worked off in the sender's task (see
/// ``RaftInbound/handOff(_:)``), so a commit round between nodes of one process needs no thread
/// switch; with a slow storage this serializes the nodes' writes.
///
/// Register each node's ``RaftInbound`` with ``register(_:inbound:)`` and give the nodes
/// ``makePeer(from:)`` as their peer factory. Links can be cut and restored to show what Raft does
/// when a node is cut off:
///
/// ```swift
/// let network = InMemoryNetwork()
/// let node = try await RaftNode(id: "a", bootstrap: ["a", "b", "c"], storage: InMemoryStorage(),
///   stateMachine: machine, logger: logger, makePeer: network.makePeer(from: "a"))
/// network.register("a", inbound: node.inbound)
/// network.isolate("a")   // later: network.heal()
/// ```
public final class InMemoryNetwork: Sendable {
  private struct State {
    var inbounds: [NodeID: RaftInbound] = [:]
    var cut: Set<Link> = []
    var isolated: Set<NodeID> = []
    var delivered: UInt64 = 0
    var dropped: UInt64 = 0
  }

  private struct Link: Hashable {
    var from: NodeID
    var to: NodeID
  }

  private let state = Mutex(State())

  /// Creates an empty network.
  public init() {}

  /// Makes `inbound` reachable as `id`.
  public func register(_ id: NodeID, inbound: RaftInbound) {
    state.withLock { $0.inbounds[id] = inbound }
  }

  /// Makes `id` unreachable, as if its process had stopped.
  public func unregister(_ id: NodeID) {
    state.withLock { _ = $0.inbounds.removeValue(forKey: id) }
  }

  /// A peer factory for the node `sender`, to pass as `makePeer` to ``RaftNode``.
  public func makePeer(from sender: NodeID) -> @Sendable (NodeID, RaftInbound) -> any RaftPeer {
    { [self] target, _ in InMemoryPeer(id: target, sender: sender, network: self) }
  }

  /// Cuts every link to and from `id`.
  public func isolate(_ id: NodeID) {
    state.withLock { _ = $0.isolated.insert(id) }
  }

  /// Cuts the link from `from` to `to` (one way).
  public func cut(from: NodeID, to: NodeID) {
    state.withLock { _ = $0.cut.insert(Link(from: from, to: to)) }
  }

  /// Restores every link.
  public func heal() {
    state.withLock {
      $0.cut.removeAll()
      $0.isolated.removeAll()
    }
  }

  /// How many messages were delivered and dropped so far.
  public var counts: (delivered: UInt64, dropped: UInt64) {
    state.withLock { ($0.delivered, $0.dropped) }
  }

  func deliver(_ message: RaftMessage) {
    route(message)?.gotData(message)
  }

  nonisolated(nonsending) func handOff(_ message: RaftMessage) async {
    await route(message)?.handOff(message)
  }

  /// The receiver's inbound, or nil when the message is dropped.
  private func route(_ message: RaftMessage) -> RaftInbound? {
    state.withLock { state in
      if state.isolated.contains(message.from) || state.isolated.contains(message.to)
        || state.cut.contains(Link(from: message.from, to: message.to))
      {
        state.dropped += 1
        return nil
      }
      guard let inbound = state.inbounds[message.to] else {
        state.dropped += 1
        return nil
      }
      state.delivered += 1
      return inbound
    }
  }
}

/// A peer on an ``InMemoryNetwork``.
struct InMemoryPeer: RaftPeer {
  let id: NodeID
  let sender: NodeID
  let network: InMemoryNetwork

  func write(_ message: RaftMessage) {
    network.deliver(message)
  }

  nonisolated(nonsending) func send(_ message: RaftMessage) async {
    // A batch of entries is worth a task of the receiver's own, which writes it while the sender
    // goes on; a small message is cheaper worked off at once, in the sender's task.
    if case .appendEntries(let append) = message.body, append.entries.count > InMemoryPeer.handOffLimit {
      network.deliver(message)
    } else {
      await network.handOff(message)
    }
  }

  /// The most entries an append handed over in the sender's task carries.
  static let handOffLimit = 4
}
