import Logging
import Synchronization
import Testing
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A key-value state machine with snapshots ("key=value" commands; a snapshot is its JSON).
final class SnapshottingMachine: RaftStateMachine {
  let values = Mutex<[String: String]>([:])
  let restores = Mutex(0)

  func apply(_ command: Data, index: UInt64, term: UInt64) async throws -> String {
    let parts = String(decoding: command, as: UTF8.self).split(separator: "=", maxSplits: 1)
    guard parts.count == 2 else { return "" }
    values.withLock { $0[String(parts[0])] = String(parts[1]) }
    return String(parts[1])
  }

  func makeSnapshot() async throws -> any RaftStateSnapshot {
    DataSnapshot(try JSONEncoder().encode(values.withLock { $0 }), chunkSize: 64)
  }

  func restore(from snapshot: any RaftSnapshotReader) async throws {
    let data = try await snapshot.readAll(chunkSize: 100)
    let decoded = try JSONDecoder().decode([String: String].self, from: data)
    values.withLock { $0 = decoded }
    restores.withLock { $0 += 1 }
  }

  var contents: [String: String] { values.withLock { $0 } }
}

/// Runtime nodes with snapshotting state machines on an in-memory network.
struct SnapshotCluster {
  let network = InMemoryNetwork()
  var nodes: [NodeID: RaftNode<SnapshottingMachine>] = [:]
  var machines: [NodeID: SnapshottingMachine] = [:]
  var storages: [NodeID: InMemoryStorage] = [:]
  let configuration: RaftConfiguration

  init(_ members: [NodeID], configure: (inout RaftConfiguration) -> Void = { _ in }) async throws {
    var configuration = fastConfiguration()
    configuration.snapshotEntryInterval = 10
    configuration.snapshotChunkSize = 64
    configure(&configuration)
    self.configuration = configuration
    for member in members {
      try await start(member, bootstrap: Membership(voters: Set(members)), storage: InMemoryStorage())
    }
  }

  mutating func start(_ member: NodeID, bootstrap: Membership, storage: InMemoryStorage) async throws {
    let machine = SnapshottingMachine()
    let node = try await RaftNode(
      id: member, configuration: configuration, bootstrap: bootstrap, storage: storage,
      stateMachine: machine, proposalTimeout: .seconds(5), logger: Logger(label: "test"),
      makePeer: network.makePeer(from: member))
    network.register(member, inbound: node.inbound)
    nodes[member] = node
    machines[member] = machine
    storages[member] = storage
  }

  func leader() async throws -> NodeID {
    for _ in 0..<300 {
      for (member, node) in nodes where await node.status.role == .leader { return member }
      try await Task.sleep(for: .milliseconds(10))
    }
    throw RaftError.noLeader(leaderHint: nil)
  }

  func shutdown() async {
    for node in nodes.values { await node.shutdown() }
  }
}

@Suite("Runtime: snapshots, reads, transfer, limits", .serialized)
struct RuntimeLifecycleTests {
  @Test("the log is compacted by snapshots and a follower behind it catches up by InstallSnapshot")
  func snapshotCatchUp() async throws {
    let cluster = try await SnapshotCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    let lagging = cluster.nodes.keys.sorted().first { $0 != leader }!
    let refreshed = Mutex(false)
    cluster.nodes[lagging]!.listen(.refresh) { _ in refreshed.withLock { $0 = true } }
    cluster.network.isolate(lagging)
    for value in 0..<60 {
      _ = try await cluster.nodes[leader]!.propose(Data("k\(value % 7)=v\(value)".utf8))
    }
    #expect(await eventually { await cluster.nodes[leader]!.status.snapshotIndex >= 50 })
    let stored = cluster.storages[leader]!.contents!
    #expect(stored.snapshot.index >= 50)
    #expect(stored.entries.count < 30, "the stored log stays bounded")

    cluster.network.heal()
    let expected = cluster.machines[leader]!.contents
    #expect(await eventually(5) { cluster.machines[lagging]!.contents == expected })
    #expect(refreshed.withLock { $0 })
    #expect(cluster.machines[lagging]!.restores.withLock { $0 } >= 1)
    _ = try await cluster.nodes[leader]!.propose(Data("after=snapshot".utf8))
    #expect(await eventually { cluster.machines[lagging]!.contents["after"] == "snapshot" })
    await cluster.shutdown()
  }

  @Test("a node restarted after a snapshot restores it, then replays the rest of the log")
  func restartRestoresSnapshot() async throws {
    var cluster = try await SnapshotCluster(["solo"])
    let leader = try await cluster.leader()
    // A snapshot is due every 10 applied entries, checked after each batch, so the first one lands
    // anywhere from index 10 to 16 here.
    for value in 0..<15 { _ = try await cluster.nodes[leader]!.propose(Data("k\(value)=\(value)".utf8)) }
    #expect(await eventually { await cluster.nodes[leader]!.status.snapshotIndex >= 10 })
    // Three more stay in the log after it (the next snapshot is 10 entries away): a restart
    // restores the snapshot, then replays them.
    for value in 15..<18 { _ = try await cluster.nodes[leader]!.propose(Data("k\(value)=\(value)".utf8)) }
    let status = await cluster.nodes[leader]!.status
    #expect(status.lastIndex > status.snapshotIndex)
    let before = cluster.machines[leader]!.contents
    await cluster.nodes[leader]!.shutdown()
    try await cluster.start(leader, bootstrap: ["solo"], storage: cluster.storages[leader]!)
    let machine = cluster.machines[leader]!
    #expect(machine.restores.withLock { $0 } == 1)
    #expect(await eventually { machine.contents == before })
    await cluster.shutdown()
  }

