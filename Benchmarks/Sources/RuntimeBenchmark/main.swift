import BenchmarkSupport
// runtime-w1 / runtime-w256: the full runtime (RaftNode actors, timers, queues), three nodes in
// one process on the in-memory transport with in-memory storage, W concurrent proposers on the
// leader, 16-byte commands, each proposal waited for until applied on the leader. The same
// measurement as hashicorp/raft's hcbench with `-transport inmem`.
//
//   swift run -c release RuntimeBenchmark [--writers 256] [--count 20000] [--size 16]
//     [--nio-executor 1 [--shared-loops 1]]   Swift concurrency on NIO's event loops (how many)
//     [--commit-delay-ms D] [--heartbeat-ms H] other timings than RaftConfiguration's defaults
//     [--snapshot-every N]   snapshot every N entries (0: never) instead of the default
import Foundation
import Logging
import MallocCounter
import NIOCore
import NIOPosix
import Synchronization
import WebRaft

struct Options {
  var writers = 1
  var count = 20_000
  var size = 16
  var nioExecutor = 0
  var sharedLoops = 0
  var commitDelayMilliseconds = -1
  var heartbeatMilliseconds = 0
  var snapshotEvery = -1

  init(_ arguments: [String]) {
    for (flag, value) in integerFlags(arguments) {
      switch flag {
      case "--writers", "-w": writers = value
      case "--count", "-n": count = value
      case "--size", "-size": size = value
      case "--nio-executor": nioExecutor = value
      case "--shared-loops": sharedLoops = value
      case "--commit-delay-ms": commitDelayMilliseconds = value
      case "--heartbeat-ms": heartbeatMilliseconds = value
      case "--snapshot-every": snapshotEvery = value
      default: break
      }
    }
  }
}

let options = Options(CommandLine.arguments)
if options.sharedLoops > 0 { NIOSingletons.groupLoopCountSuggestion = options.sharedLoops }
if options.nioExecutor != 0 {
  guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else {
    fatalError("cannot install NIO as the global executor")
  }
}
let network = InMemoryNetwork()
let ids: [NodeID] = ["n1", "n2", "n3"]
var logger = Logger(label: "bench")
logger.logLevel = .error
var nodes: [RaftNode<CountingMachine>] = []
var configuration = RaftConfiguration()
if options.commitDelayMilliseconds >= 0 {
  configuration.commitNotificationDelay = .milliseconds(options.commitDelayMilliseconds)
}
if options.snapshotEvery >= 0 {
  configuration.snapshotEntryInterval = options.snapshotEvery > 0 ? options.snapshotEvery : nil
}
if options.heartbeatMilliseconds > 0 {
  let beat = options.heartbeatMilliseconds
  configuration.heartbeatInterval = .milliseconds(beat)
  configuration.heartbeatTimeout = .milliseconds(2 * beat)
  configuration.electionTimeout = .milliseconds(2 * beat)...(.milliseconds(3 * beat))
}
for id in ids {
  let node = try await RaftNode(
    id: id, configuration: configuration, bootstrap: Membership(voters: Set(ids)), storage: InMemoryStorage(),
    stateMachine: CountingMachine(), logger: logger, makePeer: network.makePeer(from: id))
  network.register(id, inbound: node.inbound)
  nodes.append(node)
}
var leaderNode: RaftNode<CountingMachine>?
while leaderNode == nil {
  try await Task.sleep(for: .milliseconds(50))
  for node in nodes where await node.status.role == .leader { leaderNode = node }
}
let leader = leaderNode!
let command = Data(repeating: 7, count: options.size)
for _ in 0..<100 { try await leader.propose(command) }

let perWriter = options.count / options.writers
let allocationsBefore = webraft_allocation_count()
let run = try await closedLoop(writers: options.writers, perWriter: perWriter) {
  try await leader.propose(command)
}
let latencies = run.latencies
let elapsed = run.elapsed
let total = perWriter * options.writers
let seconds = elapsed.seconds
let allocations = Double(webraft_allocation_count() - allocationsBefore) / Double(total)
print(
  String(
    format:
      "runtime-w%d: n=%d size=%d  %.0f commits/s  p50=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus mean=%.1fus  allocations/commit=%.1f",
    options.writers, total, options.size, Double(total) / seconds,
    latencies[latencies.count / 2].microseconds, latencies[latencies.count * 99 / 100].microseconds,
    latencies[latencies.count * 999 / 1000].microseconds, latencies[latencies.count - 1].microseconds,
    seconds * 1e6 / Double(total),
    allocations))
print(stallSummary(latencies))
for node in nodes { await node.shutdown() }
