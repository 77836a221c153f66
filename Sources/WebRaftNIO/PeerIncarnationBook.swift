import Synchronization
import WebRaft

/// This node's incarnation and the incarnations it has seen for its peers: the guard that keeps a
/// node that lost its data directory from rejoining under its old identity.
///
/// An incarnation is a random number drawn when a node's data directory is made (WebRaftFileStorage's
/// `DataDirectoryIdentity`). ``TCPTransport`` sends its own in every handshake and checks the
/// peer's against the book: the first incarnation seen for a ``WebRaft/NodeID`` is recorded and
/// trusted (trust on first use); a later handshake under the same ID with another incarnation is
/// refused with ``TCPTransport/HandshakeRefusal/Kind/incarnationMismatch``, and the refused node
/// learns why (``TCPTransport/onRefusal(_:)``). Such a node lost its log and its votes: letting it
/// vote or acknowledge entries could lose committed entries or elect two leaders in one term.
///
/// The book is kept by the node, not replicated: it needs no agreement, it is checked before any
/// message is read, and it works the same for members, learners and nodes still joining. Keep it
/// durable (`persist` is called with every change; WebRaftFileStorage's
/// `FileStorage.recordPeerIncarnations(_:)` stores it in the data directory) so that a restart
/// does not forget it. A node removed from the membership is forgotten
/// (``MembershipAddressBook`` calls ``forget(_:)``), so that it can be added again with a new
/// directory. A node that was down while a peer was removed and added again still remembers the
/// old incarnation and refuses the new one; ``forget(_:)`` it by hand.
public final class PeerIncarnationBook: Sendable {
  /// What the book says about a peer's handshake.
  public enum Verdict: Hashable, Sendable {
    /// The peer's incarnation is the one recorded.
    case known
    /// The first incarnation seen for the peer: recorded now. `persistFailure` describes why it
    /// could not be stored durably, if it could not (it is kept in memory).
    case recorded(persistFailure: String?)
    /// The peer sent no incarnation and none is recorded (a node without a book): accepted
    /// unchecked.
    case unchecked
    /// The peer comes with another incarnation than the one recorded, or with none although one
    /// is recorded: refuse it.
    case mismatch(recorded: UInt64, presented: UInt64?)
  }

  /// This node's own incarnation, sent in its handshakes.
  public let own: UInt64
  private let known: Mutex<[NodeID: UInt64]>
  private let persist: @Sendable ([NodeID: UInt64]) throws -> Void

  /// Creates a book.
  ///
  /// - Parameters:
  ///   - own: this node's incarnation (not 0).
  ///   - known: the incarnations recorded before, as `persist` last stored them.
  ///   - persist: stores the whole book durably; called, while the book is locked, after every
  ///     change.
  public init(
    own: UInt64, known: [NodeID: UInt64] = [:],
    persist: @escaping @Sendable ([NodeID: UInt64]) throws -> Void = { _ in }
  ) {
    self.own = own
    self.known = Mutex(known)
    self.persist = persist
  }

  /// The incarnations recorded for the peers.
  public var recorded: [NodeID: UInt64] {
    known.withLock { $0 }
  }

  /// Checks `node`'s `incarnation` (nil when it sent none), recording it when it is the first.
  public func check(_ node: NodeID, incarnation: UInt64?) -> Verdict {
    known.withLock { known -> Verdict in
      switch (known[node], incarnation) {
      case (nil, nil):
        return .unchecked
      case (nil, let presented?):
        known[node] = presented
        do {
          try persist(known)
          return .recorded(persistFailure: nil)
        } catch {
          return .recorded(persistFailure: "\(error)")
        }
      case (let recorded?, let presented):
        return recorded == presented ? .known : .mismatch(recorded: recorded, presented: presented)
      }
    }
  }

  /// Forgets `node`'s incarnation, for example once it left the membership, so that a new node
  /// under its ID is trusted on first use again.
  ///
  /// - Throws: what `persist` throws; the book forgot the node in memory anyway.
  public func forget(_ node: NodeID) throws {
    try known.withLock { known in
      guard known.removeValue(forKey: node) != nil else { return }
      try persist(known)
    }
  }
}
