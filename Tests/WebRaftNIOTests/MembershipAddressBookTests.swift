import Testing
import WebRaft
import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

@Suite("The address book follows the committed membership", .serialized, .timeLimit(.minutes(2)))
struct MembershipAddressBookTests {
  let logs = LogStore()

  @Test("a member removed by an appended entry stays allowed until the removal commits and its grace ends")
  func removedMemberStaysAllowed() async throws {
    let inbox = Inbox()
    let a = try await startTransport("a", logs: logs)
    a.attach(inbox.inbound)
    let b = try await startTransport("b", peers: ["a": a.boundAddress!], logs: logs)
    let addresses: [NodeID: TCPTransport.PeerAddress] = [
      "b": b.boundAddress!, "c": .init(host: "127.0.0.1", port: 1), "d": .init(host: "127.0.0.1", port: 2),
    ]
    let book = MembershipAddressBook(transport: a, grace: .milliseconds(500)) { member, _ in
      addresses[member]
    }
    defer { book.stop() }
    book.latestChanged(["a", "b", "c"])
    book.committed(["a", "b", "c"])
    #expect(Set(a.peers.keys) == ["b", "c"])
    let fromB = b.makePeer("a", inbound: Inbox().inbound)
    fromB.write(heartbeat("b", "a"))
    #expect(await eventually { inbox.count(from: "b") == 1 })

    // Appended, not committed: b may be the leader that has to commit its own removal.
    book.latestChanged(["a", "c"])
    #expect(Set(a.peers.keys) == ["b", "c"])
    #expect(book.leavingMembers.isEmpty)
    try await Task.sleep(for: .milliseconds(700))
    fromB.write(heartbeat("b", "a"))
    #expect(await eventually { inbox.count(from: "b") == 2 })

    // An added member is reachable as soon as it is appended.
    book.latestChanged(["a", "c", "d"])
    #expect(Set(a.peers.keys) == ["b", "c", "d"])

    // Committed: b stays for the grace period (its last messages may still be on their way), then
    // its connection is closed and it is refused.
    book.committed(["a", "c", "d"])
    #expect(book.leavingMembers == ["b"])
    fromB.write(heartbeat("b", "a"))
    #expect(await eventually { inbox.count(from: "b") == 3 })
    #expect(await eventually { a.peers["b"] == nil })
    #expect(book.leavingMembers.isEmpty)
    #expect(Set(a.peers.keys) == ["c", "d"])
    #expect(await eventually { logs.contains("closing the connection from node b") })

    // A member that comes back is allowed again.
    book.latestChanged(["a", "b", "c", "d"])
    #expect(a.peers["b"] == b.boundAddress!)
    await a.shutdown()
    await b.shutdown()
  }

  @Test(
    "a leader that removes itself over TCP is heard until the removal commits, then hands leadership over")
  func leaderRemovesItself() async throws {
    var configuration = RaftConfiguration()
    // The leader must keep leading while its removal waits for a stopped node, which the quorum
    // check would not let it do.
    configuration.checkQuorum = false
    // Slow elections, so that a busy machine does not cause one that the test would mistake for
    // the hand-over's.
    configuration.heartbeatTimeout = .seconds(1)
    configuration.electionTimeout = .seconds(1)...(.milliseconds(1500))
    let cluster = try TCPCluster(logs: logs, tls: false, configuration: configuration, grace: .seconds(1))
    try await cluster.start()
    defer { Task { await cluster.shutdown() } }

    let leader = try #require(await cluster.waitForLeader())
    try await cluster.propose("first")
    let followers = cluster.ids.filter { $0 != leader }
    let (follower, stopped) = (followers[0], followers[1])
    #expect(await eventually { cluster.ids.allSatisfy { cluster.machines[$0]!.count == 1 } })
    await cluster.stop(stopped)

    // The leader removes itself: the entry reaches the follower but cannot commit without the
    // stopped node.
    let leaderNode = try #require(cluster.nodes[leader])
    let followerNode = try #require(cluster.nodes[follower])
    let term = await leaderNode.status.term
    let leaving = Task { try await leaderNode.leave(leader) }
    #expect(await eventually { await followerNode.membership.voters == Set(followers) })
    #expect(await followerNode.committedMembership.voters.contains(leader))

    // Longer than the grace period and the follower's election timeout later, the follower still
    // hears from the leader.
    try await Task.sleep(for: .milliseconds(2500))
    #expect(cluster.transports[follower]!.peers[leader] != nil)
    let status = await followerNode.status
    #expect(status.role == .follower && status.leader == leader && status.term == term)
    #expect(!logs.contains("unknown node \(leader)"))

    // The stopped node returns: the removal commits, and a follower takes over in the next term.
    try await cluster.restart(stopped)
    try await leaving.value
    let successor = try #require(await cluster.waitForLeader(among: followers))
    #expect(await cluster.nodes[successor]!.status.term == term + 1)
    #expect(await followerNode.committedMembership.voters == Set(followers))
    #expect(await eventually(timeout: .seconds(15)) { cluster.transports[follower]!.peers[leader] == nil })
    try await cluster.propose("after")
    #expect(
      await eventually { followers.allSatisfy { cluster.machines[$0]!.commands.last == Data("after".utf8) } })
    await cluster.shutdown()
  }
}
