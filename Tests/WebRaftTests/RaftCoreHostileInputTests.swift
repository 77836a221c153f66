import Testing

@testable import WebRaft

// Messages that decode but make no sense (a buggy or hostile peer, or corruption that a codec did
// not catch) must never crash a node nor make it break its promises.

/// Extreme values for every numeric field.
private let extremes: [UInt64] = [0, 1, 2, 3, 1 << 32, .max - 1, .max]

/// Messages of every kind, with extreme values, from "b" to "a" at `term`.
private func hostileMessages(term: UInt64) -> [RaftMessage] {
  var bodies: [RaftMessage.Body] = []
  for value in extremes {
    bodies.append(.voteRequest(VoteRequest(preVote: false, lastLogIndex: value, lastLogTerm: value)))
    bodies.append(.voteRequest(VoteRequest(preVote: true, lastLogIndex: value, lastLogTerm: 0)))
    bodies.append(.voteResponse(VoteResponse(preVote: value % 2 == 0, granted: true)))
    bodies.append(
      .appendEntries(AppendEntries(prevLogIndex: value, prevLogTerm: value, entries: [], leaderCommit: value))
    )
    bodies.append(
      .appendEntries(
        AppendEntries(prevLogIndex: value, prevLogTerm: 1, entries: [entry(value, 1)], leaderCommit: .max)))
    bodies.append(
      .appendEntries(
        AppendEntries(
          prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, value), entry(value, 1)], leaderCommit: value)))
    bodies.append(
      .appendEntries(
        AppendEntries(
          prevLogIndex: value, prevLogTerm: 1, entries: [entry(value &+ 1, 1), entry(value &+ 2, 1)],
          leaderCommit: 0)))
    bodies.append(.appendEntriesResponse(AppendEntriesResponse(success: true, index: value)))
    bodies.append(
      .appendEntriesResponse(
        AppendEntriesResponse(success: false, index: value, conflictTerm: value, conflictIndex: value)))
    bodies.append(
      .appendEntriesResponse(
        AppendEntriesResponse(success: false, index: value, conflictTerm: nil, conflictIndex: 0)))
    bodies.append(.heartbeat(Heartbeat(commit: value, readRound: value)))
    bodies.append(.heartbeatResponse(HeartbeatResponse(readRound: value)))
    bodies.append(.readIndex(ReadIndexRequest(requestID: value)))
    bodies.append(.readIndexResponse(ReadIndexResponse(requestID: value, index: value, error: nil)))
    bodies.append(
      .installSnapshotResponse(InstallSnapshotResponse(snapshotIndex: value, nextOffset: value, done: true)))
    bodies.append(.proposalRejected(ProposalRejection(requestID: value, error: .shutdown)))
  }
  bodies.append(.timeoutNow)
  return bodies.map { message("b", "a", term: term, $0) }
}

@Suite("RaftCore: nonsense input")
struct RaftCoreHostileInputTests {
  @Test(
    "a follower, a candidate and a leader survive nonsense messages of every kind and keep their invariants",
    arguments: ["follower", "candidate", "leader"])
  func survivesNonsense(role: String) throws {
    func fresh() throws -> RaftCore {
      switch role {
      case "follower":
        return try makeCore("a", terms: [1, 1, 2], term: 2, commit: 1)
      case "candidate":
        var core = try makeCore(
          "a", terms: [1, 1, 2], term: 2, commit: 1, configuration: testConfiguration(preVote: false))
        core.campaign()
        core.drain()
        return core
      default:
        return try makeReplicatingLeader("a", terms: [1, 1, 2], term: 3)
      }
    }
    for term in [0, 1, 2, 3, 4, 1 << 40, .max - 1, .max] as [UInt64] {
      // One at a time on a fresh node, then all in a row on one node.
      var sequential = try fresh()
      for hostile in hostileMessages(term: term) {
        var core = try fresh()
        let committed = core.entries.prefix(Int(core.commitIndex))
        core.step(hostile)
        core.tick(now: 10_000)
        core.drain()
        #expect(core.commitIndex <= core.lastIndex)
        #expect(core.appliedIndex <= core.commitIndex)
        #expect(
          Array(core.entries.prefix(committed.count)) == Array(committed), "committed entries are never lost")
        sequential.step(hostile)
        sequential.drain()
      }
      sequential.tick(now: 20_000)
      sequential.drain()
      #expect(sequential.commitIndex <= sequential.lastIndex)
    }
  }

  @Test(
    "a message with an absurd term (2^63 or more) is dropped, so the node always has a next term to campaign in"
  )
  func absurdTermIsDropped() throws {
    let limit: UInt64 = 1 << 63
    for term in [limit, limit + 1, .max] {
      var core = try makeCore("a", terms: [1], term: 1)
      core.step(message("b", "a", term: term, .heartbeat(Heartbeat(commit: 1))))
      core.step(voteRequest("b", term: term, lastIndex: 9, lastTerm: term))
      #expect(core.term == 1)
      #expect(core.leader == nil)
      #expect(core.commitIndex == 0)
      core.expectNoReady()
    }
    // Just below the limit the term is adopted, and the node can still campaign.
    var core = try makeCore("a", terms: [1], term: 1, configuration: testConfiguration(preVote: false))
    core.step(message("b", "a", term: limit - 1, .heartbeat(Heartbeat(commit: 0))))
    #expect(core.term == limit - 1)
    core.campaign()
    #expect(core.term == limit)
  }
}
