import Testing

@testable import WebRaft

/// What exists only while a node leads lives in one value, `RaftCore.leading`, created on
/// becoming leader and dropped on stepping down: nothing of a leadership outlives it.
@Suite("Core: leader state exists only while leading")
struct LeaderStateTests {
  @Test("a leader that steps down keeps no leader state, and its next leadership starts afresh")
  func steppingDownDropsLeaderState() throws {
    var core = try makeReplicatingLeader("a", term: 1)
    // A read waits for a quorum to answer its heartbeat round, and a transfer to c is under way.
    try core.readIndex(requestID: 7)
    core.drain()
    try core.transferLeadership(to: "c")
    core.drain()
    #expect(core.status.followers.keys.sorted() == ["b", "c"])
    #expect(core.status.followers["b"]?.matchIndex == core.lastIndex)
    #expect(core.leadershipTransferTarget == "c")
    #expect(core.leading?.pendingReads.map(\.requestID) == [7])

    // c wins the election and appends in term 2.
    core.step(append("c", "a", term: 2, prevIndex: core.lastIndex, prevTerm: 1))
    #expect(core.role == .follower)
    #expect(core.leading == nil)
    #expect(core.status.followers.isEmpty)
    #expect(core.leadershipTransferTarget == nil)
    #expect(core.leaseReadIndex(now: core.now) == nil)
    let readStates = core.drain().flatMap(\.readStates)
    // The read fails naming the node that took over.
    #expect(readStates == [ReadState(requestID: 7, result: .failure(.noLeader(leaderHint: "c")))])

    // a leads again in term 3: nothing of its first leadership is left.
    core.campaign()
    core.step(voteResponse("b", "a", term: 3, granted: true))
    #expect(core.role == .leader)
    let leading = try #require(core.leading)
    #expect(leading.pendingReads.isEmpty)
    #expect(leading.transferTarget == nil)
    #expect(!leading.leaseRevoked)
    #expect(leading.roundSentAt.isEmpty)
    #expect(core.leadershipTransferTarget == nil)
    for follower: NodeID in ["b", "c"] {
      #expect(core.status.followers[follower]?.matchIndex == 0, "fresh progress for \(follower)")
      #expect(core.status.followers[follower]?.state == "probe")
    }
  }
}
