import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import WebRaft

/// A Raft transport over TCP, built on SwiftNIO: a listener for the other nodes' connections and
/// one outbound connection per peer.
///
/// Create the transport first, start it, then create the node with the transport's peer factory
/// and attach the node's inbound:
///
/// ```swift
/// let transport = try TCPTransport(
///   id: "a",
///   configuration: .init(
///     clusterID: "orders", listenAddress: .init(host: "0.0.0.0", port: 7001),
///     peers: ["b": .init(host: "10.0.0.2", port: 7001), "c": .init(host: "10.0.0.3", port: 7001)]),
///   logger: logger)
/// try await transport.start()
/// let node = try await RaftNode(
///   id: "a", bootstrap: ["a", "b", "c"], storage: storage, stateMachine: machine,
///   logger: logger, makePeer: transport.peerFactory)
/// transport.attach(node.inbound)
/// ```
///
/// Each connection starts with a handshake naming the cluster and both nodes; a connection from
/// another cluster, or from a node that is not in the address book (nor in
/// ``Configuration/additionalAllowedNodes``), is refused with a logged reason. Messages are
/// framed (``RaftFrame``) and encoded with ``WebRaft/RaftBinaryCodec``. A peer that is down costs a
/// bounded queue; small messages (votes, responses, heartbeats) are always sent before appends;
/// queued messages go out in one flush. Lost connections are retried with exponential backoff and
/// jitter.
///
/// The transport is a `Service` (swift-service-lifecycle): ``run()`` starts it if needed and shuts
/// it down on graceful shutdown or cancellation. ``shutdown()`` does the same explicitly.
public final class TCPTransport: Service, Sendable {
  /// This node's identity.
  public let id: NodeID
  /// The cluster this node belongs to.
  public let clusterID: String
  /// The settings the transport was created with (the address book may have changed since; see
  /// ``peers``).
  public let configuration: Configuration
  let logger: Logger
  let security: Security?
  /// This node's incarnation and its peers', when the transport checks them.
  public let incarnations: PeerIncarnationBook?
  let refusalHandlers = Mutex<[@Sendable (HandshakeRefusal) -> Void]>([])
  let counters = Counters()
  /// The event loop all of this transport's connections run on: a node talks to few peers, and
  /// one loop saves thread hand-offs between the listener's and the peers' connections.
  private let loop: any EventLoop
  private let state: Mutex<State>
  private let shutdownRequested = OneShotSignal()
  private let shutdownCompleted = OneShotSignal()

  private enum Phase: Sendable {
    case idle
    case starting
    case running
    case stopping
    case stopped
  }

  private struct Accepted: Sendable {
    var channel: any Channel
    /// The node, once the handshake completed.
    var node: NodeID?
    /// The order of acceptance.
    var sequence: UInt64
  }

  private struct State: Sendable {
    var phase = Phase.idle
    var addresses: [NodeID: PeerAddress]
    var additionalAllowed: Set<NodeID>
    var inbound: RaftInbound?
    var connections: [NodeID: PeerConnection] = [:]
    var accepted: [ObjectIdentifier: Accepted] = [:]
    var acceptedSequence: UInt64 = 0
    var serverChannel: (any Channel)?
    var localAddress: SocketAddress?
  }

  /// Creates a transport; it does not listen until ``start()`` or ``run()``.
  ///
  /// - Parameters:
  ///   - id: this node's identity, as in its ``WebRaft/RaftNode``.
  ///   - configuration: the cluster ID, the listen address, the address book and limits.
  ///   - logger: where the transport logs (it never prints); connections log with the metadata
  ///     `peer` and `remote`.
  ///   - eventLoopGroup: where to run; NIO's shared group by default. The transport runs all its
  ///     connections on one event loop of the group, chosen here, and does not shut the group
  ///     down.
  ///   - security: an optional layer such as mutual TLS (`WebRaftNIOTLS`).
  ///   - incarnations: this node's incarnation and the ones it has seen for its peers; with it,
  ///     the handshake refuses a peer that comes back under a known ID with another incarnation
  ///     (its data directory was wiped). See ``PeerIncarnationBook``.
  /// - Throws: ``WebRaft/RaftError/invalidConfiguration(_:)`` when a setting is out of range.
  public init(
    id: NodeID,
    configuration: Configuration,
    logger: Logger,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    security: Security? = nil,
    incarnations: PeerIncarnationBook? = nil
  ) throws(RaftError) {
    try configuration.validate()
    self.incarnations = incarnations
    self.id = id
    self.clusterID = configuration.clusterID
    self.configuration = configuration
    var logger = logger
    logger[metadataKey: "node"] = "\(id)"
    self.logger = logger
    self.security = security
    self.loop = eventLoopGroup.next()
    var addresses = configuration.peers
    addresses[id] = nil
    self.state = Mutex(
      State(addresses: addresses, additionalAllowed: configuration.additionalAllowedNodes))
  }

