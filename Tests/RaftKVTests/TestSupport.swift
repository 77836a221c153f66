import Foundation
import Logging
import NIOCore
import NIOPosix
import RaftKV
import ServiceLifecycle
import Synchronization
import WebRaft
import WebRaftNIO

/// A logger that shows only warnings and worse, so that test output stays readable.
func testLogger(_ label: String = "raftkv-test") -> Logger {
  var logger = Logger(label: label)
  logger.logLevel = .warning
  return logger
}

/// A fresh directory under /tmp, for a node's data.
func temporaryDirectory(_ name: String = "raftkv-test") -> String {
  let path = "/tmp/\(name)-\(UUID().uuidString.prefix(8))"
  try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// A port on 127.0.0.1 that was free a moment ago.
func freePort() throws -> Int {
  let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .bind(host: "127.0.0.1", port: 0).wait()
  let port = channel.localAddress!.port!
  try channel.close().wait()
  return port
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes.
func eventually(
  timeout: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool
) async throws -> Bool {
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if (try? await condition()) == true { return true }
    try await Task.sleep(for: .milliseconds(20))
  }
  return try await condition()
}

/// One in-process node and the task running it.
struct RunningNode: Sendable {
  let server: RaftKVServer
  let group: ServiceGroup
  let task: Task<Void, any Error>
  let addresses: RaftKVServer.BoundAddresses
  let directory: String

  var url: String { "http://\(addresses.http)" }

  func client(timeout: Duration = .seconds(10)) throws -> RaftKVClient {
    try RaftKVClient(url: url, timeout: timeout)
  }

  /// Stops the node and waits until it has stopped.
  func stop(removeData: Bool = true) async {
    await group.triggerGracefulShutdown()
    _ = try? await task.value
    if removeData { try? FileManager.default.removeItem(atPath: directory) }
  }
}

/// Starts a node in this process.
func startNode(
  id: String = "n1",
  raftPort: Int = 0,
  httpPort: Int = 0,
  peers: [NodeID: MemberAddresses] = [:],
  join: String? = nil,
  replacing: String? = nil,
  waitsToBeAdded: Bool = false,
  directory: String? = nil,
  limits: KVLimits = KVLimits(),
  raft: RaftConfiguration? = nil,
  metricsText: (@Sendable () -> String)? = nil
) async throws -> RunningNode {
  let directory = directory ?? temporaryDirectory()
  var configuration = RaftKVServer.Configuration(
    id: NodeID(id), raftAddress: .init(host: "127.0.0.1", port: raftPort),
    httpAddress: .init(host: "127.0.0.1", port: httpPort), peers: peers, dataDirectory: directory, join: join)
  configuration.syncPolicy = .none
  configuration.replacing = replacing.map { NodeID($0) }
  configuration.waitsToBeAdded = waitsToBeAdded
  configuration.limits = limits
  if let raft { configuration.raft = raft }
  configuration.metricsText = metricsText
  let server = RaftKVServer(configuration: configuration, logger: testLogger())
  let group = ServiceGroup(services: [server], logger: testLogger())
  let task = Task { try await group.run() }
  let addresses = try await server.waitUntilServing()
  return RunningNode(server: server, group: group, task: task, addresses: addresses, directory: directory)
}

/// Waits until the node at `url` knows a leader and returns it.
func waitForLeader(_ url: String, timeout: Duration = .seconds(15)) async throws -> String? {
  let client = try RaftKVClient(url: url, timeout: .seconds(2))
  defer { Task { await client.close() } }
  let deadline = ContinuousClock.now + timeout
  while ContinuousClock.now < deadline {
    if let status = try? await client.status(), let leader = status.leader { return leader }
    try await Task.sleep(for: .milliseconds(50))
  }
  return nil
}

/// Sends raw bytes over a new TCP connection and returns what comes back until the server closes
/// the connection or `timeout` passes.
func rawExchange(
  port: Int, _ request: [UInt8], closeAfterWrite: Bool = false, timeout: Duration = .seconds(3)
)
  async throws -> String
{
  let collected = ByteBox()
  let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .channelInitializer { channel in
      channel.eventLoop.makeCompletedFuture {
        try channel.pipeline.syncOperations.addHandler(RawCollector(collected: collected))
      }
    }
    .connect(host: "127.0.0.1", port: port).get()
  try await channel.writeAndFlush(ByteBuffer(bytes: request))
  if closeAfterWrite {
    try? await channel.close()
    return ""
  }
  let deadline = ContinuousClock.now + timeout
  while channel.isActive && ContinuousClock.now < deadline {
    try await Task.sleep(for: .milliseconds(20))
    let text = String(decoding: collected.bytes.withLock { $0 }, as: UTF8.self)
    if text.contains("\r\n\r\n"), !text.contains("Content-Length") || text.hasSuffix("}") { break }
  }
  try? await channel.close()
  return String(decoding: collected.bytes.withLock { $0 }, as: UTF8.self)
}

final class ByteBox: Sendable {
  let bytes = Mutex<[UInt8]>([])
}

private final class RawCollector: ChannelInboundHandler, Sendable {
  typealias InboundIn = ByteBuffer
  let collected: ByteBox

  init(collected: ByteBox) {
    self.collected = collected
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = unwrapInboundIn(data)
    collected.bytes.withLock { $0.append(contentsOf: buffer.readableBytesView) }
  }
}

/// The status code of a raw HTTP answer (`HTTP/1.1 400 Bad Request` → 400), or nil.
func statusCode(of answer: String) -> Int? {
  guard answer.hasPrefix("HTTP/1.1 ") else { return nil }
  return Int(answer.dropFirst(9).prefix(3))
}
