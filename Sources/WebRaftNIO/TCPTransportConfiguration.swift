import WebRaft

extension TCPTransport {
  /// Where a node listens: a host name or IP address and a TCP port.
  public struct PeerAddress: Hashable, Sendable, CustomStringConvertible {
    /// The host name or IP address.
    public var host: String
    /// The TCP port; 0 when listening asks the system for a free port.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
      self.host = host
      self.port = port
    }

    /// Parses `host:port` (`[v6-address]:port` for IPv6), or returns nil when the text is not an
    /// address with a port from 0 to 65535.
    public init?(_ text: String) {
      guard let colon = text.lastIndex(of: ":") else { return nil }
      var host = Substring(text[..<colon])
      guard let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else {
        return nil
      }
      if host.hasPrefix("[") && host.hasSuffix("]") {
        host = host.dropFirst().dropLast()
      }
      guard !host.isEmpty else { return nil }
      self.init(host: String(host), port: port)
    }

    /// The address as `host:port` (`[host]:port` when the host contains a colon).
    public var description: String {
      host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
  }

  /// How long to wait before reconnecting to a peer after a failed or lost connection.
  ///
  /// The n-th consecutive failure waits `initial × multiplier^(n-1)`, capped at `maximum`, then
  /// scaled by a random factor in `1 - jitter ... 1` so that nodes do not reconnect in lockstep.
  /// A successful handshake resets the count.
  public struct Backoff: Hashable, Sendable {
    /// The delay after the first failure.
    public var initial: Duration
    /// The longest delay.
    public var maximum: Duration
    /// The growth factor between consecutive failures; at least 1.
    public var multiplier: Double
    /// The share of each delay that is randomized, from 0 (none) to 1 (anything from 0 to the
    /// delay).
    public var jitter: Double

    /// Creates a backoff policy.
    public init(
      initial: Duration = .milliseconds(50),
      maximum: Duration = .seconds(2),
      multiplier: Double = 2,
      jitter: Double = 0.5
    ) {
      self.initial = initial
      self.maximum = maximum
      self.multiplier = multiplier
      self.jitter = jitter
    }

    /// The delay before reconnection attempt `attempt` (1 for the first retry), for a random
    /// `unit` in `0 ... 1`.
    public func delay(attempt: Int, unit: Double) -> Duration {
      let base = Double(initial.components.seconds) + Double(initial.components.attoseconds) * 1e-18
      let cap = Double(maximum.components.seconds) + Double(maximum.components.attoseconds) * 1e-18
      var grown = base
      var step = 1
      while step < Swift.min(attempt, 64) && grown < cap {
        grown *= Swift.max(1, multiplier)
        step += 1
      }
      grown = Swift.min(grown, cap)
      let clampedJitter = Swift.min(1, Swift.max(0, jitter))
      let clampedUnit = Swift.min(1, Swift.max(0, unit))
      let seconds = grown * (1 - clampedJitter * clampedUnit)
      return .nanoseconds(Int64(Swift.max(0, seconds) * 1e9))
    }
  }

