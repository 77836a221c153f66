import Testing

@testable import WebRaft

@Suite("Quorum: majority arithmetic")
struct QuorumTests {
  static let names: [NodeID] = ["a", "b", "c", "d", "e", "f", "g"]

  struct CommitCase: Sendable, CustomTestStringConvertible {
    var matches: [UInt64]
    var expected: UInt64
    var testDescription: String { "match \(matches) -> \(expected)" }
  }

  @Test(
    "committedIndex is the highest index a majority of voters hold",
    arguments: [
      CommitCase(matches: [5], expected: 5),
      CommitCase(matches: [0], expected: 0),
      // Two voters: both must hold it.
      CommitCase(matches: [5, 3], expected: 3),
      CommitCase(matches: [3, 5], expected: 3),
      CommitCase(matches: [5, 0], expected: 0),
      // Three voters: two must hold it.
      CommitCase(matches: [5, 3, 1], expected: 3),
      CommitCase(matches: [1, 5, 3], expected: 3),
      CommitCase(matches: [1, 1, 1], expected: 1),
      CommitCase(matches: [0, 0, 9], expected: 0),
      CommitCase(matches: [9, 9, 0], expected: 9),
      // Four voters: three must hold it.
      CommitCase(matches: [5, 4, 3, 2], expected: 3),
      CommitCase(matches: [5, 5, 0, 0], expected: 0),
      CommitCase(matches: [5, 5, 5, 0], expected: 5),
      // Five voters: three must hold it.
      CommitCase(matches: [9, 8, 7, 6, 5], expected: 7),
      CommitCase(matches: [0, 0, 7, 7, 7], expected: 7),
      CommitCase(matches: [0, 0, 0, 7, 7], expected: 0),
      // Six voters: four must hold it.
      CommitCase(matches: [6, 5, 4, 3, 2, 1], expected: 3),
      CommitCase(matches: [6, 6, 6, 0, 0, 0], expected: 0),
      // Seven voters: four must hold it.
      CommitCase(matches: [7, 6, 5, 4, 3, 2, 1], expected: 4),
      CommitCase(matches: [UInt64.max, UInt64.max, UInt64.max, UInt64.max, 0, 0, 0], expected: .max),
    ])
  func committedIndex(example: CommitCase) {
    let voters = Array(Self.names.prefix(example.matches.count))
    let match = Dictionary(uniqueKeysWithValues: zip(voters, example.matches))
    #expect(Quorum.committedIndex(voters: Set(voters)) { match[$0]! } == example.expected)
  }

  @Test("committedIndex asks only about voters")
  func committedIndexIgnoresOthers() {
    var asked: Set<NodeID> = []
    let index = Quorum.committedIndex(voters: ["a", "b", "c"]) { voter in
      asked.insert(voter)
      return voter == "a" ? 10 : 4
    }
    #expect(index == 4)
    #expect(asked == ["a", "b", "c"])
  }

  @Test("committedIndex of no voters never blocks")
  func committedIndexOfNobody() {
    #expect(Quorum.committedIndex(voters: []) { _ in 0 } == .max)
  }

  struct VoteCase: Sendable, CustomTestStringConvertible {
    var voters: Int
    var granted: Int
    var refused: Int
    var expected: Quorum.VoteResult
    var testDescription: String { "\(voters) voters, \(granted) yes, \(refused) no -> \(expected)" }
  }

  @Test(
    "voteResult: a majority of yes wins, a majority of no (or too few left) loses",
    arguments: [
      VoteCase(voters: 1, granted: 0, refused: 0, expected: .pending),
      VoteCase(voters: 1, granted: 1, refused: 0, expected: .won),
      VoteCase(voters: 1, granted: 0, refused: 1, expected: .lost),
      VoteCase(voters: 2, granted: 1, refused: 0, expected: .pending),
      VoteCase(voters: 2, granted: 2, refused: 0, expected: .won),
      VoteCase(voters: 2, granted: 1, refused: 1, expected: .lost),
      VoteCase(voters: 3, granted: 1, refused: 0, expected: .pending),
      VoteCase(voters: 3, granted: 2, refused: 0, expected: .won),
      VoteCase(voters: 3, granted: 1, refused: 1, expected: .pending),
      VoteCase(voters: 3, granted: 0, refused: 2, expected: .lost),
      VoteCase(voters: 3, granted: 2, refused: 1, expected: .won),
      VoteCase(voters: 4, granted: 2, refused: 0, expected: .pending),
      VoteCase(voters: 4, granted: 2, refused: 1, expected: .pending),
      VoteCase(voters: 4, granted: 3, refused: 0, expected: .won),
      VoteCase(voters: 4, granted: 2, refused: 2, expected: .lost),
      VoteCase(voters: 4, granted: 1, refused: 2, expected: .lost),
      VoteCase(voters: 5, granted: 2, refused: 2, expected: .pending),
      VoteCase(voters: 5, granted: 3, refused: 2, expected: .won),
      VoteCase(voters: 5, granted: 2, refused: 3, expected: .lost),
      VoteCase(voters: 6, granted: 3, refused: 2, expected: .pending),
      VoteCase(voters: 6, granted: 3, refused: 3, expected: .lost),
      VoteCase(voters: 6, granted: 4, refused: 0, expected: .won),
      VoteCase(voters: 7, granted: 3, refused: 3, expected: .pending),
      VoteCase(voters: 7, granted: 4, refused: 3, expected: .won),
      VoteCase(voters: 7, granted: 3, refused: 4, expected: .lost),
    ])
  func voteResult(example: VoteCase) {
    let voters = Array(Self.names.prefix(example.voters))
    var votes: [NodeID: Bool] = [:]
    for voter in voters.prefix(example.granted) { votes[voter] = true }
    for voter in voters.dropFirst(example.granted).prefix(example.refused) { votes[voter] = false }
    #expect(Quorum.voteResult(voters: Set(voters), votes: votes) == example.expected)
  }

  @Test("voteResult ignores votes from non-voters")
  func voteResultIgnoresNonVoters() {
    let votes: [NodeID: Bool] = ["a": true, "x": true, "y": true, "b": false]
    #expect(Quorum.voteResult(voters: ["a", "b", "c"], votes: votes) == .pending)
    let refusals: [NodeID: Bool] = ["a": true, "x": false, "y": false]
    #expect(Quorum.voteResult(voters: ["a", "b", "c"], votes: refusals) == .pending)
  }

  @Test("isActive: the node itself plus the active members must be a majority of the voters")
  func isActive() {
    #expect(!Quorum.isActive(voters: ["a", "b", "c"], me: "a") { _ in false })
    #expect(Quorum.isActive(voters: ["a", "b", "c"], me: "a") { $0 == "b" })
    #expect(!Quorum.isActive(voters: ["a", "b", "c", "d"], me: "a") { $0 == "b" })
    #expect(Quorum.isActive(voters: ["a", "b", "c", "d"], me: "a") { $0 == "b" || $0 == "c" })
    #expect(Quorum.isActive(voters: ["a"], me: "a") { _ in false })
    // A leader outside the voters (being removed) does not count itself.
    #expect(!Quorum.isActive(voters: ["b", "c"], me: "a") { $0 == "b" })
    #expect(Quorum.isActive(voters: ["b", "c"], me: "a") { _ in true })
    // Active non-voters do not count.
    #expect(!Quorum.isActive(voters: ["a", "b", "c"], me: "a") { $0 == "l" })
  }
}