  @Test("a linearizable read on a follower sees every write acknowledged before it began")
  func readIndexOnFollower() async throws {
    let cluster = try await SnapshotCluster(["a", "b", "c"]) { $0.snapshotEntryInterval = nil }
    let leader = try await cluster.leader()
    let follower = cluster.nodes.keys.sorted().first { $0 != leader }!
    for value in 0..<20 {
      _ = try await cluster.nodes[leader]!.propose(Data("x=\(value)".utf8))
      try await cluster.nodes[follower]!.linearizableRead()
      #expect(cluster.machines[follower]!.contents["x"] == "\(value)")
    }
    try await cluster.nodes[leader]!.linearizableRead(.lease)
    try await cluster.nodes[leader]!.linearizableRead(.readIndex)
    await cluster.shutdown()
  }

  @Test("a read on a leader cut off from its quorum is not confirmed")
  func readIndexNeedsQuorum() async throws {
    let cluster = try await SnapshotCluster(["a", "b", "c"]) { $0.snapshotEntryInterval = nil }
    let leader = try await cluster.leader()
    _ = try await cluster.nodes[leader]!.propose(Data("x=1".utf8))
    cluster.network.isolate(leader)
    await #expect(throws: RaftError.self) {
      try await cluster.nodes[leader]!.linearizableRead()
    }
    cluster.network.heal()
    await cluster.shutdown()
  }

  @Test("leadership moves to the named node, and to the most up-to-date one when none is named")
  func leadershipTransfer() async throws {
    let cluster = try await SnapshotCluster(["a", "b", "c"]) { $0.snapshotEntryInterval = nil }
    let first = try await cluster.leader()
    _ = try await cluster.nodes[first]!.propose(Data("x=1".utf8))
    let target = cluster.nodes.keys.sorted().first { $0 != first }!
    let newLeader = try await cluster.nodes[first]!.transferLeadership(to: target)
    #expect(newLeader == target)
    #expect(await eventually { await cluster.nodes[target]!.status.role == .leader })
    let next = try await cluster.nodes[target]!.transferLeadership()
    #expect(next != target)
    _ = try await cluster.nodes[next]!.propose(Data("x=2".utf8))
    await #expect(throws: RaftError.self) {
      try await cluster.nodes[target]!.transferLeadership(to: "nobody")
    }
    await cluster.shutdown()
  }

  @Test("a leader over its uncommitted-bytes limit fails proposals fast with overloaded")
  func overloadedFailsFast() async throws {
    let cluster = try await SnapshotCluster(["a", "b", "c"]) {
      $0.snapshotEntryInterval = nil
      $0.maxUncommittedBytes = 2000
    }
    let leader = try await cluster.leader()
    for member in cluster.nodes.keys where member != leader {
      cluster.network.cut(from: leader, to: member)
    }
    let payload = Data("big=".utf8) + Data(repeating: 65, count: 500)
    let outcomes = Outcomes()
    let node = cluster.nodes[leader]!
    var tasks: [Task<Void, Never>] = []
    for _ in 0..<10 {
      tasks.append(
        Task {
          do {
            _ = try await node.propose(payload)
            outcomes.add("ok")
          } catch RaftError.overloaded {
            outcomes.add("overloaded")
          } catch {
            outcomes.add("other")
          }
        })
    }
    #expect(await eventually { outcomes.list.contains("overloaded") })
    #expect(!outcomes.list.contains("ok"), "nothing commits while the leader is cut off")
    cluster.network.heal()
    for task in tasks { await task.value }
    #expect(outcomes.list.contains("ok"), "the proposals taken before the limit commit once healed")
    cluster.network.heal()
    await cluster.shutdown()
  }

  @Test("a learner receives the log but never votes or leads; a joining node is promoted")
  func learnersAndPromotion() async throws {
    var cluster = try await SnapshotCluster(["a", "b", "c"]) { $0.snapshotEntryInterval = nil }
    let leader = try await cluster.leader()
    _ = try await cluster.nodes[leader]!.propose(Data("x=1".utf8))
    try await cluster.start("reader", bootstrap: .empty, storage: InMemoryStorage())
    try await cluster.nodes[leader]!.addLearner("reader")
    #expect(await eventually { cluster.machines["reader"]!.contents["x"] == "1" })
    #expect(await cluster.nodes[leader]!.membership.learners == ["reader"])
    // A learner that hears nothing never campaigns.
    cluster.network.isolate("reader")
    try await Task.sleep(for: .milliseconds(400))
    #expect(await cluster.nodes["reader"]!.status.role == .follower)
    #expect(await cluster.nodes["reader"]!.status.term == cluster.nodes[leader]!.status.term)
    cluster.network.heal()
    try await cluster.nodes[leader]!.join("reader")
    #expect(await cluster.nodes[leader]!.membership.voters.contains("reader"))
    await cluster.shutdown()
  }
}

/// Outcomes recorded by concurrent tasks.
final class Outcomes: Sendable {
  private let values = Mutex<[String]>([])

  func add(_ value: String) { values.withLock { $0.append(value) } }

  var list: [String] { values.withLock { $0 } }
}
