import Foundation
import NIOCore
import Testing

@testable import RaftKV
@testable import WebRaft

@Suite("raftkv: joint membership changes over HTTP", .serialized)
struct JointMembershipTests {
  /// Starts n1, n2 and n3; returns them and their addresses.
  private func startThree() async throws -> (nodes: [RunningNode], peers: [NodeID: MemberAddresses]) {
    let ids = ["n1", "n2", "n3"]
    var peers: [NodeID: MemberAddresses] = [:]
    var ports: [(raft: Int, http: Int)] = []
    for id in ids {
      let port = (raft: try freePort(), http: try freePort())
      ports.append(port)
      peers[NodeID(id)] = MemberAddresses(raft: "127.0.0.1:\(port.raft)", http: "127.0.0.1:\(port.http)")
    }
    var nodes: [RunningNode] = []
    for (offset, id) in ids.enumerated() {
      nodes.append(
        try await startNode(id: id, raftPort: ports[offset].raft, httpPort: ports[offset].http, peers: peers))
    }
    _ = try #require(try await waitForLeader(nodes[0].url))
    return (nodes, peers)
  }

  @Test(
    "serve --join URL --replace n3: the new node catches up as a learner, then takes n3's vote in one joint change"
  )
  func joinReplacing() async throws {
    var nodes = try await startThree().nodes
    do {
      let client = try nodes[0].client(timeout: .seconds(20))
      defer { Task { await client.close() } }
      for index in 0..<10 { try await client.put("k\(index)", Array("v\(index)".utf8)) }
      nodes.append(
        try await startNode(
          id: "n4", raftPort: try freePort(), httpPort: try freePort(), join: nodes[1].url, replacing: "n3"))
      #expect(
        try await eventually(timeout: .seconds(30)) {
          let status = try await client.status()
          let voters = Set(status.members.filter(\.voter).map(\.id))
          return voters == ["n1", "n2", "n4"] && status.joint == nil
        })
      let newcomer = try nodes[3].client()
      defer { Task { await newcomer.close() } }
      #expect(try await newcomer.get("k7") == Array("v7".utf8))
      try await newcomer.put("after", Array("yes".utf8))
      #expect(try await client.get("after") == Array("yes".utf8))
    } catch {
      for node in nodes { await node.stop() }
      throw error
    }
    for node in nodes { await node.stop() }
  }

  @Test("POST /members/change adds, removes and demotes in one joint change; /status shows no joint after it")
  func changeThroughHTTP() async throws {
    var (nodes, peers) = try await startThree()
    do {
      let n4 = try await startNode(
        id: "n4", raftPort: try freePort(), httpPort: try freePort(), peers: peers, waitsToBeAdded: true)
      let n5 = try await startNode(
        id: "n5", raftPort: try freePort(), httpPort: try freePort(), peers: peers, waitsToBeAdded: true)
      nodes += [n4, n5]
      // Asked of a follower or the leader alike: a follower hands it to the leader.
      let leader = try #require(try await waitForLeader(nodes[0].url))
      let follower = try #require(nodes.prefix(3).first { $0.server.configuration.id.rawValue != leader })
      let client = try follower.client(timeout: .seconds(60))
      defer { Task { await client.close() } }
      try await client.put("before", Array("1".utf8))
      let removed = ["n1", "n2", "n3"].first { $0 != leader }!
      let demoted = ["n1", "n2", "n3"].first { $0 != leader && $0 != removed }!
      try await client.changeMembers(
        add: [n4, n5].map {
          RaftKVClient.NewMember(
            id: $0.server.configuration.id.rawValue, raft: $0.addresses.raft.description,
            http: $0.addresses.http.description)
        },
        remove: [removed], demote: [demoted])
      // The leader answered once it left the joint configuration. (The follower asked is the one
      // removed: it never hears of the configuration after the joint one.)
      let leaderNode = try #require(nodes.first { $0.server.configuration.id.rawValue == leader })
      let leaderClient = try leaderNode.client()
      defer { Task { await leaderClient.close() } }
      let status = try await leaderClient.status()
      #expect(status.joint == nil)
      #expect(Set(status.members.filter(\.voter).map(\.id)) == [leader, "n4", "n5"])
      #expect(status.members.contains { $0.id == demoted && !$0.voter })
      #expect(!status.members.contains { $0.id == removed })
      let fifth = try n5.client()
      defer { Task { await fifth.close() } }
      #expect(try await eventually { try await fifth.get("before") == Array("1".utf8) })

      // A body that names nothing, or a bad address, is refused with a reason.
      await #expect(throws: RaftKVError.self) { try await client.changeMembers() }
      await #expect(throws: RaftKVError.self) {
        try await client.changeMembers(add: [RaftKVClient.NewMember(id: "n6", raft: "nowhere", http: nil)])
      }
    } catch {
      for node in nodes { await node.stop() }
      throw error
    }
    for node in nodes { await node.stop() }
  }

  @Test("a joint configuration in a status report encodes as joint: {old, new}")
  func statusReportsJoint() throws {
    let membership = Membership(voters: ["n2", "n3", "n4"], outgoingVoters: ["n1", "n2", "n3"])
    let status = RaftStatus(
      id: "n2", role: .follower, term: 3, leader: "n1", votedFor: nil, commitIndex: 9, appliedIndex: 9,
      lastIndex: 9, snapshotIndex: 0, membership: membership, followers: [:])
    let report = KVStatusReport(status: status, keys: 0)
    let json = String(decoding: try JSONEncoder().encode(report), as: UTF8.self)
    #expect(json.contains(#""joint":{"#))
    #expect(report.joint == KVStatusReport.Joint(old: ["n1", "n2", "n3"], new: ["n2", "n3", "n4"]))
    #expect(report.members.first { $0.id == "n1" }?.voter == true, "an outgoing voter still votes")
  }
}
