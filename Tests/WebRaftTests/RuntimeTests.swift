import Logging
import Synchronization
import Testing
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A state machine that appends each command to a list and returns the list's length.
final class RecordingMachine: RaftStateMachine {
  let applied = Mutex<[(index: UInt64, command: String)]>([])
  /// Applying the command "fail" throws, to test that a failed apply stops the node.
  struct Failure: Error {}

  func apply(_ command: Data, index: UInt64, term: UInt64) async throws -> Int {
    let text = String(decoding: command, as: UTF8.self)
    if text == "fail" { throw Failure() }
    return applied.withLock {
      $0.append((index, text))
      return $0.count
    }
  }

  var commands: [String] { applied.withLock { $0.map(\.command) } }
  var indexes: [UInt64] { applied.withLock { $0.map(\.index) } }
}

/// Short timeouts so that runtime tests run quickly.
func fastConfiguration() -> RaftConfiguration {
  RaftConfiguration(
    electionTimeout: .milliseconds(60)...(.milliseconds(120)), heartbeatInterval: .milliseconds(20),
    heartbeatTimeout: .milliseconds(70))
}

/// A cluster of runtime nodes on an in-memory network.
struct RuntimeCluster {
  let network = InMemoryNetwork()
  var nodes: [NodeID: RaftNode<RecordingMachine>] = [:]
  var machines: [NodeID: RecordingMachine] = [:]
  var storages: [NodeID: InMemoryStorage] = [:]
  let members: [NodeID]
  let configuration: RaftConfiguration

  init(_ members: [NodeID], configuration: RaftConfiguration = fastConfiguration()) async throws {
    self.members = members
    self.configuration = configuration
    for member in members {
      try await start(member, bootstrap: Membership(voters: Set(members)))
    }
  }

  mutating func start(
    _ member: NodeID, bootstrap: Membership, storage: InMemoryStorage? = nil
  ) async throws {
    let machine = RecordingMachine()
    let store = storage ?? InMemoryStorage()
    let node = try await RaftNode(
      id: member, configuration: configuration, bootstrap: bootstrap, storage: store,
      stateMachine: machine, proposalTimeout: .seconds(5), logger: Logger(label: "test"),
      makePeer: network.makePeer(from: member))
    network.register(member, inbound: node.inbound)
    nodes[member] = node
    machines[member] = machine
    storages[member] = store
  }

  func leader(among candidates: [NodeID]? = nil) async throws -> NodeID {
    for _ in 0..<300 {
      for member in candidates ?? Array(nodes.keys) {
        if let node = nodes[member], await node.status.role == .leader { return member }
      }
      try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("no leader elected within 3 s")
    throw RaftError.noLeader(leaderHint: nil)
  }

  func shutdown() async {
    for node in nodes.values { await node.shutdown() }
  }
}

/// Waits until `condition` holds, for at most `seconds`.
func eventually(_ seconds: Double = 3, _ condition: () async -> Bool) async -> Bool {
  let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
  while ContinuousClock.now < deadline {
    if await condition() { return true }
    try? await Task.sleep(for: .milliseconds(10))
  }
  return await condition()
}

@Suite("Runtime: RaftNode on the in-memory transport", .serialized)
struct RuntimeTests {
  @Test("a 3-node cluster elects a leader and applies proposals made on any node, in order, once")
  func proposeOnLeaderAndFollowers() async throws {
    let cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    var outputs: [Int] = []
    for (position, member) in ["a", "b", "c", "a"].enumerated() {
      outputs.append(try await cluster.nodes[NodeID(member)]!.propose(Data("cmd\(position)".utf8)))
    }
    #expect(outputs.allSatisfy { $0 >= 1 })
    for member in cluster.members {
      let machine = cluster.machines[member]!
      #expect(await eventually { machine.commands.count == 4 })
      #expect(machine.commands == ["cmd0", "cmd1", "cmd2", "cmd3"])
      let indexes = machine.indexes
      #expect(indexes == indexes.sorted() && Set(indexes).count == indexes.count)
    }
    #expect(await cluster.nodes[leader]!.status.role == .leader)
    await cluster.shutdown()
  }

  @Test("a proposal on a node that knows no leader fails at once with noLeader")
  func proposeWithoutLeaderFailsFast() async throws {
    let network = InMemoryNetwork()
    let node = try await RaftNode(
      id: "lonely", configuration: fastConfiguration(), bootstrap: ["lonely", "gone1", "gone2"],
      storage: InMemoryStorage(), stateMachine: RecordingMachine(), logger: Logger(label: "test"),
      makePeer: network.makePeer(from: "lonely"))
    let started = ContinuousClock.now
    await #expect(throws: RaftError.noLeader(leaderHint: nil)) {
      _ = try await node.propose(Data("x".utf8))
    }
    #expect(ContinuousClock.now - started < .milliseconds(500))
    await node.shutdown()
  }

