import Testing
import WebRaft
import WebRaftTesting

/// Crashes, restarts and unreliable networks on the simulator (the labs' 2C tests).
@Suite("Simulation: persistence and unreliable networks")
struct PersistenceTests {
  @Test(
    "crash and restart of all nodes, of the leader and of a follower keep every commit",
    arguments: scenarioSeeds)
  func crashAndRestart(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    try simulator.agree(command("11"), expectedNodes: 3)

    // Everyone crashes and restarts from storage.
    try simulator.crashAll()
    try simulator.restartAll()
    try simulator.agree(command("12"), expectedNodes: 3)

    // The leader crashes and restarts at once.
    let leader1 = try simulator.awaitLeader()
    try simulator.crash(leader1)
    try simulator.restart(leader1)
    try simulator.agree(command("13"), expectedNodes: 3)

    // The leader crashes; the others commit; it restarts and catches up.
    let leader2 = try simulator.awaitLeader()
    try simulator.crash(leader2)
    let index14 = try simulator.agree(command("14"), expectedNodes: 2)
    try simulator.restart(leader2)
    try simulator.run(for: 3000) { $0.committedCount(at: index14).count == 3 }
    try simulator.require(
      simulator.committedCount(at: index14).count == 3, "the restarted leader did not catch up")

    // A follower crashes while the others commit.
    let follower = simulator.node(simulator.position(of: try simulator.awaitLeader()) + 1)
    try simulator.crash(follower)
    try simulator.agree(command("15"), expectedNodes: 2)
    try simulator.restart(follower)
    try simulator.agree(command("16"), expectedNodes: 3)
    try simulator.requireAcknowledgedEverywhere()
  }

  @Test("crashes of most of a 5-node cluster in turns keep every commit", arguments: scenarioSeeds)
  func crashMajorityInTurns(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    var value = 10
    for _ in 0..<5 {
      value += 1
      try simulator.agree(command("\(value)"), expectedNodes: 5)
      let p = simulator.position(of: try simulator.awaitLeader())
      try simulator.crash(simulator.node(p + 1))
      try simulator.crash(simulator.node(p + 2))
      value += 1
      try simulator.agree(command("\(value)"), expectedNodes: 3)
      try simulator.crash(simulator.node(p))
      try simulator.crash(simulator.node(p + 3))
      try simulator.crash(simulator.node(p + 4))
      try simulator.restart(simulator.node(p + 1))
      try simulator.restart(simulator.node(p + 2))
      try simulator.run(for: 1000)
      try simulator.restart(simulator.node(p + 3))
      value += 1
      try simulator.agree(command("\(value)"), expectedNodes: 3)
      try simulator.restart(simulator.node(p + 4))
      try simulator.restart(simulator.node(p))
    }
    try simulator.agree(command("1000"), expectedNodes: 5)
    try simulator.requireAcknowledgedEverywhere()
  }

  @Test(
    "a stale leader that crashes and restarts does not win and loses its uncommitted entries",
    arguments: scenarioSeeds)
  func staleLeaderCrashAndRestart(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    try simulator.agree(command("101"), expectedNodes: 3)
    let leader = try simulator.awaitLeader()
    let p = simulator.position(of: leader)

    // The leader is cut off with entries nobody else has, then crashes.
    simulator.disconnect(leader)
    var stale: [SimulatedProposal.ID] = []
    for value in 0..<3 {
      stale.append(try simulator.propose(command("stale \(value)"), on: leader))
    }
    try simulator.run(for: 50)
    try simulator.crash(leader)
    try simulator.agree(command("102"), expectedNodes: 2)

    // The next leader crashes too, and the stale leader restarts with the third node.
    let leader2 = try simulator.awaitLeader()
    try simulator.crash(leader2)
    simulator.connect(leader)
    try simulator.restart(leader)
    try simulator.agree(command("103"), expectedNodes: 2)
    try simulator.restart(leader2)
    try simulator.agree(command("104"), expectedNodes: 3)
    try simulator.run(for: 500)
    // The stale leader's clients lost track of their proposals when it crashed; none was applied.
    for id in stale {
      try simulator.require(
        simulator.proposal(id).status == .interrupted,
        "stale proposal \(id) settled as \(simulator.proposal(id).status)")
    }
    for node in simulator.nodeIDs {
      let applied = Set(simulator.appliedCommands(of: node))
      for value in 0..<3 {
        try simulator.require(
          !applied.contains(command("stale \(value)")), "\(node) applied stale entry \(value)")
      }
    }
    _ = p
    try simulator.requireAcknowledgedEverywhere()
  }

  @Test(
    "Figure 8 with crashes: 1000 rounds of crashing the leader (5 nodes) never lose a commit",
    arguments: scenarioSeeds)
  func figure8WithCrashes(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    try simulator.crashLeadersRepeatedly(label: "f8")
  }

