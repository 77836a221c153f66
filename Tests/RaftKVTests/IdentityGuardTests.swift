import Foundation
import Testing
import WebRaft

@testable import RaftKV

@Suite("raftkv identity guard", .serialized)
struct IdentityGuardTests {
  @Test(
    "a node restarted on a wiped directory under its old ID stops with the remedy; the cluster keeps serving")
  func wipedNodeStops() async throws {
    let ids = ["n1", "n2", "n3"]
    var peers: [NodeID: MemberAddresses] = [:]
    var ports: [String: (raft: Int, http: Int)] = [:]
    for id in ids {
      ports[id] = (try freePort(), try freePort())
      peers[NodeID(id)] = MemberAddresses(
        raft: "127.0.0.1:\(ports[id]!.raft)", http: "127.0.0.1:\(ports[id]!.http)")
    }
    var nodes: [String: RunningNode] = [:]
    for id in ids {
      nodes[id] = try await startNode(
        id: id, raftPort: ports[id]!.raft, httpPort: ports[id]!.http, peers: peers)
    }
    let leader = try #require(try await waitForLeader(nodes["n1"]!.url))
    let client = try nodes[leader]!.client()
    defer { Task { await client.close() } }
    try await client.put("before", Array("1".utf8))
    let wiped = ids.first { $0 != leader }!
    // Every peer has seen the follower's incarnation once it acknowledged the write.
    let follower = try nodes[wiped]!.client()
    defer { Task { await follower.close() } }
    #expect(try await eventually { try await follower.status().appliedIndex >= 2 })

    let directory = nodes[wiped]!.directory
    await nodes[wiped]!.stop(removeData: true)
    let restarted = try await startNode(
      id: wiped, raftPort: ports[wiped]!.raft, httpPort: ports[wiped]!.http, peers: peers,
      directory: directory)
    // It must stop on its own within a bounded time; otherwise it is stopped after 20 s.
    let deadline = Task {
      try await Task.sleep(for: .seconds(20))
      await restarted.group.triggerGracefulShutdown()
    }
    let outcome = await restarted.task.result
    deadline.cancel()
    guard case .failure(let error) = outcome, let stale = error as? RaftKVServer.StaleIdentityError else {
      Issue.record("the wiped node did not stop with StaleIdentityError: \(outcome)")
      for id in ids where id != wiped { await nodes[id]!.stop() }
      return
    }
    #expect(stale.id.rawValue == wiped)
    #expect(stale.refusal.kind == .incarnationMismatch)
    #expect(stale.description.contains("raftkv members remove \(wiped)"))
    #expect(stale.description.contains("--join"))
    try await client.put("after", Array("2".utf8))
    #expect(try await client.get("after") == Array("2".utf8))
    try? FileManager.default.removeItem(atPath: directory)
    for id in ids where id != wiped { await nodes[id]!.stop() }
  }
}
