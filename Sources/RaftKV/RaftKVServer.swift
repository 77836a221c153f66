import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import WebRaft
import WebRaftFileStorage
import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// One `raftkv` node: durable file storage, the TCP transport, a ``WebRaft/RaftNode`` running the
/// ``KVStateMachine``, and the HTTP API with the dashboard.
///
/// ```swift
/// let server = RaftKVServer(configuration: .init(
///   id: "n1", raftAddress: .init(host: "127.0.0.1", port: 7001),
///   httpAddress: .init(host: "127.0.0.1", port: 8001),
///   peers: ["n1": .init(raft: "127.0.0.1:7001", http: "127.0.0.1:8001"), ...],
///   dataDirectory: "/var/lib/raftkv/n1"), logger: logger)
/// try await server.run()   // until graceful shutdown or cancellation
/// ```
///
/// It is a `Service` (swift-service-lifecycle): ``run()`` serves until graceful shutdown or
/// cancellation, then stops the HTTP server, the node, the transport and the storage in turn.
public final class RaftKVServer: Service, Sendable {
  /// How a node is set up.
  public struct Configuration: Sendable {
    /// The node's identity.
    public var id: NodeID
    /// Where the Raft transport listens (port 0: any free port).
    public var raftAddress: TCPTransport.PeerAddress
    /// Where the HTTP API listens (port 0: any free port).
    public var httpAddress: TCPTransport.PeerAddress
    /// The initial cluster, this node included: each member's Raft address and, when known, its
    /// HTTP address. Used only when the data directory holds no state yet; ignored when joining.
    public var peers: [NodeID: MemberAddresses]
    /// The node's data directory (created if needed).
    public var dataDirectory: String
    /// When set, the URL of a running cluster's node: this node asks it to add it as a member
    /// (unless its data directory already holds state).
    public var join: String?
    /// When set (and ``join`` is not), the node starts outside the cluster and waits until a
    /// leader adds it (with `POST /members/change`, say); ``peers`` then names the running
    /// cluster's members, so that this node can answer whichever of them leads, and is not a
    /// membership.
    public var waitsToBeAdded = false
    /// With ``join``: the voter this node replaces. It joins as a learner, catches up, and then
    /// takes that voter's place in one joint change (the voter leaves, this node votes).
    public var replacing: NodeID?
    /// The cluster's name; transports of different clusters refuse each other.
    public var clusterID: String
    /// The Raft timeouts and limits.
    public var raft: RaftConfiguration
    /// When storage writes reach the disk.
    public var syncPolicy: FileStorage.SyncPolicy
    /// Key and value limits.
    public var limits: KVLimits
    /// How long a request may take in all (a write that runs out answers 504: its outcome is
    /// unknown).
    public var requestTimeout: Duration
    /// How long a request waits for a leader to be known before it answers 503.
    public var leaderWait: Duration
    /// Renders the metrics for `GET /metrics` (Prometheus text); nil answers 404.
    public var metricsText: (@Sendable () -> String)?
    /// Refuse to start on a data directory that holds no state, instead of starting a new
    /// cluster of ``peers``: for a restart that must carry on where the node stopped (for example
    /// after ``RaftKVRecovery/recover(dataDirectory:id:voters:logger:)``).
    public var resumeOnly: Bool

    /// Creates a configuration with the defaults for the rest.
    public init(
      id: NodeID,
      raftAddress: TCPTransport.PeerAddress,
      httpAddress: TCPTransport.PeerAddress,
      peers: [NodeID: MemberAddresses],
      dataDirectory: String,
      join: String? = nil
    ) {
      self.id = id
      self.raftAddress = raftAddress
      self.httpAddress = httpAddress
      self.peers = peers
      self.dataDirectory = dataDirectory
      self.join = join
      self.clusterID = "raftkv"
      var raft = RaftConfiguration()
      // A snapshot of the whole map every 100,000 writes (etcd's default count), not 10,000: each
      // one writes and syncs the map in the background, which competes with the log for the disk.
      raft.snapshotEntryInterval = 100_000
      self.raft = raft
      self.syncPolicy = .fdatasync
      self.limits = KVLimits()
      self.requestTimeout = .seconds(5)
      self.leaderWait = .seconds(2)
      self.metricsText = nil
      self.resumeOnly = false
    }
  }

