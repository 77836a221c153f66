import Testing
import WebRaft
import WebRaftTesting

/// How many messages the protocol spends (the labs' RPC count test).
@Suite("Simulation: message economy")
struct MessageEconomyTests {
  @Test("an election in 3 nodes uses at most 30 messages", arguments: scenarioSeeds)
  func electionMessageCount(seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    _ = try simulator.awaitLeader()
    let count = simulator.messagesSent
    try simulator.require(count >= 1, "a leader was elected without a single message")
    try simulator.require(count <= 30, "the election used \(count) messages, more than 30")
  }

  @Test(
    "an idle leader sends exactly one heartbeat per interval to each follower, and nothing else",
    arguments: [3, 5], scenarioSeeds)
  func idleHeartbeats(nodes: Int, seed: UInt64) throws {
    let simulator = try ClusterSimulator(seed: seed, nodes: nodes)
    try simulator.agree(command("settle"), expectedNodes: nodes)
    try simulator.run(for: 1000)
    let leader = try simulator.awaitLeader()
    let followers = simulator.nodeIDs.filter { $0 != leader }
    let heartbeatsBefore = followers.map { simulator.messageCount(from: leader, to: $0, kind: "heartbeat") }
    let allBefore = followers.map { simulator.messageCount(from: leader, to: $0) }
    let intervals = 10
    // The seed's default: a heartbeat every 100 ms.
    try #require(simulator.configuration.heartbeatInterval == .milliseconds(100))
    let interval: UInt64 = 100
    try simulator.run(for: interval * UInt64(intervals))
    try simulator.require(simulator.establishedLeader() == leader, "the leader changed while idle")
    for (position, follower) in followers.enumerated() {
      let heartbeats =
        simulator.messageCount(from: leader, to: follower, kind: "heartbeat")
        - heartbeatsBefore[position]
      let all = simulator.messageCount(from: leader, to: follower) - allBefore[position]
      try simulator.require(
        heartbeats == intervals,
        "\(follower) got \(heartbeats) heartbeats in \(intervals) intervals of \(interval) ms")
      try simulator.require(
        all == heartbeats, "\(follower) got \(all - heartbeats) messages besides heartbeats")
    }
  }
}