  @Test("an invalid configuration is refused at creation with a clear error")
  func invalidConfigurationIsRefused() async throws {
    var configuration = RaftConfiguration()
    configuration.heartbeatTimeout = .milliseconds(100)
    do {
      _ = try await RaftNode(
        id: "a", configuration: configuration, bootstrap: ["a"], storage: InMemoryStorage(),
        stateMachine: RecordingMachine(), logger: Logger(label: "test"),
        makePeer: InMemoryNetwork().makePeer(from: "a"))
      Issue.record("a heartbeat timeout equal to the heartbeat interval was accepted")
    } catch let error as RaftError {
      guard case .invalidConfiguration(let reason) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(reason.contains("heartbeatTimeout"))
    }
  }

  @Test("events arrive as an async sequence and through listen/unlisten, with the seed's names")
  func eventsAsSequenceAndHandlers() async throws {
    let network = InMemoryNetwork()
    let machine = RecordingMachine()
    let node = try await RaftNode(
      id: "solo", configuration: fastConfiguration(), bootstrap: ["solo"], storage: InMemoryStorage(),
      stateMachine: machine, logger: Logger(label: "test"), makePeer: network.makePeer(from: "solo"))
    let seen = Mutex<[RaftEvent.Kind]>([])
    let listener = node.listen { event in seen.withLock { $0.append(event.kind) } }
    let applies = Mutex(0)
    let applyListener = node.listen(.apply) { _ in applies.withLock { $0 += 1 } }
    let stream = node.events
    let collector = Task {
      var kinds: [RaftEvent.Kind] = []
      for await event in stream {
        kinds.append(event.kind)
        if event.kind == .updated { break }
      }
      return kinds
    }
    #expect(await eventually { await node.status.role == .leader })
    _ = try await node.propose(Data("one".utf8))
    let kinds = await collector.value
    #expect(kinds.contains(.leader) && kinds.contains(.apply) && kinds.contains(.updated))
    #expect(seen.withLock { $0.contains(.stateChanged) && $0.contains(.startElection) })
    #expect(applies.withLock { $0 } == 1)
    node.unlisten(applyListener)
    node.unlisten(listener)
    _ = try await node.propose(Data("two".utf8))
    #expect(applies.withLock { $0 } == 1)
    #expect(RaftEvent.Kind.stateChanged.rawValue == "state changed")
    #expect(RaftEvent.Kind.heartbeatTimeout.rawValue == "heartbeat timeout")
    await node.shutdown()
  }

  @Test("a failed apply stops applying, fails the proposal and later ones, and never skips the entry")
  func failedApplyHaltsTheNode() async throws {
    let network = InMemoryNetwork()
    let machine = RecordingMachine()
    let node = try await RaftNode(
      id: "solo", configuration: fastConfiguration(), bootstrap: ["solo"], storage: InMemoryStorage(),
      stateMachine: machine, logger: Logger(label: "test"), makePeer: network.makePeer(from: "solo"))
    #expect(await eventually { await node.status.role == .leader })
    _ = try await node.propose(Data("ok".utf8))
    do {
      _ = try await node.propose(Data("fail".utf8))
      Issue.record("a failing apply returned")
    } catch let error as RaftError {
      guard case .stateMachineFailed(let index, _) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(index == 3)
    }
    await #expect(throws: RaftError.self) { _ = try await node.propose(Data("after".utf8)) }
    #expect(machine.commands == ["ok"])
    #expect(await node.status.appliedIndex == 2)
    await node.shutdown()
  }

  @Test("a node restarted from its storage replays the committed log into a new state machine")
  func restartReplaysTheLog() async throws {
    let network = InMemoryNetwork()
    let storage = InMemoryStorage()
    let first = try await RaftNode(
      id: "solo", configuration: fastConfiguration(), bootstrap: ["solo"], storage: storage,
      stateMachine: RecordingMachine(), logger: Logger(label: "test"),
      makePeer: network.makePeer(from: "solo"))
    #expect(await eventually { await first.status.role == .leader })
    for value in ["x", "y", "z"] { _ = try await first.propose(Data(value.utf8)) }
    let termBefore = await first.status.term
    await first.shutdown()

    let machine = RecordingMachine()
    let second = try await RaftNode(
      id: "solo", configuration: fastConfiguration(), bootstrap: ["solo"], storage: storage,
      stateMachine: machine, logger: Logger(label: "test"), makePeer: network.makePeer(from: "solo"))
    #expect(await eventually { machine.commands == ["x", "y", "z"] })
    #expect(await second.status.term >= termBefore)
    #expect(await eventually { await second.status.role == .leader })
    _ = try await second.propose(Data("w".utf8))
    #expect(machine.commands == ["x", "y", "z", "w"])
    await second.shutdown()
  }

