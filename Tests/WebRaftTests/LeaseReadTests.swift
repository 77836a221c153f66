import Testing

@testable import WebRaft

// A lease is a promise about time: it must be checked against the clock when the read is made,
// since the last tick may lie arbitrarily far back (a starved timer task, a paused process).

@Suite("Lease reads: checked at the time of the read")
struct LeaseReadTests {
  /// A leader of a, b, c (default timeouts: heartbeat timeout 200 ms, drift 20 ms) whose heartbeat
  /// round sent at 100 ms both followers answered: its lease runs until 100 + 200 - 20 = 280 ms.
  /// Its last tick was at 101 ms.
  private func leaderWithLeaseConfirmedAt100() throws -> RaftCore {
    var leader = try makeReplicatingLeader("a", term: 1)
    leader.tick(now: 100)
    let rounds = heartbeats(in: leader.drainMessages()).map(\.heartbeat.readRound)
    let round = try #require(rounds.first)
    for follower: NodeID in ["b", "c"] {
      leader.step(message(follower, "a", term: 1, .heartbeatResponse(HeartbeatResponse(readRound: round))))
    }
    leader.drain()
    leader.tick(now: 101)
    #expect(leader.role == .leader)
    return leader
  }

  @Test("a lease read is checked against the time of the read, not the time of the last tick")
  func leaseIsCheckedAtTheTimeOfTheRead() throws {
    let leader = try leaderWithLeaseConfirmedAt100()
    #expect(leader.leaseReadIndex(now: 101) == leader.commitIndex)
    #expect(leader.leaseReadIndex(now: 279) == leader.commitIndex)
    // No tick since 101 ms (a starved timer, a paused process): the lease ended all the same.
    #expect(leader.leaseReadIndex(now: 280) == nil)
    #expect(leader.leaseReadIndex(now: 300) == nil)
    #expect(leader.now == 101, "asking does not move the core's clock")
  }

  @Test("a lease read never uses a time earlier than the core's last tick")
  func leaseReadTimeNeverGoesBack() throws {
    var leader = try leaderWithLeaseConfirmedAt100()
    leader.tick(now: 290)
    #expect(leader.leaseReadIndex(now: 150) == nil, "the core already saw 290 ms, past the lease")
  }

  @Test("a lease is measured from when the heartbeat round was sent, not from when its answers came")
  func leaseRunsFromTheSendingOfTheRound() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    leader.tick(now: 100)
    let rounds = heartbeats(in: leader.drainMessages()).map(\.heartbeat.readRound)
    let round = try #require(rounds.first)
    // The answers take 60 ms: the followers may have stopped hearing from this leader as early as
    // 100 ms, so the lease still ends at 100 + 200 - 20 = 280 ms, not 60 ms later.
    leader.tick(now: 160)
    for follower: NodeID in ["b", "c"] {
      leader.step(message(follower, "a", term: 1, .heartbeatResponse(HeartbeatResponse(readRound: round))))
    }
    leader.drain()
    #expect(leader.role == .leader)
    #expect(leader.leaseReadIndex(now: 279) == leader.commitIndex)
    #expect(leader.leaseReadIndex(now: 280) == nil)
    #expect(leader.leaseReadIndex(now: 330) == nil)
  }
}
