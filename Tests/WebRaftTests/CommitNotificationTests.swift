import Foundation
import Testing

@testable import WebRaft

/// The leader tells followers about a new commit index on the next append, or after
/// `commitNotificationDelay` when no append goes out (hashicorp/raft and openraft do the same;
/// the paper sends it at once, which is `commitNotificationDelay == 0`).
@Suite("Commit notification: followers learn the commit index from the next append or after a delay")
struct CommitNotificationTests {
  static let delayed = testConfiguration(preVote: false, commitNotificationDelay: .milliseconds(5))

  /// A replicating leader of a, b, c whose no-op commit was already sent to the followers.
  func quietLeader() throws -> RaftCore {
    var leader = try makeReplicatingLeader("a", configuration: Self.delayed)
    leader.tick(now: leader.nextDeadline)
    leader.drain()
    return leader
  }

  @Test("with a delay, a commit alone sends nothing until the delay passes")
  func commitWaitsForTheDelay() throws {
    var leader = try quietLeader()
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    leader.drain()
    let committedAt = leader.now
    leader.step(appendAccepted("b", term: 1, index: 2))
    #expect(leader.commitIndex == 2, "the leader commits at once")
    let ready = try leader.nextReady()
    #expect(ready.committedEntries.map(\.index) == [2], "and applies at once")
    #expect(appends(in: ready.messages).isEmpty, "but sends no append just for the commit")
    leader.advance()
    #expect(leader.nextDeadline == committedAt + 5, "it asks to be ticked when the delay is over")
    leader.tick(now: committedAt + 4)
    #expect(appends(in: leader.drainMessages()).isEmpty)
    leader.tick(now: committedAt + 5)
    let sent = appends(in: leader.drainMessages())
    #expect(Set(sent.map(\.to)) == ["b", "c"])
    #expect(sent.allSatisfy { $0.append.leaderCommit == 2 && $0.append.entries.isEmpty })
    leader.tick(now: committedAt + 50)
    #expect(appends(in: leader.drainMessages()).isEmpty, "it is sent once")
  }

  @Test("with a delay, the next proposal's append carries the commit index and none is sent alone")
  func nextAppendCarriesTheCommit() throws {
    var leader = try quietLeader()
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    leader.drain()
    let committedAt = leader.now
    leader.step(appendAccepted("b", term: 1, index: 2))
    leader.step(appendAccepted("c", term: 1, index: 2))
    leader.drain()
    _ = try leader.propose(Data("y".utf8), requestID: 2)
    let sent = appends(in: leader.drainMessages())
    #expect(Set(sent.map(\.to)) == ["b", "c"])
    #expect(sent.allSatisfy { $0.append.leaderCommit == 2 && $0.append.entries.map(\.index) == [3] })
    leader.tick(now: committedAt + 5)
    #expect(appends(in: leader.drainMessages()).isEmpty, "nothing left to notify")
  }

  @Test("with a delay, followers still apply every commit once the delay passed")
  func followersCatchUp() throws {
    var cluster = try makeStableCluster(configuration: Self.delayed)
    _ = try cluster.nodes["a"]!.propose(Data("x".utf8), requestID: 1)
    cluster.stabilize()
    #expect(cluster.nodes["a"]!.commitIndex == 2)
    cluster.tick(now: cluster.nodes["a"]!.now + 5)
    cluster.stabilize()
    for id: NodeID in ["b", "c"] {
      #expect(cluster.nodes[id]!.commitIndex == 2)
      #expect(cluster.applied[id]?.last.flatMap(commandText) == "x")
    }
  }

  @Test("validate() refuses a commit notification delay below zero or above the heartbeat interval")
  func delayIsValidated() {
    var configuration = RaftConfiguration()
    configuration.commitNotificationDelay = .milliseconds(101)
    #expect(throws: RaftError.self) { try configuration.validate() }
    configuration.commitNotificationDelay = .milliseconds(-1)
    #expect(throws: RaftError.self) { try configuration.validate() }
    configuration.commitNotificationDelay = .milliseconds(100)
    #expect(throws: Never.self) { try configuration.validate() }
  }
}