  @Test("join adds a member through the log and leave removes the leader, which steps down")
  func joinAndLeave() async throws {
    var cluster = try await RuntimeCluster(["a", "b", "c"])
    let leader = try await cluster.leader()
    _ = try await cluster.nodes[leader]!.propose(Data("before".utf8))
    try await cluster.start("d", bootstrap: .empty)
    try await cluster.nodes[leader]!.join("d")
    #expect(await cluster.nodes[leader]!.membership.voters == ["a", "b", "c", "d"])
    let newcomer = cluster.machines["d"]!
    #expect(await eventually { newcomer.commands == ["before"] })

    try await cluster.nodes[leader]!.leave(leader)
    let remaining = cluster.members.filter { $0 != leader } + ["d"]
    #expect(await eventually { await cluster.nodes[leader]!.status.role != .leader })
    let next = try await cluster.leader(among: remaining)
    #expect(next != leader)
    _ = try await cluster.nodes[next]!.propose(Data("after".utf8))
    #expect(await eventually { newcomer.commands == ["before", "after"] })
    #expect(await cluster.nodes[next]!.membership.voters == Set(remaining))
    await cluster.shutdown()
  }

  @Test("term, vote and acknowledged entries are stored before any message that depends on them is sent")
  func persistenceBeforeSending() async throws {
    let network = InMemoryNetwork()
    let violations = Violations()
    var nodes: [RaftNode<RecordingMachine>] = []
    let members: [NodeID] = ["a", "b", "c"]
    for member in members {
      let storage = InMemoryStorage()
      let inner = network.makePeer(from: member)
      let node = try await RaftNode(
        id: member, configuration: fastConfiguration(), bootstrap: Membership(voters: Set(members)),
        storage: storage, stateMachine: RecordingMachine(), logger: Logger(label: "test"),
        makePeer: { target, inbound in
          CheckingPeer(inner: inner(target, inbound), storage: storage, violations: violations)
        })
      network.register(member, inbound: node.inbound)
      nodes.append(node)
    }
    #expect(await eventually { await nodes.asyncContains { await $0.status.role == .leader } })
    for value in 0..<20 { _ = try await nodes[value % 3].propose(Data("v\(value)".utf8)) }
    #expect(violations.list.isEmpty, "\(violations.list)")
    for node in nodes { await node.shutdown() }
  }

  @Test("shutdown fails pending proposals with shutdown and ends event sequences")
  func shutdownFailsPending() async throws {
    let network = InMemoryNetwork()
    let node = try await RaftNode(
      id: "a", configuration: fastConfiguration(), bootstrap: ["a", "b"], storage: InMemoryStorage(),
      stateMachine: RecordingMachine(), logger: Logger(label: "test"),
      makePeer: network.makePeer(from: "a"))
    let stream = node.events
    let ended = Task {
      for await _ in stream {}
      return true
    }
    await node.shutdown()
    #expect(await ended.value)
    await #expect(throws: RaftError.shutdown) { _ = try await node.propose(Data("x".utf8)) }
  }
}

/// A peer that checks, for every message it sends, that the sender's storage already holds the
/// term, vote and acknowledged entries the message depends on.
struct CheckingPeer: RaftPeer {
  let inner: any RaftPeer
  let storage: InMemoryStorage
  let violations: Violations

  var id: NodeID { inner.id }

  func write(_ message: RaftMessage) {
    let stored = storage.contents
    let term = stored?.hardState.term ?? 0
    let lastIndex = (stored?.snapshot.index ?? 0) + UInt64(stored?.entries.count ?? 0)
    var problem: String?
    switch message.body {
    case .voteRequest(let request) where request.preVote:
      break
    case .voteResponse(let response) where response.preVote:
      break
    default:
      if term < message.term { problem = "sent \(message.kindName) at term \(message.term), stored \(term)" }
    }
    if case .voteResponse(let response) = message.body, !response.preVote, response.granted,
      stored?.hardState.votedFor != message.to
    {
      problem = "granted a vote to \(message.to) before storing it"
    }
    if case .appendEntriesResponse(let response) = message.body, response.success,
      response.index > lastIndex
    {
      problem = "acknowledged index \(response.index) with only \(lastIndex) stored"
    }
    // A leader may send entries before it stored them (dissertation §10.2.1): it counts itself
    // towards a commit only once they are durable.
    if let problem { violations.add("\(message.from): \(problem)") }
    inner.write(message)
  }
}

/// A thread-safe list of problems found.
final class Violations: Sendable {
  private let problems = Mutex<[String]>([])

  func add(_ problem: String) { problems.withLock { $0.append(problem) } }

  var list: [String] { problems.withLock { $0 } }
}

extension Array {
  func asyncContains(_ predicate: (Element) async -> Bool) async -> Bool {
    for element in self where await predicate(element) { return true }
    return false
  }
}
