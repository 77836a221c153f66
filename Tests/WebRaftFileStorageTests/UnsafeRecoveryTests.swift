import Logging
import Synchronization
import Testing
import WebRaft
import WebRaftFileStorage

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A key-value state machine ("key=value" commands) with JSON snapshots.
final class RecoveryTestMachine: RaftStateMachine {
  private let values = Mutex<[String: String]>([:])

  func apply(_ command: Data, index: UInt64, term: UInt64) async throws -> String {
    let parts = String(decoding: command, as: UTF8.self).split(separator: "=", maxSplits: 1)
    guard parts.count == 2 else { return "" }
    values.withLock { $0[String(parts[0])] = String(parts[1]) }
    return String(parts[1])
  }

  func makeSnapshot() async throws -> any RaftStateSnapshot {
    DataSnapshot(try JSONEncoder().encode(values.withLock { $0 }))
  }

  func restore(from snapshot: any RaftSnapshotReader) async throws {
    let decoded = try JSONDecoder().decode([String: String].self, from: try await snapshot.readAll())
    values.withLock { $0 = decoded }
  }

  var contents: [String: String] { values.withLock { $0 } }
}

/// Runtime nodes on FileStorage in temporary directories, on an in-memory network.
final class FileCluster {
  let network = InMemoryNetwork()
  var nodes: [NodeID: RaftNode<RecoveryTestMachine>] = [:]
  var machines: [NodeID: RecoveryTestMachine] = [:]
  var storages: [NodeID: FileStorage] = [:]
  var directories: [NodeID: TemporaryDirectory] = [:]
  let configuration: RaftConfiguration

  init() {
    var configuration = RaftConfiguration(
      electionTimeout: .milliseconds(60)...(.milliseconds(120)), heartbeatInterval: .milliseconds(20),
      heartbeatTimeout: .milliseconds(70))
    configuration.snapshotEntryInterval = 10
    self.configuration = configuration
  }

  func start(_ member: NodeID, bootstrap: Membership) async throws {
    let directory = directories[member] ?? TemporaryDirectory("webraft-recovery")
    directories[member] = directory
    let storage = try FileStorage(
      directory: directory.path, clusterID: "recovery", nodeID: member,
      configuration: .init(syncPolicy: .none))
    let machine = RecoveryTestMachine()
    let node = try await RaftNode(
      id: member, configuration: configuration, bootstrap: bootstrap, storage: storage, stateMachine: machine,
      proposalTimeout: .seconds(5), logger: Logger(label: "test"), makePeer: network.makePeer(from: member))
    network.register(member, inbound: node.inbound)
    nodes[member] = node
    machines[member] = machine
    storages[member] = storage
  }

  func stop(_ member: NodeID) async {
    network.unregister(member)
    await nodes[member]?.shutdown()
    storages[member]?.close()
    nodes[member] = nil
    storages[member] = nil
  }

  func leader(among members: [NodeID]? = nil) async throws -> NodeID {
    for _ in 0..<500 {
      for (member, node) in nodes where members?.contains(member) ?? true {
        if await node.status.role == .leader { return member }
      }
      try await Task.sleep(for: .milliseconds(10))
    }
    throw RaftError.noLeader(leaderHint: nil)
  }

  func shutdown() async {
    for member in Array(nodes.keys) { await stop(member) }
  }
}

/// Polls `condition` for up to ten seconds.
func eventually(_ condition: () async throws -> Bool) async rethrows -> Bool {
  for _ in 0..<1_000 {
    if try await condition() { return true }
    try? await Task.sleep(for: .milliseconds(10))
  }
  return try await condition()
}

@Suite("Unsafe recovery from a lost quorum")
struct UnsafeRecoveryTests {
  @Test(
    "a survivor of a three-node cluster that lost two nodes for good is recovered, leads, and takes new nodes"
  )
  func survivorLeadsAgain() async throws {
    let cluster = FileCluster()
    let members: [NodeID] = ["a", "b", "c"]
    for member in members { try await cluster.start(member, bootstrap: Membership(voters: Set(members))) }
    let leader = try await cluster.leader()
    for index in 1...25 { _ = try await cluster.nodes[leader]!.propose(Data("k\(index)=v\(index)".utf8)) }
    let survivor: NodeID = leader == "c" ? "b" : "c"
    #expect(await eventually { cluster.machines[survivor]!.contents.count == 25 })
    // The survivor's log is compacted: recovery must hold across its snapshot.
    _ = try await cluster.nodes[survivor]!.snapshot()

    for member in members where member != survivor {
      await cluster.stop(member)
      cluster.directories[member] = nil
    }
    // Without a quorum the survivor cannot serve writes.
    await #expect(throws: (any Error).self) {
      try await cluster.nodes[survivor]!.propose(Data("lost=yes".utf8))
    }
    await cluster.stop(survivor)

