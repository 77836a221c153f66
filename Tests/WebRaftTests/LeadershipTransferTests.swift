import Testing

@testable import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// Dissertation §3.10: the leader brings the target's log up to date before it tells the target to
// campaign; a target told earlier campaigns with a log that lacks entries, loses the election to
// the up-to-date voters' refusals, and the cluster waits out an election timeout for nothing.

@Suite("Leadership transfer: the target campaigns only with a log that matches the leader's")
struct LeadershipTransferTests {
  @Test("timeoutNow goes to the target only once its match index reaches the leader's last index")
  func timeoutNowWaitsForTheTargetsLogToMatch() throws {
    var leader = try makeReplicatingLeader(
      "a", configuration: testConfiguration(preVote: false, maxEntriesPerAppend: 1))
    for number in 1...3 {
      _ = try leader.propose(Data("c\(number)".utf8), requestID: UInt64(number))
    }
    leader.drain()
    #expect(leader.lastIndex == 4)
    #expect(leader.matchIndex(of: "b") == 1)

    try leader.transferLeadership(to: "b")
    #expect(leader.leadershipTransferTarget == "b")
    #expect(!leader.drainMessages().contains { $0.body == .timeoutNow })

    // An acknowledgement that leaves b behind the leader's log does not start the election.
    leader.step(appendAccepted("b", term: 1, index: 2))
    #expect(!leader.drainMessages().contains { $0.body == .timeoutNow }, "b holds 2 of 4 entries")
    leader.step(appendAccepted("b", term: 1, index: 3))
    #expect(!leader.drainMessages().contains { $0.body == .timeoutNow }, "b holds 3 of 4 entries")

    leader.step(appendAccepted("b", term: 1, index: 4))
    let sent = leader.drainMessages().filter { $0.body == .timeoutNow }
    #expect(sent.map(\.to) == ["b"])
  }
}