  /// The settings of a ``TCPTransport``.
  public struct Configuration: Sendable {
    /// The cluster's identity: connections between nodes of different clusters are refused, so
    /// that two clusters on one network never mix.
    public var clusterID: String
    /// Where this node listens; port 0 asks the system for a free port (see
    /// ``TCPTransport/localAddress``).
    public var listenAddress: PeerAddress
    /// The address of every other node (the address book). It is also the allow-list: a node
    /// that is not in it (nor in ``additionalAllowedNodes``) cannot connect. An entry for this
    /// node itself is ignored, so one map can serve the whole cluster.
    public var peers: [NodeID: PeerAddress]
    /// Nodes allowed to connect although this node has no address for them.
    public var additionalAllowedNodes: Set<NodeID>
    /// The largest frame accepted or sent, in bytes, counted from the header to the end of the
    /// payload (the length prefix's value). A peer that announces a longer frame is disconnected;
    /// a message that would encode longer is dropped with a logged error. Keep it above
    /// ``WebRaft/RaftConfiguration/maxBytesPerAppend``, the snapshot chunk size and the largest command.
    /// 8 MiB by default.
    ///
    /// A frame of many tiny entries decodes to up to about 30 times its size in memory, so this
    /// also bounds the memory one peer's message can take; when peers are not trusted, keep it
    /// small and use mutual TLS.
    public var maxFrameSize: Int
    /// How long a new connection may take to complete the handshake before it is closed.
    public var handshakeTimeout: Duration
    /// How long a connection attempt may take.
    public var connectTimeout: Duration
    /// The reconnection policy.
    public var backoff: Backoff
    /// How many small messages (votes, responses, heartbeats, …) wait at most for one peer while
    /// its connection is down or slow; the oldest are dropped first.
    public var maxQueuedMessages: Int
    /// How many appends and snapshot chunks wait at most for one peer; the oldest are dropped
    /// first (Raft sends them again).
    public var maxQueuedBulkMessages: Int
    /// How many bytes of appends and snapshot chunks wait at most for one peer.
    public var maxQueuedBulkBytes: Int
    /// How many bytes may sit in one connection's socket buffers before the transport stops
    /// writing to it and lets its queue absorb (and drop) the excess.
    public var maxBufferedBytesPerConnection: Int
    /// How many accepted connections may be open at once; more are closed at once.
    public var maxInboundConnections: Int
    /// Whether to disable Nagle's algorithm (recommended: messages are already coalesced).
    public var tcpNoDelay: Bool

    /// Creates a configuration.
    ///
    /// - Parameters:
    ///   - clusterID: the cluster's identity, the same on every node.
    ///   - listenAddress: where this node listens.
    ///   - peers: the address book and allow-list.
    public init(
      clusterID: String,
      listenAddress: PeerAddress,
      peers: [NodeID: PeerAddress] = [:]
    ) {
      self.clusterID = clusterID
      self.listenAddress = listenAddress
      self.peers = peers
      self.additionalAllowedNodes = []
      self.maxFrameSize = 8 << 20
      self.handshakeTimeout = .seconds(5)
      self.connectTimeout = .seconds(2)
      self.backoff = Backoff()
      self.maxQueuedMessages = 4096
      self.maxQueuedBulkMessages = 1024
      self.maxQueuedBulkBytes = 32 << 20
      self.maxBufferedBytesPerConnection = 4 << 20
      self.maxInboundConnections = 1024
      self.tcpNoDelay = true
    }

    /// Checks that every setting is in range.
    ///
    /// - Throws: ``WebRaft/RaftError/invalidConfiguration(_:)`` naming the setting and the accepted values.
    public func validate() throws(RaftError) {
      func require(_ condition: Bool, _ text: String) throws(RaftError) {
        if !condition { throw .invalidConfiguration(text) }
      }
      try require(!clusterID.isEmpty, "clusterID must not be empty")
      try require(
        (0...65_535).contains(listenAddress.port), "listenAddress.port must be in 0...65535")
      try require(
        maxFrameSize >= 64 && maxFrameSize <= Int(UInt32.max),
        "maxFrameSize must be in 64...\(UInt32.max), got \(maxFrameSize)")
      try require(handshakeTimeout > .zero, "handshakeTimeout must be positive")
      try require(connectTimeout > .zero, "connectTimeout must be positive")
      try require(
        backoff.initial > .zero && backoff.maximum >= backoff.initial,
        "backoff.initial must be positive and not above backoff.maximum")
      try require(backoff.multiplier >= 1, "backoff.multiplier must be at least 1")
      try require((0...1).contains(backoff.jitter), "backoff.jitter must be in 0...1")
      try require(maxQueuedMessages >= 1, "maxQueuedMessages must be at least 1")
      try require(maxQueuedBulkMessages >= 1, "maxQueuedBulkMessages must be at least 1")
      try require(maxQueuedBulkBytes >= 1, "maxQueuedBulkBytes must be at least 1")
      try require(
        maxBufferedBytesPerConnection >= 1024, "maxBufferedBytesPerConnection must be at least 1024")
      try require(maxInboundConnections >= 1, "maxInboundConnections must be at least 1")
      for (id, address) in peers {
        try require((1...65_535).contains(address.port), "the port of peer \(id) must be in 1...65535")
      }
    }
  }
}
