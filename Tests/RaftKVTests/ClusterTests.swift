import Foundation
import NIOCore
import Testing
import WebRaft

@testable import RaftKV

@Suite("A three-node cluster in one process", .serialized)
struct ClusterTests {
  @Test("followers serve writes and reads; leadership moves; a node joins and leaves")
  func threeNodes() async throws {
    let ids = ["n1", "n2", "n3"]
    var raftPorts: [Int] = []
    var httpPorts: [Int] = []
    for _ in ids {
      raftPorts.append(try freePort())
      httpPorts.append(try freePort())
    }
    var peers: [NodeID: MemberAddresses] = [:]
    for (offset, id) in ids.enumerated() {
      peers[NodeID(id)] = MemberAddresses(
        raft: "127.0.0.1:\(raftPorts[offset])", http: "127.0.0.1:\(httpPorts[offset])")
    }
    var nodes: [RunningNode] = []
    do {
      for (offset, id) in ids.enumerated() {
        nodes.append(
          try await startNode(id: id, raftPort: raftPorts[offset], httpPort: httpPorts[offset], peers: peers))
      }
      let leader = try #require(try await waitForLeader(nodes[0].url))
      let followers = nodes.filter { $0.server.configuration.id.rawValue != leader }
      #expect(followers.count == 2)

      // Writes and linearizable reads on followers.
      let writer = try followers[0].client()
      let reader = try followers[1].client()
      defer {
        Task {
          await writer.close()
          await reader.close()
        }
      }
      for index in 0..<20 {
        try await writer.put("k\(index)", Array("v\(index)".utf8))
        #expect(try await reader.get("k\(index)") == Array("v\(index)".utf8))
      }
      #expect(try await writer.compareAndSet("k1", from: "v1", to: "w1") == .swapped)
      #expect(try await reader.get("k1") == Array("w1".utf8))

      // The leader reports its followers' progress and every member's addresses.
      let leaderNode = try #require(nodes.first { $0.server.configuration.id.rawValue == leader })
      let leaderClient = try leaderNode.client()
      defer { Task { await leaderClient.close() } }
      let status = try await leaderClient.status()
      #expect(status.role == "leader")
      #expect(Set(status.followers?.keys.map { $0 } ?? []) == Set(ids).subtracting([leader]))
      #expect(status.members.map(\.id) == ids)
      for member in status.members {
        let offset = ids.firstIndex(of: member.id)!
        #expect(member.http == "127.0.0.1:\(httpPorts[offset])")
        #expect(member.raft == "127.0.0.1:\(raftPorts[offset])")
      }

      // Leadership moves on request made to a follower (it asks the leader).
      let target = followers[1].server.configuration.id.rawValue
      #expect(try await writer.transferLeadership(to: target) == target)
      #expect(try await eventually { try await reader.status().role == "leader" })
      try await writer.put("after-transfer", Array("yes".utf8))
      #expect(try await leaderClient.get("after-transfer") == Array("yes".utf8))

      // A fourth node joins through any member and becomes a voter; then it leaves.
      let joining = try await startNode(
        id: "n4", raftPort: try freePort(), httpPort: try freePort(), join: nodes[0].url)
      nodes.append(joining)
      #expect(
        try await eventually(timeout: .seconds(20)) {
          try await leaderClient.status().members.contains { $0.id == "n4" && $0.voter }
        })
      let newcomer = try joining.client()
      defer { Task { await newcomer.close() } }
      #expect(try await newcomer.get("k5") == Array("v5".utf8))
      #expect(try await eventually { try await newcomer.status().role == "follower" })
      try await newcomer.put("from-n4", Array("hi".utf8))
      #expect(try await reader.get("from-n4") == Array("hi".utf8))
      try await writer.removeMember(id: "n4")
      #expect(try await eventually { !(try await leaderClient.status().members.contains { $0.id == "n4" }) })
    } catch {
      for node in nodes { await node.stop() }
      throw error
    }
    for node in nodes { await node.stop() }
  }

  @Test("removing the leader answers 200 and a successor takes over by transfer, not by timeout")
  func removeLeader() async throws {
    // Elections time out only after seconds, so that a successor elected by timeout shows up
    // long after the answer, while one that took over by transfer shows up within a round trip.
    var raft = RaftConfiguration()
    raft.heartbeatTimeout = .seconds(3)
    raft.electionTimeout = .seconds(3)...(.seconds(4))
    raft.snapshotEntryInterval = nil
    let ids = ["n1", "n2", "n3"]
    var peers: [NodeID: MemberAddresses] = [:]
    var ports: [(raft: Int, http: Int)] = []
    for id in ids {
      let port = (raft: try freePort(), http: try freePort())
      ports.append(port)
      peers[NodeID(id)] = MemberAddresses(raft: "127.0.0.1:\(port.raft)", http: "127.0.0.1:\(port.http)")
    }
    var nodes: [RunningNode] = []
    do {
      for (offset, id) in ids.enumerated() {
        nodes.append(
          try await startNode(
            id: id, raftPort: ports[offset].raft, httpPort: ports[offset].http, peers: peers, raft: raft))
      }
      let first = try #require(try await waitForLeader(nodes[0].url, timeout: .seconds(30)))
      let firstNode = try #require(nodes.first { $0.server.configuration.id.rawValue == first })
      let firstClient = try firstNode.client(timeout: .seconds(20))
      defer { Task { await firstClient.close() } }
      // A fourth node joins, as in the cluster the issue was found in; it knows the others only
      // from the membership's addresses.
      nodes.append(
        try await startNode(
          id: "n4", raftPort: try freePort(), httpPort: try freePort(), join: firstNode.url, raft: raft))
      #expect(
        try await eventually(timeout: .seconds(30)) {
          try await firstClient.status().members.contains { $0.id == "n4" && $0.voter }
        })
      try await firstClient.put("before", Array("1".utf8))

      // The leader is asked to remove itself.
      let leader = try #require(try await waitForLeader(firstNode.url))
      let leaderNode = try #require(nodes.first { $0.server.configuration.id.rawValue == leader })
      let leaderClient = try leaderNode.client(timeout: .seconds(20))
      defer { Task { await leaderClient.close() } }
      let oldTerm = try await leaderClient.status().term
      try await leaderClient.removeMember(id: leader)
      let answered = ContinuousClock.now

      // A remaining node leads in the next term within well under a heartbeat timeout.
      let remaining = nodes.filter { $0.server.configuration.id.rawValue != leader }
      let clients = try remaining.map { try $0.client(timeout: .seconds(20)) }
      defer { Task { for client in clients { await client.close() } } }
      var successor: KVStatusReport?
      while successor == nil, ContinuousClock.now - answered < .seconds(20) {
        for client in clients {
          if let status = try? await client.status(), status.role == "leader" {
            successor = status
            break
          }
        }
        if successor == nil { try await Task.sleep(for: .milliseconds(20)) }
      }
      let waited = ContinuousClock.now - answered
      #expect(successor != nil)
      #expect(waited < .milliseconds(1500), "a successor took \(waited) to take over")
      #expect(successor?.term == oldTerm + 1)
      #expect(successor.map { !$0.members.contains { $0.id == leader } } == true)

      // The cluster without the old leader takes writes.
      try await clients[0].put("after", Array("2".utf8))
      #expect(try await clients[1].get("after") == Array("2".utf8))
      #expect(try await clients[2].get("before") == Array("1".utf8))
    } catch {
      for node in nodes { await node.stop() }
      throw error
    }
    for node in nodes { await node.stop() }
  }
}
