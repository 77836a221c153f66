import ArgumentParser
import Logging
import Metrics
import Prometheus
import RaftKV
import ServiceLifecycle
import WebRaft
import WebRaftNIO

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `raftkv serve`: runs one node.
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run one node.",
    discussion: """
      Start each node of a new cluster with the same --peers (every node's Raft address, itself
      included). A node whose data directory already holds state ignores --peers and carries on
      where it stopped with the membership in its log; such a restart needs neither --peers nor
      --join. A new node can instead join a running cluster with --join URL.

      A node refuses to start on a data directory made for another node or cluster. A node started
      on a wiped directory under an ID its cluster knows is refused by its peers and exits with the
      steps to bring it back (remove the member, empty the directory, start it with --join).
      """)

  @Option(help: "The node's identity, for example n1.")
  var id: String

  @Option(help: "Where the Raft transport listens, host:port.")
  var raft: String

  @Option(help: "Where the HTTP API listens, host:port.")
  var http: String = "127.0.0.1:8001"

  @Option(help: "The initial cluster's Raft addresses: id=host:port,... (itself included).")
  var peers: String?

  @Option(name: .customLong("peers-http"), help: "The members' HTTP addresses: id=host:port,... (optional).")
  var peersHTTP: String?

  @Option(help: "The node's data directory (created if needed).")
  var dataDir: String

  @Option(help: "Join the running cluster that this node URL belongs to, instead of --peers.")
  var join: String?

  @Flag(
    help: """
      Start outside the cluster and wait until a leader adds this node (raftkv members change \
      --add); --peers then gives the running members' addresses.
      """)
  var waitToBeAdded = false

  @Option(help: "With --join: replace this voter (it leaves, this node votes, in one joint change).")
  var replace: String?

  @Option(help: "The cluster's name; nodes of different clusters refuse each other.")
  var clusterID: String = "raftkv"

  @Option(help: "The largest value in bytes.")
  var maxValueBytes: Int = 1 << 20

  @Option(help: "The longest key in bytes.")
  var maxKeyBytes: Int = 1024

  @Option(help: "Seconds a request may take before it answers 504 (writes: outcome unknown).")
  var requestTimeout: Double = 5

  @Flag(help: "Do not fsync the log (UNSAFE on power loss; a process crash loses nothing).")
  var noFsync = false

  @Option(help: "trace, debug, info, notice, warning or error.")
  var logLevel: String = "info"

  @Option(help: .hidden)
  var parentPid: Int32?

  func validate() throws {
    if waitToBeAdded && (peers == nil || join != nil) {
      throw ValidationError("--wait-to-be-added needs --peers (the running members' addresses) and no --join")
    }
    if replace != nil && join == nil {
      throw ValidationError("--replace needs --join URL: the node replaces a voter of a running cluster")
    }
    if replace == id { throw ValidationError("--replace names this node itself (\(id))") }
    guard TCPTransport.PeerAddress(raft) != nil else { throw ValidationError("--raft must be host:port") }
    guard TCPTransport.PeerAddress(http) != nil else { throw ValidationError("--http must be host:port") }
    if maxValueBytes <= 0 || maxKeyBytes <= 0 { throw ValidationError("limits must be positive") }
  }

  func run() async throws {
    let level = try bootstrapLogging(level: logLevel)
    var logger = Logger(label: "raftkv")
    logger.logLevel = level
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

    let raftAddress = TCPTransport.PeerAddress(raft)!
    let httpAddress = TCPTransport.PeerAddress(http)!
    var members: [NodeID: MemberAddresses] = [:]
    if let peers {
      let httpByID = try parseAddressList(peersHTTP ?? "", option: "--peers-http")
      for (member, address) in try parseAddressList(peers, option: "--peers") {
        members[member] = MemberAddresses(raft: address, http: httpByID[member])
      }
      guard members[NodeID(id)] != nil else {
        throw ValidationError("--peers must include this node (\(id))")
      }
    }
    members[NodeID(id)] = MemberAddresses(raft: raftAddress.description, http: httpAddress.description)

    var configuration = RaftKVServer.Configuration(
      id: NodeID(id), raftAddress: raftAddress, httpAddress: httpAddress, peers: members,
      dataDirectory: dataDir, join: join)
    configuration.clusterID = clusterID
    configuration.replacing = replace.map { NodeID($0) }
    configuration.waitsToBeAdded = waitToBeAdded
    configuration.limits = KVLimits(maxKeyBytes: maxKeyBytes, maxValueBytes: maxValueBytes)
    configuration.requestTimeout = .milliseconds(Int64(requestTimeout * 1000))
    configuration.syncPolicy = noFsync ? .none : .fdatasync
    configuration.metricsText = { registry.emitToString() }
    // Without --peers or --join the node must carry on from its directory, never start a new
    // cluster of itself alone.
    configuration.resumeOnly = peers == nil && join == nil

    let server = RaftKVServer(configuration: configuration, logger: logger)
    var services: [any Service] = [server]
    if let parentPid { services.append(ParentWatch(parent: parentPid)) }
    let group = ServiceGroup(
      configuration: .init(
        services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) },
        gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    try await group.run()
  }
}

/// Ends the node when the process that started it (`raftkv cluster`) is gone.
struct ParentWatch: Service {
  let parent: Int32

  func run() async throws {
    while !Task.isCancelled && !isShuttingDown {
      if getppid() != parent { return }
      try? await Task.sleep(for: .milliseconds(500))
    }
  }

  private var isShuttingDown: Bool { Task.isShuttingDownGracefully }
}

/// Parses `id=host:port,id=host:port`.
func parseAddressList(_ text: String, option: String) throws -> [NodeID: String] {
  var result: [NodeID: String] = [:]
  for item in text.split(separator: ",") where !item.trimmingCharacters(in: " ").isEmpty {
    let parts = item.split(separator: "=", maxSplits: 1)
    guard parts.count == 2, !parts[0].isEmpty, let address = TCPTransport.PeerAddress(String(parts[1])) else {
      throw ValidationError("\(option): \"\(item)\" is not id=host:port")
    }
    let member = NodeID(String(parts[0]).trimmingCharacters(in: " "))
    if result[member] != nil { throw ValidationError("\(option): \(member) appears twice") }
    result[member] = address.description
  }
  return result
}

extension StringProtocol {
  func trimmingCharacters(in set: String) -> String {
    var slice = Substring(self)
    while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
    while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
    return String(slice)
  }
}
