import Foundation
import Testing

@testable import WebRaft

/// Raft dissertation §10.2.1: the leader may write its log in parallel with sending it, because it
/// counts itself towards a commit only once its own write is durable. `Ready.earlyMessageCount`
/// says which messages may go out before the write.
@Suite("Dissertation §10.2.1: a leader's appends may be sent before its own write")
struct ParallelWriteTests {
  @Test("a leader's Ready puts its appends first and lets them go before the write")
  func leaderAppendsAreEarly() throws {
    var leader = try makeReplicatingLeader("a")
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    let ready = try leader.nextReady()
    #expect(ready.entries.map(\.index) == [2])
    #expect(ready.earlyMessageCount == 2)
    #expect(ready.messages.prefix(2).allSatisfy { $0.kindName == "append" })
  }

  @Test("the leader does not count its own entry before the write is confirmed, even if followers have it")
  func leaderCountsItselfOnlyWhenDurable() throws {
    var leader = try makeReplicatingLeader("a", voters: ["a", "b", "c", "d", "e"])
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    _ = try leader.nextReady()  // Sent, not yet durable on the leader.
    leader.step(appendAccepted("b", term: 1, index: 2))
    leader.step(appendAccepted("c", term: 1, index: 2))
    #expect(leader.commitIndex == 1, "two followers and a leader that has not stored it are no majority of 5")
    leader.advance()
    #expect(leader.commitIndex == 2, "with the leader's durable copy they are")
  }

  @Test("a majority of followers commits an entry the leader has not stored yet")
  func followersAloneCanCommit() throws {
    var leader = try makeReplicatingLeader("a")
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    _ = try leader.nextReady()
    leader.step(appendAccepted("b", term: 1, index: 2))
    #expect(leader.commitIndex == 1, "b and a leader without the entry are not two copies")
    leader.step(appendAccepted("c", term: 1, index: 2))
    #expect(leader.commitIndex == 2, "b and c are a majority of 3")
  }

  @Test("nothing is early when the Ready stores a new term or vote, or on a follower")
  func votesAndAcknowledgementsWaitForTheWrite() throws {
    // A candidate's vote requests depend on its stored term and vote.
    var candidate = try makeCore("a", configuration: testConfiguration(preVote: false))
    candidate.tick(now: candidate.nextDeadline)
    let election = try candidate.nextReady()
    #expect(election.hardState?.votedFor == "a")
    #expect(election.earlyMessageCount == 0)
    // A follower's acknowledgement depends on the entries it stores.
    var follower = try makeCore("b")
    follower.step(append("a", "b", term: 1, prevIndex: 0, prevTerm: 0, entries: [entry(1, 1)], commit: 0))
    let stored = try follower.nextReady()
    #expect(stored.entries.map(\.index) == [1])
    #expect(stored.earlyMessageCount == 0)
  }
}