  /// Where a running node listens.
  public struct BoundAddresses: Hashable, Sendable {
    /// The Raft transport's address.
    public var raft: TCPTransport.PeerAddress
    /// The HTTP API's address.
    public var http: TCPTransport.PeerAddress
  }

  /// Why a node could not start: a port in use, a data directory it cannot open, …
  public struct StartError: Error, CustomStringConvertible {
    /// What went wrong.
    public var description: String
  }

  /// The settings the node runs with.
  public let configuration: Configuration
  let logger: Logger
  private let bound = Mutex<
    (addresses: BoundAddresses?, waiters: [CheckedContinuation<BoundAddresses, any Error>])
  >(
    (nil, []))
  private let failure = Mutex<(any Error)?>(nil)

  /// Creates a node; nothing starts before ``run()``.
  public init(configuration: Configuration, logger: Logger) {
    self.configuration = configuration
    var logger = logger
    logger[metadataKey: "node"] = "\(configuration.id)"
    self.logger = logger
  }

  /// Waits until the node serves HTTP and returns where it listens.
  ///
  /// - Throws: the error that stopped ``run()`` before it got there.
  public func waitUntilServing() async throws -> BoundAddresses {
    try await withCheckedThrowingContinuation { continuation in
      let (ready, failed) = bound.withLock { state -> (BoundAddresses?, (any Error)?) in
        if let addresses = state.addresses { return (addresses, nil) }
        if let error = failure.withLock({ $0 }) { return (nil, error) }
        state.waiters.append(continuation)
        return (nil, nil)
      }
      if let ready { continuation.resume(returning: ready) }
      if let failed { continuation.resume(throwing: failed) }
    }
  }

  private func markServing(_ addresses: BoundAddresses) {
    let waiters = bound.withLock { state in
      state.addresses = addresses
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume(returning: addresses) }
  }

  private func markFailed(_ error: any Error) {
    failure.withLock { $0 = error }
    let waiters = bound.withLock { state in
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume(throwing: error) }
  }

  /// Runs the node until graceful shutdown or cancellation.
  ///
  /// - Throws: when the data directory, the storage, a listener or joining fails.
  public func run() async throws {
    do {
      try await serve()
    } catch {
      markFailed(error)
      throw error
    }
    markFailed(CancellationError())
  }

