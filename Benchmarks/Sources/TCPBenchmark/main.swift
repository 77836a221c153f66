import BenchmarkSupport
// tcp-w1 / tcp-w256: three RaftNodes in one process connected by WebRaftNIO's TCP transport over
// loopback, with in-memory storage, W concurrent proposers on the leader, 16-byte commands, each
// proposal waited for until applied on the leader. The same measurement as hashicorp/raft's
// hcbench with `-transport tcp`.
//
//   swift run -c release TCPBenchmark [--writers 256] [--count 20000] [--size 16]
import Foundation
import Logging
import MallocCounter
import NIOCore
import NIOPosix
import Synchronization
import WebRaft
import WebRaftNIO

struct Options {
  var writers = 1
  var count = 20_000
  var size = 16
  /// Event-loop threads shared by the three transports; 0 for NIO's shared group.
  var loops = 0
  /// 1 to run Swift concurrency's global executor on NIO's event loops.
  var nioExecutor = 0
  /// The number of threads of NIO's shared group; 0 for NIO's default (one per core).
  var sharedLoops = 0

  init(_ arguments: [String]) {
    for (flag, value) in integerFlags(arguments) {
      switch flag {
      case "--writers", "-w": writers = value
      case "--count", "-n": count = value
      case "--size", "-size": size = value
      case "--loops": loops = value
      case "--nio-executor": nioExecutor = value
      case "--shared-loops": sharedLoops = value
      default: break
      }
    }
  }
}

let options = Options(CommandLine.arguments)
if options.sharedLoops > 0 {
  NIOSingletons.groupLoopCountSuggestion = options.sharedLoops
}
if options.nioExecutor != 0 {
  guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else {
    fatalError("cannot install NIO as the global executor")
  }
}
let group: MultiThreadedEventLoopGroup =
  options.loops > 0 ? MultiThreadedEventLoopGroup(numberOfThreads: options.loops) : .singleton
let ids: [NodeID] = ["n1", "n2", "n3"]
var logger = Logger(label: "bench")
logger.logLevel = .error

var transports: [TCPTransport] = []
for id in ids {
  let transport = try TCPTransport(
    id: id,
    configuration: .init(clusterID: "bench", listenAddress: .init(host: "127.0.0.1", port: 0)),
    logger: logger, eventLoopGroup: group)
  try await transport.start()
  transports.append(transport)
}
var book: [NodeID: TCPTransport.PeerAddress] = [:]
for (id, transport) in zip(ids, transports) { book[id] = transport.boundAddress! }
for transport in transports { transport.updatePeers(book) }

var nodes: [RaftNode<CountingMachine>] = []
for (id, transport) in zip(ids, transports) {
  let node = try await RaftNode(
    id: id, bootstrap: Membership(voters: Set(ids)), storage: InMemoryStorage(),
    stateMachine: CountingMachine(), logger: logger, makePeer: transport.peerFactory)
  transport.attach(node.inbound)
  nodes.append(node)
}
var leaderIndex: Int?
while leaderIndex == nil {
  try await Task.sleep(for: .milliseconds(50))
  for (index, node) in nodes.enumerated() where await node.status.role == .leader {
    leaderIndex = index
  }
}
let leader = nodes[leaderIndex!]
let command = Data(repeating: 7, count: options.size)
for _ in 0..<200 { try await leader.propose(command) }

let perWriter = options.count / options.writers
let before = transports[leaderIndex!].statistics
let allocationsBefore = webraft_allocation_count()
let run = try await closedLoop(writers: options.writers, perWriter: perWriter) {
  try await leader.propose(command)
}
let latencies = run.latencies
let elapsed = run.elapsed
let after = transports[leaderIndex!].statistics
let total = perWriter * options.writers
let seconds = elapsed.seconds
let allocations = Double(webraft_allocation_count() - allocationsBefore) / Double(total)
let sent = after.messagesSent - before.messagesSent
let flushes = max(1, after.flushes - before.flushes)
print(
  String(
    format:
      "tcp-w%d: n=%d size=%d  %.0f commits/s  p50=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus mean=%.1fus  allocations/commit=%.1f  leader: %d messages in %d flushes, %d dropped",
    options.writers, total, options.size, Double(total) / seconds,
    latencies[latencies.count / 2].microseconds, latencies[latencies.count * 99 / 100].microseconds,
    latencies[latencies.count * 999 / 1000].microseconds, latencies[latencies.count - 1].microseconds,
    seconds * 1e6 / Double(total),
    allocations, sent, flushes, after.messagesDropped - before.messagesDropped))
print(stallSummary(latencies))
for node in nodes { await node.shutdown() }
for transport in transports { await transport.shutdown() }