  // MARK: - Lifecycle

  /// Starts listening. Returns once the listener is bound (see ``localAddress``); calling it again
  /// while running does nothing.
  ///
  /// - Throws: the bind error, or ``WebRaft/RaftError/shutdown`` after ``shutdown()``.
  public func start() async throws {
    let proceed = try state.withLock { state throws(RaftError) -> Bool in
      switch state.phase {
      case .idle:
        state.phase = .starting
        return true
      case .starting, .running:
        return false
      case .stopping, .stopped:
        throw .shutdown
      }
    }
    guard proceed else { return }
    let configuration = self.configuration
    let bootstrap = ServerBootstrap(group: loop, childGroup: loop)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.tcpOption(.tcp_nodelay), value: configuration.tcpNoDelay ? 1 : 0)
      .childChannelOption(
        .writeBufferWaterMark,
        value: .init(
          low: configuration.maxBufferedBytesPerConnection / 2,
          high: configuration.maxBufferedBytesPerConnection)
      )
      .childChannelInitializer { channel in self.initializeAccepted(channel) }
    let channel: any Channel
    do {
      channel = try await bootstrap.bind(
        host: configuration.listenAddress.host, port: configuration.listenAddress.port
      ).get()
    } catch {
      state.withLock { state in
        if state.phase == .starting { state.phase = .idle }
      }
      logger.error("cannot listen on \(configuration.listenAddress): \(error)")
      throw error
    }
    let stillStarting = state.withLock { state -> Bool in
      guard state.phase == .starting else { return false }
      state.phase = .running
      state.serverChannel = channel
      state.localAddress = channel.localAddress
      return true
    }
    guard stillStarting else {
      try? await channel.close()
      throw RaftError.shutdown
    }
    logger.info(
      "raft transport listening",
      metadata: [
        "address": "\(channel.localAddress.map { "\($0)" } ?? "?")", "cluster": "\(clusterID)",
        "security": "\(security?.name ?? "none")",
      ])
  }

  /// Runs the transport as a service: starts it if needed, waits for graceful shutdown or
  /// cancellation, then shuts it down (``shutdown()``).
  public func run() async throws {
    try await start()
    await withTaskCancellationOrGracefulShutdownHandler {
      await shutdownRequested.wait()
    } onCancelOrGracefulShutdown: {
      self.shutdownRequested.fire()
    }
    await shutdown()
  }

  /// Stops the transport: closes the listener and every connection, drops queued messages and
  /// ends ``run()``. Returns when everything is closed; later writes are dropped. Calling it again
  /// waits for the first call to finish.
  public func shutdown() async {
    let taken = state.withLock {
      state -> (server: (any Channel)?, peers: [PeerConnection], accepted: [any Channel])? in
      switch state.phase {
      case .stopping, .stopped:
        return nil
      case .idle, .starting, .running:
        state.phase = .stopping
        let taken = (
          state.serverChannel, Array(state.connections.values), state.accepted.values.map(\.channel)
        )
        state.serverChannel = nil
        state.connections.removeAll()
        state.accepted.removeAll()
        return taken
      }
    }
    guard let taken else {
      await shutdownCompleted.wait()
      return
    }
    shutdownRequested.fire()
    if let server = taken.server {
      try? await server.close()
    }
    var closing: [EventLoopFuture<Void>] = taken.peers.map { $0.close() }
    for channel in taken.accepted {
      channel.close(promise: nil)
      closing.append(channel.closeFuture)
    }
    for future in closing {
      try? await future.get()
    }
    state.withLock { $0.phase = .stopped }
    logger.info("raft transport stopped")
    shutdownCompleted.fire()
  }

  // MARK: - State

  /// The address the listener is bound to, once started (with the real port when the
  /// configuration asked for port 0).
  public var localAddress: SocketAddress? {
    state.withLock { $0.localAddress }
  }

  /// The address other nodes can use to reach this one when it listens on a specific host: the
  /// configured host with the bound port. Nil before ``start()``.
  public var boundAddress: PeerAddress? {
    guard let port = localAddress?.port else { return nil }
    return PeerAddress(host: configuration.listenAddress.host, port: port)
  }

  /// The current address book (without this node).
  public var peers: [NodeID: PeerAddress] {
    state.withLock { $0.addresses }
  }

  /// What the transport did so far.
  public var statistics: Statistics {
    counters.snapshot
  }

  /// Connects the transport to the node that receives its messages (``WebRaft/RaftNode/inbound``).
  /// Messages received before an inbound is attached are dropped (Raft sends them again).
  public func attach(_ inbound: RaftInbound) {
    state.withLock { $0.inbound = inbound }
  }

  /// Replaces the address book, for example after a membership change. Connections to peers
  /// whose address changed are reopened; connections from nodes no longer allowed are closed.
  ///
  /// - Parameters:
  ///   - peers: every other node's address (an entry for this node is ignored).
  ///   - additionalAllowedNodes: when not nil, replaces
  ///     ``Configuration/additionalAllowedNodes``.
  public func updatePeers(_ peers: [NodeID: PeerAddress], additionalAllowedNodes: Set<NodeID>? = nil) {
    var addresses = peers
    addresses[id] = nil
    let (changes, revoked) = state.withLock { state in
      state.addresses = addresses
      if let additionalAllowedNodes { state.additionalAllowed = additionalAllowedNodes }
      let changes = state.connections.map { ($0.value, addresses[$0.key]) }
      let revoked = state.accepted.values.compactMap { accepted -> (NodeID, any Channel)? in
        guard let node = accepted.node, !Self.isAllowed(node, in: state, id: id) else { return nil }
        return (node, accepted.channel)
      }
      return (changes, revoked)
    }
    for (connection, address) in changes {
      connection.setAddress(address)
    }
    for (node, channel) in revoked {
      logger.info("closing the connection from node \(node): no longer in the address book")
      channel.close(promise: nil)
    }
  }

  /// Sets (or, with nil, removes) one peer's address.
  public func setAddress(_ address: PeerAddress?, for peer: NodeID) {
    var peers = self.peers
    peers[peer] = address
    updatePeers(peers)
  }

  // MARK: - Peers

  /// A peer factory for ``WebRaft/RaftNode``'s `makePeer`: the same as ``makePeer(_:inbound:)``.
  public var peerFactory: @Sendable (NodeID, RaftInbound) -> any RaftPeer {
    { [self] peer, inbound in makePeer(peer, inbound: inbound) }
  }

  /// Returns the peer for `peer`, opening its connection if needed; attaches `inbound` when no
  /// inbound is attached yet.
  public func makePeer(_ peer: NodeID, inbound: RaftInbound) -> any RaftPeer {
    let (connection, created) = state.withLock { state -> (PeerConnection, Bool) in
      if state.inbound == nil { state.inbound = inbound }
      if let existing = state.connections[peer] { return (existing, false) }
      let stopped = state.phase == .stopping || state.phase == .stopped
      let connection = PeerConnection(
        id: peer, address: state.addresses[peer], eventLoop: loop, transport: self,
        closed: stopped)
      if !stopped { state.connections[peer] = connection }
      return (connection, !stopped)
    }
    if created { connection.start() }
    return Peer(connection: connection, transport: self)
  }

  /// A peer as ``TCPTransport`` vends it to a node.
  public struct Peer: RaftPeer {
    let connection: PeerConnection
    let transport: TCPTransport

    /// The node at the other end.
    public var id: NodeID { connection.id }

    /// Queues the message for the peer's connection; never blocks.
    public func write(_ message: RaftMessage) {
      connection.write(message)
    }

    /// Closes the connection to the peer and drops its queue.
    public func close() {
      transport.release(connection)
    }

    /// Whether the connection to the peer is open and past the handshake.
    public var isConnected: Bool { connection.isEstablished }
  }

  func release(_ connection: PeerConnection) {
    state.withLock { state in
      if state.connections[connection.id] === connection {
        state.connections[connection.id] = nil
      }
    }
    _ = connection.close()
  }

  // MARK: - Accepted connections

  private static func isAllowed(_ node: NodeID, in state: State, id: NodeID) -> Bool {
    node != id && (state.addresses[node] != nil || state.additionalAllowed.contains(node))
  }

  private func initializeAccepted(_ channel: any Channel) -> EventLoopFuture<Void> {
    let limit = configuration.maxInboundConnections
    enum Admission {
      case admitted(evicting: (any Channel)?)
      case full
      case stopped
    }
    let admission = state.withLock { state -> Admission in
      guard state.phase == .running || state.phase == .starting else { return .stopped }
      var evicted: (any Channel)?
      if state.accepted.count >= limit {
        // Make room by dropping the oldest connection that has not completed its handshake, so
        // that a flood of idle connections cannot lock the cluster's nodes out.
        guard
          let oldest = state.accepted.filter({ $0.value.node == nil })
            .min(by: { $0.value.sequence < $1.value.sequence })
        else { return .full }
        state.accepted[oldest.key] = nil
        evicted = oldest.value.channel
      }
      state.acceptedSequence += 1
      state.accepted[ObjectIdentifier(channel)] = Accepted(
        channel: channel, node: nil, sequence: state.acceptedSequence)
      return .admitted(evicting: evicted)
    }
    switch admission {
    case .stopped:
      return channel.close()
    case .full:
      logger.warning(
        "refused a connection from \(channel.remoteAddress.map { "\($0)" } ?? "?"): already \(limit) inbound connections"
      )
      counters.connectionsRefused.wrappingAdd(1, ordering: .relaxed)
      return channel.close()
    case .admitted(let evicted):
      if let evicted {
        logger.warning(
          "closing a connection from \(evicted.remoteAddress.map { "\($0)" } ?? "?") that has not completed its handshake: already \(limit) inbound connections"
        )
        counters.connectionsRefused.wrappingAdd(1, ordering: .relaxed)
        evicted.close(promise: nil)
      }
    }
    channel.closeFuture.whenComplete { _ in
      self.state.withLock { _ = $0.accepted.removeValue(forKey: ObjectIdentifier(channel)) }
    }
    do {
      try security?.configureAcceptedChannel(channel)
      let operations = channel.pipeline.syncOperations
      try operations.addHandler(
        ByteToMessageHandler(RaftFrameDecoder(maxFrameSize: configuration.maxFrameSize)))
      try operations.addHandler(RaftChannelHandler(transport: self, role: .accepted))
      return channel.eventLoop.makeSucceededVoidFuture()
    } catch {
      logger.error("cannot set up an accepted connection: \(error)")
      return channel.eventLoop.makeFailedFuture(error)
    }
  }

  /// Why the hello of an accepted connection is refused, or nil to accept it.
  func refusalReason(for hello: Hello, channel: any Channel) -> String? {
    if hello.clusterID != clusterID {
      return "node \(hello.sender) is in cluster \"\(hello.clusterID)\", this node is in \"\(clusterID)\""
    }
    if hello.receiver != id {
      return "node \(hello.sender) meant to reach node \(hello.receiver), but this is node \(id)"
    }
    if hello.sender == id {
      return "a connection from this node's own identity \(id)"
    }
    let allowed = state.withLock { Self.isAllowed(hello.sender, in: $0, id: id) }
    if !allowed {
      return "unknown node \(hello.sender): not in this node's address book or allow-list"
    }
    if let security, let reason = security.authenticate(channel, hello.sender) {
      return "node \(hello.sender) failed authentication: \(reason)"
    }
    return nil
  }

  /// What is wrong with the answer to this node's hello, or nil when it is right.
  func answerProblem(_ hello: Hello, expected: NodeID, channel: any Channel) -> String? {
    if hello.clusterID != clusterID {
      return "the peer is in cluster \"\(hello.clusterID)\", this node is in \"\(clusterID)\""
    }
    if hello.sender != expected {
      return "the address of peer \(expected) reached node \(hello.sender)"
    }
    if hello.receiver != id {
      return "the peer answered node \(hello.receiver) instead of \(id)"
    }
    if let security, let reason = security.authenticate(channel, hello.sender) {
      return "peer \(hello.sender) failed authentication: \(reason)"
    }
    return nil
  }

  /// Records the node of an accepted connection. A node keeps one connection to each peer, so an
  /// older connection from the same node is stale (its process restarted, or the network dropped
  /// it without a word) and is closed.
  func acceptedHandshakeCompleted(_ channel: any Channel, node: NodeID) {
    let stale = state.withLock { state -> [any Channel] in
      let key = ObjectIdentifier(channel)
      state.accepted[key]?.node = node
      return state.accepted.filter { $0.key != key && $0.value.node == node }.map(\.value.channel)
    }
    counters.connectionsAccepted.wrappingAdd(1, ordering: .relaxed)
    for old in stale {
      logger.debug("closing an older connection from node \(node)")
      old.close(promise: nil)
    }
  }

  func deliver(_ message: RaftMessage) {
    guard let inbound = state.withLock({ $0.inbound }) else {
      counters.messagesUndelivered.wrappingAdd(1, ordering: .relaxed)
      return
    }
    counters.messagesReceived.wrappingAdd(1, ordering: .relaxed)
    inbound.gotData(message)
  }
}

/// A one-shot event that tasks can wait for.
final class OneShotSignal: Sendable {
  private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  func fire() {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      guard !state.fired else { return [] }
      state.fired = true
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  func wait() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let now = state.withLock { state -> Bool in
        if state.fired { return true }
        state.waiters.append(continuation)
        return false
      }
      if now { continuation.resume() }
    }
  }
}