  private func serve() async throws {
    let configuration = self.configuration
    let id = configuration.id
    try FileManager.default.createDirectory(
      atPath: configuration.dataDirectory, withIntermediateDirectories: true)
    let storage: FileStorage
    let incarnations: PeerIncarnationBook
    do {
      storage = try FileStorage(
        directory: configuration.dataDirectory, clusterID: configuration.clusterID, nodeID: id,
        configuration: .init(syncPolicy: configuration.syncPolicy), logger: logger)
      incarnations = try Self.incarnationBook(of: storage)
    } catch {
      throw StartError(description: "cannot open the data directory \(configuration.dataDirectory): \(error)")
    }
    defer { storage.close() }
    if configuration.resumeOnly, try await storage.load() == nil {
      throw StartError(
        description:
          "the data directory \(configuration.dataDirectory) holds no state: give --peers to start a new "
          + "cluster, or --join URL to join a running one")
    }

    // A node that joins learns the members from the node it joins through.
    var joinThrough: KVEndpoint?
    var knownPeers = configuration.peers
    if let join = configuration.join {
      guard let endpoint = KVEndpoint(url: join) else { throw KVHTTPClientError.invalidURL(join) }
      if try await storage.load() == nil {
        joinThrough = endpoint
        knownPeers = try await Self.fetchMembers(from: endpoint, logger: logger)
      } else {
        logger.info(
          "the data directory already holds state; not joining again", metadata: ["join": "\(join)"])
      }
    }

    var peerAddresses: [NodeID: TCPTransport.PeerAddress] = [:]
    for (member, addresses) in knownPeers where member != id {
      if let address = TCPTransport.PeerAddress(addresses.raft) { peerAddresses[member] = address }
    }
    let transport = try TCPTransport(
      id: id,
      configuration: .init(
        clusterID: configuration.clusterID, listenAddress: configuration.raftAddress, peers: peerAddresses),
      logger: logger, incarnations: incarnations)
    let refusals = Self.incarnationRefusals(of: transport)
    do {
      try await transport.start()
    } catch {
      throw StartError(
        description: "cannot listen for Raft on \(configuration.raftAddress): \(error)")
    }
    let raftAddress = transport.boundAddress ?? configuration.raftAddress

    // The HTTP port may be chosen by the system: bind it before the node starts so that its
    // address can go into the membership.
    let own = MemberAddresses(raft: raftAddress.description, http: nil)
    var bootstrap = Membership.empty
    if joinThrough == nil && !configuration.waitsToBeAdded {
      var attributes: [NodeID: [String: String]] = [:]
      for (member, addresses) in configuration.peers { attributes[member] = addresses.attributes }
      var voters = Set(configuration.peers.keys)
      voters.insert(id)
      var ownAttributes = attributes[id] ?? own.attributes
      ownAttributes[MemberAddresses.raftKey] = raftAddress.description
      if configuration.httpAddress.port != 0 {
        ownAttributes[MemberAddresses.httpKey] = configuration.httpAddress.description
      }
      attributes[id] = ownAttributes
      bootstrap = Membership(voters: voters, attributes: attributes)
    }

    let store = KVStateMachine()
    let node: RaftNode<KVStateMachine>
    do {
      node = try await RaftNode(
        id: id, configuration: configuration.raft, bootstrap: bootstrap, storage: storage,
        stateMachine: store, proposalTimeout: configuration.requestTimeout, logger: logger,
        makePeer: transport.peerFactory)
    } catch {
      await transport.shutdown()
      throw error
    }
    transport.attach(node.inbound)
    if joinThrough == nil { await warnIfPeersIgnored(node) }

    // Keep the transport's address book in step with the membership's addresses. A removed
    // member stays for two election timeouts after its removal committed, so that a leader that
    // removed itself can still hand leadership over.
    let longestTimeout = max(
      configuration.raft.electionTimeout.upperBound, configuration.raft.heartbeatTimeout)
    let book = MembershipAddressBook(transport: transport, grace: longestTimeout * 2) { member, membership in
      membership.attributes[member]?[MemberAddresses.raftKey].flatMap { TCPTransport.PeerAddress($0) }
    }
    let listeners = await book.follow(node)

    let service = await KVService(
      node: node, store: store, limits: configuration.limits, requestTimeout: configuration.requestTimeout,
      leaderWait: configuration.leaderWait)
    let routes = KVHTTPRoutes(
      service: service, metrics: KVHTTPMetrics(node: id.rawValue), metricsText: configuration.metricsText)
    var hbLogger = logger
    hbLogger.logLevel = max(logger.logLevel, .notice)
    let app = Application(
      router: routes.makeRouter(),
      configuration: .init(
        address: .hostname(configuration.httpAddress.host, port: configuration.httpAddress.port),
        serverName: nil, backlog: 1024),
      onServerRunning: { [self] channel in
        let port = channel.localAddress?.port ?? configuration.httpAddress.port
        let http = TCPTransport.PeerAddress(host: configuration.httpAddress.host, port: port)
        logger.info("raftkv serving HTTP", metadata: ["http": "\(http)", "raft": "\(raftAddress)"])
        markServing(BoundAddresses(raft: raftAddress, http: http))
      },
      logger: hbLogger)

    defer {
      for listener in listeners { node.unlisten(listener) }
      book.stop()
    }
    do {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
          defer { refusals.continuation.finish() }
          do {
            try await app.run()
          } catch {
            throw StartError(
              description: "cannot serve HTTP on \(configuration.httpAddress): \(error)")
          }
        }
        group.addTask { [knownPeers] in
          // A peer knows this node under another incarnation: its directory was wiped. Stop.
          for await refusal in refusals.stream {
            throw StaleIdentityError(
              id: id, dataDirectory: configuration.dataDirectory, refusal: refusal,
              members: knownPeers)
          }
        }
        if let joinThrough {
          group.addTask {
            let http = try await self.waitUntilServing().http
            try await Self.requestJoin(
              through: joinThrough, id: id,
              addresses: MemberAddresses(raft: raftAddress.description, http: http.description),
              replacing: configuration.replacing, logger: self.logger)
          }
        }
        while (try await group.next()) != nil {}
      }
    } catch {
      await node.shutdown()
      await transport.shutdown()
      throw error
    }
    logger.info("raftkv stopping")
    await node.shutdown(handingOverLeadership: true)
    await transport.shutdown()
  }

  /// The members and addresses of the cluster that `endpoint` belongs to.
  static func fetchMembers(from endpoint: KVEndpoint, logger: Logger) async throws -> [NodeID:
    MemberAddresses]
  {
    let client = KVHTTPClient(endpoint: endpoint, timeout: .seconds(5))
    defer { Task { await client.close() } }
    var lastError: any Error = KVHTTPClientError.connectionClosed
    for _ in 0..<20 {
      do {
        let response = try await client.request(.GET, "/status")
        guard response.status == 200 else { throw RaftKVClient.error(from: response) }
        let report = try JSONDecoder().decode(KVStatusReport.self, from: Data(response.bytes))
        var members: [NodeID: MemberAddresses] = [:]
        for member in report.members {
          if let raft = member.raft {
            members[NodeID(member.id)] = MemberAddresses(raft: raft, http: member.http)
          }
        }
        return members
      } catch {
        lastError = error
        logger.warning("cannot read the cluster's members yet; retrying", metadata: ["error": "\(error)"])
        try await Task.sleep(for: .milliseconds(500))
      }
    }
    throw lastError
  }

  /// Asks the cluster to add this node, or to put it in `replacing`'s place, retrying while it is
  /// busy.
  static func requestJoin(
    through endpoint: KVEndpoint, id: NodeID, addresses: MemberAddresses, replacing: NodeID? = nil,
    logger: Logger
  ) async throws {
    let client = KVHTTPClient(endpoint: endpoint, timeout: .seconds(120))
    defer { Task { await client.close() } }
    let member = KVHTTPRoutes.MemberRequest(id: id.rawValue, raft: addresses.raft, http: addresses.http)
    let path = replacing == nil ? "/members" : "/members/change"
    let encoded =
      try replacing.map {
        try JSONEncoder().encode(KVHTTPRoutes.ChangeMembersRequest(add: [member], remove: [$0.rawValue]))
      } ?? JSONEncoder().encode(member)
    for attempt in 1...30 {
      do {
        let response = try await client.request(
          .POST, path, headers: [("Content-Type", "application/json")], body: ByteBuffer(bytes: encoded))
        if response.status == 200 {
          logger.info("joined the cluster", metadata: ["through": "\(endpoint)"])
          return
        }
        let error = RaftKVClient.error(from: response)
        guard response.status == 503 || response.status == 409 || response.status == 504 else { throw error }
        logger.warning(
          "join not accepted yet; retrying", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
      } catch let error as RaftKVError {
        throw error
      } catch {
        logger.warning(
          "join request failed; retrying", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
      }
      try await Task.sleep(for: .seconds(1))
    }
    throw RaftKVError(status: 503, message: "the cluster did not accept this node", leader: nil)
  }
}
