import Foundation
import Testing

@testable import WebRaft

/// How a leader streams its snapshot to a follower in chunks (the InstallSnapshot RPC, Raft
/// §7, in chunks as the paper's `offset` field allows).
@Suite("InstallSnapshot in chunks: the leader follows where the follower stands")
struct SnapshotTransferTests {
  /// A leader of a, b, c whose log up to index 4 is committed (with c) and compacted into a
  /// snapshot, and which has started sending that snapshot to b.
  func leaderSendingSnapshotToB() throws -> (RaftCore, SnapshotMetadata) {
    var leader = try makeLeader("a")
    for value in 1...3 { _ = try leader.propose(Data("x\(value)".utf8), requestID: UInt64(value)) }
    leader.drain()
    leader.step(appendAccepted("c", term: 1, index: 4))
    leader.drain()
    let metadata = try #require(leader.snapshotMetadata(at: 4))
    leader.snapshotCommitted(metadata)
    #expect(leader.status.snapshotIndex == 4)
    // b answers a heartbeat; the entries it needs are compacted away, so it gets the snapshot.
    leader.step(message("b", "a", term: 1, .heartbeatResponse(HeartbeatResponse(readRound: 0))))
    #expect(requestedOffsets(&leader) == [0])
    return (leader, metadata)
  }

  /// The chunk offsets the leader asks its driver to read for b.
  func requestedOffsets(_ leader: inout RaftCore) -> [UInt64] {
    leader.drain().flatMap(\.snapshotChunkRequests).filter { $0.peer == "b" }.map(\.offset)
  }

  func answer(_ nextOffset: UInt64) -> RaftMessage {
    message(
      "b", "a", term: 1,
      .installSnapshotResponse(InstallSnapshotResponse(snapshotIndex: 4, nextOffset: nextOffset, done: false))
    )
  }

  @Test("each answer that moves the transfer on asks for the next chunk; a stale answer does not")
  func answersMoveTheTransferOn() throws {
    var (leader, metadata) = try leaderSendingSnapshotToB()
    leader.sendSnapshotChunk(to: "b", metadata: metadata, totalSize: 6, offset: 0, data: Data([1, 2]))
    leader.step(answer(2))
    #expect(requestedOffsets(&leader) == [2])
    leader.step(answer(2))
    #expect(requestedOffsets(&leader).isEmpty, "a duplicated answer starts no exchange of its own")
  }

  @Test("a late answer that moved the leader past the follower is corrected at the next resend")
  func lateAnswerIsCorrectedAfterResend() throws {
    var (leader, metadata) = try leaderSendingSnapshotToB()
    leader.sendSnapshotChunk(to: "b", metadata: metadata, totalSize: 6, offset: 0, data: Data([1, 2]))
    leader.step(answer(2))
    #expect(requestedOffsets(&leader) == [2])
    // An answer from an earlier attempt of the transfer arrives late: the leader moves to 4.
    leader.step(answer(4))
    #expect(requestedOffsets(&leader) == [4])
    leader.sendSnapshotChunk(to: "b", metadata: metadata, totalSize: 6, offset: 4, data: Data([5, 6]))
    // b still expects offset 2 and says so; on its own that looks like a stale answer.
    leader.step(answer(2))
    #expect(requestedOffsets(&leader).isEmpty)
    // The transfer stalls for a heartbeat timeout: the leader sends the chunk again ...
    leader.tick(now: leader.now + 200)
    leader.step(message("b", "a", term: 1, .heartbeatResponse(HeartbeatResponse(readRound: 0))))
    #expect(requestedOffsets(&leader) == [4])
    // ... and believes b's answer to it, going back to where b stands.
    leader.step(answer(2))
    #expect(requestedOffsets(&leader) == [2])
  }
}