    let storage = try FileStorage(directory: cluster.directories[survivor]!.path)
    let outcome = try await storage.unsafeForceConfiguration(node: survivor)
    storage.close()
    #expect(outcome.membership.voters == [survivor])
    #expect(outcome.previousMembership.voters == Set(members))
    #expect(outcome.index == outcome.previousLastIndex + 1)

    try await cluster.start(survivor, bootstrap: .empty)
    #expect(try await cluster.leader() == survivor)
    let node = cluster.nodes[survivor]!
    #expect(await node.membership.voters == [survivor])
    try await node.linearizableRead()
    #expect(cluster.machines[survivor]!.contents["k25"] == "v25")
    for index in 26...30 { _ = try await node.propose(Data("k\(index)=v\(index)".utf8)) }

    // A snapshot past the recovery entry carries the new configuration into a restart.
    let snapshotIndex = try await node.snapshot()
    #expect(snapshotIndex > outcome.index)
    await cluster.stop(survivor)
    try await cluster.start(survivor, bootstrap: .empty)
    #expect(try await cluster.leader() == survivor)
    #expect(await cluster.nodes[survivor]!.membership.voters == [survivor])
    #expect(cluster.machines[survivor]!.contents.count == 30)

    // Two new nodes join the recovered cluster and catch up.
    for fresh in ["d", "e"] as [NodeID] {
      try await cluster.start(fresh, bootstrap: .empty)
      try await cluster.nodes[survivor]!.join(fresh)
    }
    _ = try await cluster.nodes[survivor]!.propose(Data("k31=v31".utf8))
    for fresh in ["d", "e"] as [NodeID] {
      #expect(await eventually { cluster.machines[fresh]!.contents.count == 31 }, "\(fresh) caught up")
      #expect(cluster.machines[fresh]!.contents == cluster.machines[survivor]!.contents)
    }
    #expect(await eventually { await cluster.nodes[survivor]!.membership.voters == [survivor, "d", "e"] })
    await cluster.shutdown()
  }

  @Test(
    "recovery refuses a storage with nothing in it, voters without the node, and another node's directory")
  func refusals() async throws {
    let directory = TemporaryDirectory()
    let storage = try FileStorage(directory: directory.path, clusterID: "recovery", nodeID: "a")
    await #expect(throws: UnsafeRecovery.Failure.nothingStored) {
      try await storage.unsafeForceConfiguration(node: "a")
    }
    try await storage.initialize(.initial(membership: ["a", "b", "c"]))
    await #expect(throws: UnsafeRecovery.Failure.nodeNotAVoter(node: "a", voters: ["b"])) {
      try await storage.unsafeForceConfiguration(node: "a", voters: ["b"])
    }
    await #expect(throws: FileStorageError.self) {
      try await storage.unsafeForceConfiguration(node: "b")
    }
    // A named set of voters keeps the attributes of the voters it keeps.
    let outcome = try await storage.unsafeForceConfiguration(node: "a", voters: ["a", "b"])
    #expect(outcome.membership.voters == ["a", "b"])
    #expect(outcome.term == 1)
    let stored = try #require(try await storage.load())
    #expect(stored.hardState == HardState(term: 1, votedFor: nil, commitIndex: 0))
    #expect(stored.entries.last?.payload == .membership(outcome.membership))
  }

  @Test("recovery forgets the incarnations of the peers the new configuration leaves out")
  func forgetsLostPeers() async throws {
    let directory = TemporaryDirectory()
    let storage = try FileStorage(directory: directory.path, clusterID: "recovery", nodeID: "a")
    try await storage.initialize(.initial(membership: ["a", "b", "c"]))
    try storage.recordPeerIncarnations(["b": 2, "c": 3])
    try await storage.unsafeForceConfiguration(node: "a", voters: ["a", "c"])
    #expect(try storage.peerIncarnations() == ["c": 3])
  }
}
