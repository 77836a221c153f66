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
}
