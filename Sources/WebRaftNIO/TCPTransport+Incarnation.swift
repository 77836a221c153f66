import WebRaft

extension TCPTransport {
  /// A peer refused this node's connection at the handshake, and said why.
  ///
  /// Most refusals are passing (the peer does not know this node yet, while a membership change
  /// spreads) and the transport keeps retrying. One is final: ``Kind/incarnationMismatch``, which
  /// says that the peer knew this node under another incarnation — its data directory was wiped or
  /// replaced. Observe refusals with ``TCPTransport/onRefusal(_:)``.
  public struct HandshakeRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of refusal, as the refusal frame says.
    public enum Kind: UInt8, Hashable, Sendable {
      /// Any other reason: another cluster, a node not (yet) in the peer's address book, a failed
      /// authentication, a malformed handshake.
      case other = 0
      /// The peer knows this node's ID with another incarnation: this node started on a new data
      /// directory under the ID of a node that had one. It must not take part with an empty log:
      /// remove the member from the cluster, then add it again as a new node.
      case incarnationMismatch = 1
    }

    /// The peer that refused.
    public var peer: NodeID
    /// The peer's reason, as it sent it.
    public var reason: String
    /// What kind of refusal it is.
    public var kind: Kind

    /// Creates a refusal.
    public init(peer: NodeID, reason: String, kind: Kind) {
      self.peer = peer
      self.reason = reason
      self.kind = kind
    }

    /// A sentence naming the peer and its reason.
    public var description: String {
      "peer \(peer) refused this node's connection: \(reason)"
    }
  }

  /// Calls `handler` (on the connection's event loop; keep it short) whenever a peer refuses this
  /// node's connection at the handshake.
  ///
  /// A node started on a wiped data directory learns here that its peers know it under another
  /// incarnation (``HandshakeRefusal/Kind/incarnationMismatch``); a service should then stop and
  /// tell the operator to remove the member and add it again.
  public func onRefusal(_ handler: @escaping @Sendable (HandshakeRefusal) -> Void) {
    refusalHandlers.withLock { $0.append(handler) }
  }

  /// Reports a refusal of this node's connection to `peer`.
  func refused(by peer: NodeID, reason: String, kind: HandshakeRefusal.Kind) {
    let refusal = HandshakeRefusal(peer: peer, reason: reason, kind: kind)
    if kind == .incarnationMismatch {
      counters.incarnationRefusals.wrappingAdd(1, ordering: .relaxed)
    }
    for handler in refusalHandlers.withLock({ $0 }) { handler(refusal) }
  }

  /// Why `hello`'s incarnation is not acceptable, or nil when it is (or nothing is checked).
  func incarnationProblem(_ hello: Hello) -> String? {
    guard let incarnations else { return nil }
    switch incarnations.check(hello.sender, incarnation: hello.incarnation) {
    case .known, .unchecked:
      return nil
    case .recorded(let persistFailure):
      if let persistFailure {
        logger.error(
          "cannot store the incarnation of node \(hello.sender); it is kept in memory only: \(persistFailure)"
        )
      } else {
        logger.info(
          "recorded the incarnation of node \(hello.sender) (first seen)",
          metadata: ["incarnation": "\(Self.hex(hello.incarnation ?? 0))"])
      }
      return nil
    case .mismatch(let recorded, let presented):
      let shown = presented.map { "incarnation \(Self.hex($0))" } ?? "no incarnation"
      return
        "node \(hello.sender) comes with \(shown), but this node knows it as incarnation "
        + "\(Self.hex(recorded)): its data directory was wiped or replaced, so it lost the log and "
        + "votes it had. Remove \(hello.sender) from the cluster, then add it again as a new node "
        + "with an empty directory"
    }
  }

  /// Forgets `node`'s incarnation (see ``PeerIncarnationBook/forget(_:)``), logging a failure to
  /// store the change.
  public func forgetIncarnation(of node: NodeID) {
    guard let incarnations, incarnations.recorded[node] != nil else { return }
    do {
      try incarnations.forget(node)
      logger.info("forgot the incarnation of node \(node)")
    } catch {
      logger.error("cannot store that the incarnation of node \(node) is forgotten: \(error)")
    }
  }

  static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
  }
}
