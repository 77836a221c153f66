import Testing

@testable import WebRaft

// A vote is a promise for the whole term: a node that forgets it across a restart can vote for a
// second candidate of the same term, and two leaders can be elected in it (Figure 2: votedFor is
// persistent state, stored before the vote is sent).

@Suite("Votes are handed out for storing with the vote response")
struct VoteStorageTests {
  @Test("a vote cast in a term already stored is handed out for storing with its response")
  func voteInStoredTermIsStored() throws {
    // Node a already stored term 2 (it heard of it before), with no vote in it.
    var core = try makeCore("a", terms: [1], term: 2)
    core.step(voteRequest("b", term: 2, lastIndex: 1, lastTerm: 1))
    let ready = try core.nextReady()
    #expect(voteResponses(in: ready.messages).map(\.response.granted) == [true])
    #expect(ready.hardState == HardState(term: 2, votedFor: "b", commitIndex: 0))
  }

  @Test("a vote cast along with a new term is handed out for storing with its response")
  func voteInNewTermIsStored() throws {
    var core = try makeCore("a", terms: [1], term: 1)
    core.step(voteRequest("b", term: 2, lastIndex: 1, lastTerm: 1))
    let ready = try core.nextReady()
    #expect(voteResponses(in: ready.messages).map(\.response.granted) == [true])
    #expect(ready.hardState == HardState(term: 2, votedFor: "b", commitIndex: 0))
  }
}
