import NIOCore
import WebRaft

extension TCPTransport {
  /// A layer under the frames, such as TLS, and a check of the peer's identity.
  ///
  /// The transport calls the closures on the channel's event loop. `WebRaftNIOTLS` provides
  /// mutual TLS as `.mutualTLS(_:)`; other layers can be written the same way.
  public struct Security: Sendable {
    /// A short name for logs (for example `"mutual TLS"`).
    public var name: String
    /// Adds handlers to the pipeline of an accepted connection, before the frame handlers.
    public var configureAcceptedChannel: @Sendable (any Channel) throws -> Void
    /// Adds handlers to the pipeline of a connection this node opens to `peer` at `address`.
    public var configureDialedChannel: @Sendable (any Channel, NodeID, PeerAddress) throws -> Void
    /// Checks that the other end of `channel`, which claims to be `node` in its handshake, is
    /// that node; returns nil to accept, or the reason for refusing.
    public var authenticate: @Sendable (any Channel, NodeID) -> String?

    /// Creates a security layer.
    public init(
      name: String,
      configureAcceptedChannel: @escaping @Sendable (any Channel) throws -> Void,
      configureDialedChannel: @escaping @Sendable (any Channel, NodeID, PeerAddress) throws -> Void,
      authenticate: @escaping @Sendable (any Channel, NodeID) -> String? = { _, _ in nil }
    ) {
      self.name = name
      self.configureAcceptedChannel = configureAcceptedChannel
      self.configureDialedChannel = configureDialedChannel
      self.authenticate = authenticate
    }
  }
}
