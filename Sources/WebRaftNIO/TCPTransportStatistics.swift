import Synchronization

extension TCPTransport {
  /// Counters of what a transport did since it was created, for metrics and tests.
  public struct Statistics: Hashable, Sendable {
    /// Messages written to connections.
    public var messagesSent: Int
    /// Messages received and handed to the node.
    public var messagesReceived: Int
    /// Messages dropped before sending: queue overflow, a peer without an address, a message
    /// too large for a frame, or a shut-down transport.
    public var messagesDropped: Int
    /// Received messages dropped because no ``WebRaft/RaftInbound`` was attached yet.
    public var messagesUndelivered: Int
    /// Write batches flushed (each holds one or more messages).
    public var flushes: Int
    /// Outbound connections that completed the handshake.
    public var connectionsEstablished: Int
    /// Outbound connection attempts that failed or were refused.
    public var connectionFailures: Int
    /// Inbound connections accepted after the handshake.
    public var connectionsAccepted: Int
    /// Inbound connections refused at the handshake (wrong cluster, unknown node, …).
    public var connectionsRefused: Int
    /// Connections closed for a protocol violation (bad frame, malformed message, …).
    public var protocolErrors: Int
    /// Outbound connections a peer refused because it knows this node under another incarnation
    /// (see ``PeerIncarnationBook``).
    public var incarnationRefusals: Int
  }

  /// The live counters behind ``Statistics``.
  final class Counters: Sendable {
    let messagesSent = Atomic<Int>(0)
    let messagesReceived = Atomic<Int>(0)
    let messagesDropped = Atomic<Int>(0)
    let messagesUndelivered = Atomic<Int>(0)
    let flushes = Atomic<Int>(0)
    let connectionsEstablished = Atomic<Int>(0)
    let connectionFailures = Atomic<Int>(0)
    let connectionsAccepted = Atomic<Int>(0)
    let connectionsRefused = Atomic<Int>(0)
    let protocolErrors = Atomic<Int>(0)
    let incarnationRefusals = Atomic<Int>(0)

    var snapshot: Statistics {
      Statistics(
        messagesSent: messagesSent.load(ordering: .relaxed),
        messagesReceived: messagesReceived.load(ordering: .relaxed),
        messagesDropped: messagesDropped.load(ordering: .relaxed),
        messagesUndelivered: messagesUndelivered.load(ordering: .relaxed),
        flushes: flushes.load(ordering: .relaxed),
        connectionsEstablished: connectionsEstablished.load(ordering: .relaxed),
        connectionFailures: connectionFailures.load(ordering: .relaxed),
        connectionsAccepted: connectionsAccepted.load(ordering: .relaxed),
        connectionsRefused: connectionsRefused.load(ordering: .relaxed),
        protocolErrors: protocolErrors.load(ordering: .relaxed),
        incarnationRefusals: incarnationRefusals.load(ordering: .relaxed))
    }
  }
}
