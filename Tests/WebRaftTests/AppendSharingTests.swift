import Testing

@testable import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The leader builds one array of entries for followers that stand at the same index.
@Suite("Core: appends share their entries")
struct AppendSharingTests {
  private func storage(of entries: [LogEntry]) -> UnsafeRawPointer? {
    entries.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
  }

  @Test("followers at the same index get one shared array of entries")
  func followersAtTheSameIndexShare() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    _ = try leader.propose(Data("y".utf8), requestID: 2)
    let sent = appends(in: try leader.nextReady().messages)
    #expect(sent.map(\.to) == ["b", "c"])
    #expect(sent[0].append == sent[1].append)
    #expect(storage(of: sent[0].append.entries) == storage(of: sent[1].append.entries))
  }

  @Test("a follower at another index gets the entries from its own index")
  func followerBehindGetsItsOwn() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    _ = try leader.nextReady()
    leader.advance()
    // b stored entry 2, c did not answer: the next round sends b entry 3 and c entries 2 and 3.
    leader.step(appendAccepted("b", term: 1, index: 2))
    _ = leader.processReady()
    _ = try leader.propose(Data("y".utf8), requestID: 2)
    let sent = appends(in: try leader.nextReady().messages)
    let toB = try #require(sent.first { $0.to == "b" }).append
    #expect(toB.entries.map(\.index) == [3])
    let toC = sent.filter { $0.to == "c" }.flatMap(\.append.entries).map(\.index)
    #expect(toC.contains(3))
  }
}