  @Test(
    "agreement on an unreliable network: 10% loss each way, 0–26 ms delays (5 nodes)",
    arguments: scenarioSeeds)
  func unreliableAgreement(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    simulator.network.makeUnreliable(drop: 0.1)
    for round in 1..<50 {
      // Four clients propose on random nodes (followers forward to the leader).
      for client in 0..<4 {
        try simulator.propose(command("u \(round) \(client)"), on: simulator.node(simulator.randomInt(0..<5)))
      }
      try simulator.agree(command("u \(round)"), expectedNodes: 1)
    }
    simulator.network.makeReliable()
    try simulator.agree(command("u end"), expectedNodes: 5)
    try simulator.requireAcknowledgedEverywhere()
    let acknowledged = simulator.acknowledgedProposals.count
    try simulator.require(acknowledged >= 49, "only \(acknowledged) proposals were acknowledged")
  }

  @Test(
    "Figure 8 on an unreliable network with long reordering (200–2200 ms): no commit is lost",
    arguments: scenarioSeeds)
  func figure8Unreliable(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    simulator.network.makeUnreliable(drop: 0.1)
    try simulator.agree(command("first"), expectedNodes: 1)
    var connected = 5
    for round in 0..<1000 {
      if round == 200 {
        simulator.network.longDelayProbability = 2.0 / 3.0
        simulator.network.longDelay = 200...2200
      }
      var leader: NodeID?
      for id in simulator.nodeIDs where simulator.core(of: id)?.role == .leader {
        try simulator.propose(command("f8u \(round) \(id)"), on: id)
        if simulator.isConnected(id) { leader = id }
      }
      if simulator.randomInt(0..<1000) < 100 {
        try simulator.run(for: UInt64(simulator.randomInt(0..<500)))
      } else {
        try simulator.run(for: UInt64(simulator.randomInt(0..<13)))
      }
      if let leader, simulator.randomInt(0..<1000) < 500 {
        simulator.disconnect(leader)
        connected -= 1
      }
      if connected < 3 {
        let candidate = simulator.node(simulator.randomInt(0..<5))
        if !simulator.isConnected(candidate) {
          simulator.connect(candidate)
          connected += 1
        }
      }
    }
    // While 2/3 of the messages take 200–2200 ms, Raft's timing requirement (broadcast time well
    // below the election timeout, 150–300 ms by default) does not hold and no election can finish.
    // The final agreement runs with new messages on the lossy, short-delay network; the messages
    // already in flight still arrive up to 2.2 s late.
    simulator.network.longDelayProbability = 0
    simulator.reconnectAll()
    try simulator.agree(command("last"), expectedNodes: 5, timeout: 30_000)
    try simulator.requireAcknowledgedEverywhere()
  }

  @Test(
    "churn: 3 proposers, random disconnects, crashes and restarts; every acknowledged value applied at the end",
    arguments: [false, true], scenarioSeeds)
  func churn(unreliable: Bool, seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    if unreliable { simulator.network.makeUnreliable(drop: 0.1) }
    var clients: [SimulatedProposal.ID?] = [nil, nil, nil]
    var counter = 0
    for _ in 0..<20 {
      if simulator.randomInt(0..<1000) < 200 {
        simulator.disconnect(simulator.node(simulator.randomInt(0..<5)))
      }
      if simulator.randomInt(0..<1000) < 500 {
        let id = simulator.node(simulator.randomInt(0..<5))
        if !simulator.isUp(id) { try simulator.restart(id) }
        simulator.connect(id)
      }
      if simulator.randomInt(0..<1000) < 200 {
        try simulator.crash(simulator.node(simulator.randomInt(0..<5)))
      }
      // 700 ms of clients proposing: each client has one proposal at a time, and gives up on a
      // proposal after 500 ms.
      for _ in 0..<35 {
        for client in clients.indices {
          if let current = clients[client] {
            let record = simulator.proposal(current)
            if record.status == .pending, simulator.now - record.time < 500 { continue }
          }
          counter += 1
          let target = simulator.node(simulator.randomInt(0..<5))
          clients[client] = try simulator.propose(command("c\(client) \(counter)"), on: target)
        }
        try simulator.run(for: 20)
      }
    }
    try simulator.run(for: 1000)
    simulator.network.makeReliable()
    simulator.reconnectAll()
    try simulator.restartAll()
    try simulator.agree(command("churn end"), expectedNodes: 5)
    try simulator.requireAcknowledgedEverywhere()
    try simulator.require(
      simulator.acknowledgedProposals.count > 10,
      "only \(simulator.acknowledgedProposals.count) proposals were acknowledged")
  }
}
