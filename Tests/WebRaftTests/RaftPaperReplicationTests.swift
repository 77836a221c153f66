import Testing

@testable import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// Paper tests for log replication and safety: Raft paper Figure 2 ("AppendEntries RPC",
// "Rules for Servers"), §5.3, §5.4.2 (Figure 8), §5.5 and §8 (the no-op of a new leader), plus the
// fast backtracking of §5.3's closing note.

@Suite("Raft paper: log replication and safety (§5.3, §5.4.2, §5.5)")
struct RaftPaperReplicationTests {
  // MARK: The leader

  @Test("§8 a new leader appends a no-op entry of its term and sends it to every follower")
  func leaderAppendsNoop() throws {
    var core = try makeCore("a", terms: [1, 1], term: 2, configuration: testConfiguration(preVote: false))
    core.campaign()
    core.step(voteResponse("b", term: 3, granted: true))
    #expect(core.role == .leader)
    let noop = LogEntry(index: 3, term: 3, payload: .noop)
    #expect(core.lastIndex == 3)
    #expect(core.entry(at: 3) == noop)
    let ready = try core.nextReady()
    #expect(ready.events.contains(.leader(term: 3)))
    #expect(ready.entries == [noop], "the no-op is stored like any entry")
    let sent = appends(in: ready.messages)
    #expect(sent.map(\.to) == ["b", "c"])
    for (_, append) in sent {
      #expect(append == AppendEntries(prevLogIndex: 2, prevLogTerm: 1, entries: [noop], leaderCommit: 0))
    }
  }

  @Test(
    "§5.3 Figure 2 Rules for Leaders: a command received from a client is appended to the leader's log and sent to every follower"
  )
  func leaderAppendsAndReplicatesCommand() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    #expect(leader.commitIndex == 1)
    let ticket = try leader.propose(Data("x".utf8), requestID: 1)
    #expect(ticket == .appended(index: 2, term: 1))
    #expect(leader.entry(at: 2) == entry(2, 1, "x"))
    let ready = try leader.nextReady()
    #expect(ready.entries == [entry(2, 1, "x")])
    let sent = appends(in: ready.messages)
    #expect(sent.map(\.to) == ["b", "c"])
    for (_, append) in sent {
      #expect(
        append == AppendEntries(prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, 1, "x")], leaderCommit: 1)
      )
    }
  }

  @Test(
    "§5.3 Figure 2 Rules for Leaders: an entry is committed once a majority of servers stored it",
    arguments: [3, 4, 5, 7])
  func leaderCommitsOnMajority(size: Int) throws {
    let names: [NodeID] = ["a", "b", "c", "d", "e", "f", "g"]
    let voters = Set(names.prefix(size))
    var leader = try makeReplicatingLeader("a", voters: voters, term: 1)
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    leader.drain()
    let followersNeeded = size / 2  // with the leader: size / 2 + 1
    for (count, follower) in names.prefix(size).dropFirst().enumerated() {
      #expect(leader.commitIndex == 1, "not committed with \(count) of \(size - 1) followers")
      leader.step(appendAccepted(follower, term: 1, index: 2))
      if count + 1 == followersNeeded { break }
    }
    #expect(leader.commitIndex == 2)
    let ready = try leader.nextReady()
    #expect(ready.committedEntries == [entry(2, 1, "x")])
    #expect(ready.hardState == nil, "a moved commit index alone is not written")
    // The followers learn the new commit index.
    let sent = appends(in: ready.messages)
    #expect(Set(sent.map(\.to)) == voters.subtracting(["a"]))
    #expect(sent.allSatisfy { $0.append.leaderCommit == 2 })
    // The commit index is stored along with the next entries.
    leader.advance()
    _ = try leader.propose(Data("y".utf8), requestID: 2)
    let next = try leader.nextReady()
    #expect(next.entries.map(\.index) == [3])
    #expect(next.hardState?.commitIndex == 2)
  }

  @Test("§5.3 a single-node cluster commits each entry as soon as it is durable on its only node")
  func singleNodeCommitsWhenDurable() throws {
    var core = try makeCore("a", voters: ["a"], configuration: testConfiguration(preVote: false))
    core.tick(now: core.nextDeadline)
    #expect(core.role == .leader)
    let first = try core.nextReady()
    #expect(first.entries.map(\.index) == [1])
    #expect(first.committedEntries.isEmpty, "not committed before it is stored")
    #expect(core.commitIndex == 0)
    core.advance()
    #expect(core.commitIndex == 1)
    _ = try core.propose(Data("x".utf8), requestID: 1)
    let applied = core.drain().flatMap(\.committedEntries)
    #expect(applied.map(\.index) == [1, 2])
    #expect(core.appliedIndex == 2)
  }

  @Test("§5.3 the leader's own entry counts towards a majority only once it is durable")
  func leaderCountsItselfOnlyWhenDurable() throws {
    var leader = try makeReplicatingLeader("a", voters: ["a", "b", "c", "d", "e"], term: 1)
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    let handedOut = try leader.nextReady()
    #expect(handedOut.entries == [entry(2, 1, "x")])
    // The leader writes its log in parallel with sending; two followers are faster.
    leader.step(appendAccepted("b", term: 1, index: 2))
    leader.step(appendAccepted("c", term: 1, index: 2))
    #expect(leader.commitIndex == 1, "two followers of four are not a majority of five without the leader")
    leader.advance()
    #expect(leader.commitIndex == 2)
  }

  @Test(
    "§5.4.2 Figure 8: a leader never commits an entry of an earlier term by counting replicas, only by committing one of its own term"
  )
  func figure8LeaderCountsOnlyCurrentTerm() throws {
    // Figure 8 (c): S1 leads term 4 with [1, 2] and appended its no-op (index 3, term 4). The
    // entry (2, 2) is on S1, S2 and S3: a majority of five.
    let voters: Set<NodeID> = ["s1", "s2", "s3", "s4", "s5"]
    var leader = try makeLeader("s1", voters: voters, terms: [1, 2], term: 4, commit: 1)
    #expect(leader.entry(at: 3)?.term == 4)
    leader.step(appendAccepted("s2", "s1", term: 4, index: 2))
    leader.step(appendAccepted("s3", "s1", term: 4, index: 2))
    leader.drain()
    #expect(leader.commitIndex == 1, "the term-2 entry must not be committed by counting replicas")

    // Why: S5, whose log ends with term 3, could still win an election with the votes of S2, S3
    // and S4 and overwrite index 2.
    for voter in ["s2", "s3", "s4"] as [NodeID] {
      var core = try makeCore(voter, voters: voters, terms: voter == "s4" ? [1] : [1, 2], term: 4)
      core.step(voteRequest("s5", voter, term: 5, lastIndex: 2, lastTerm: 3))
      #expect(voteResponses(in: core.drainMessages()).map(\.response.granted) == [true])
    }

    // Once the term-4 entry is on a majority, it and everything before it commit.
    leader.step(appendAccepted("s2", "s1", term: 4, index: 3))
    #expect(leader.commitIndex == 1)
    leader.step(appendAccepted("s3", "s1", term: 4, index: 3))
    #expect(leader.commitIndex == 3)
    let applied = leader.drain().flatMap(\.committedEntries)
    #expect(applied.map(\.index) == [2, 3])
  }

  @Test(
    "§5.3 Figure 2 Rules for Leaders: after a successful append the leader updates nextIndex and matchIndex for the follower"
  )
  func leaderUpdatesMatchAndNext() throws {
    var leader = try makeLeader("a", terms: [1, 1], term: 2)
    #expect(
      leader.status.followers["b"]
        == RaftStatus.Follower(matchIndex: 0, nextIndex: 3, state: "probe", inflight: 0))
    leader.step(appendAccepted("b", term: 2, index: 3))
    #expect(
      leader.status.followers["b"]
        == RaftStatus.Follower(matchIndex: 3, nextIndex: 4, state: "replicate", inflight: 0))
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    _ = try leader.propose(Data("y".utf8), requestID: 2)
    leader.drain()
    #expect(
      leader.status.followers["b"]
        == RaftStatus.Follower(matchIndex: 3, nextIndex: 6, state: "replicate", inflight: 1))
    leader.step(appendAccepted("b", term: 2, index: 5))
    #expect(
      leader.status.followers["b"]
        == RaftStatus.Follower(matchIndex: 5, nextIndex: 6, state: "replicate", inflight: 0))
  }

  @Test(
    "§5.3 Figure 2 Rules for Leaders: when an append fails for inconsistency, the leader moves nextIndex back and retries"
  )
  func leaderRetriesAfterRejection() throws {
    var leader = try makeLeader("a", terms: [1, 1, 1], term: 2)
    // b holds only index 1: its rejection of prevLogIndex 3 says its log ends at 1.
    leader.step(
      message(
        "b", "a", term: 2,
        .appendEntriesResponse(
          AppendEntriesResponse(success: false, index: 3, conflictTerm: nil, conflictIndex: 2))))
    let retry = appends(in: try leader.nextReady().messages)
    #expect(retry.map(\.to) == ["b"])
    #expect(retry.first?.append.prevLogIndex == 1)
    #expect(retry.first?.append.prevLogTerm == 1)
    #expect(retry.first?.append.entries.map(\.index) == [2, 3, 4])
  }

  @Test("§5.3 Leader Append-Only: a leader never overwrites or deletes entries in its own log")
  func leaderIsAppendOnly() throws {
    var leader = try makeLeader("a", terms: [1, 1], term: 2)
    let before = leader.entries
    leader.step(
      append("b", "a", term: 2, prevIndex: 0, prevTerm: 0, entries: [entry(1, 2), entry(2, 2)], commit: 2))
    #expect(leader.entries == before)
    #expect(leader.role == .leader)
    #expect(leader.commitIndex == 0)
  }

  @Test(
    "§5.3 Figure 2 Rules for Leaders: the heartbeat lets a follower commit only what the leader knows it holds"
  )
  func heartbeatCarriesCappedCommit() throws {
    var leader = try makeReplicatingLeader("a", term: 1)
    _ = try leader.propose(Data("x".utf8), requestID: 1)
    _ = try leader.propose(Data("y".utf8), requestID: 2)
    leader.drain()
    leader.step(appendAccepted("b", term: 1, index: 3))
    #expect(leader.commitIndex == 3)
    leader.drain()
    leader.tick(now: 100)
    let beats = heartbeats(in: try leader.nextReady().messages)
    #expect(beats.map(\.message.to) == ["b", "c"])
    #expect(beats.map(\.heartbeat.commit) == [3, 1], "c is only known to hold index 1")
  }

  @Test("§5.3 Figure 2 Rules for All Servers: a follower commits from the leader's heartbeat and applies")
  func followerCommitsFromHeartbeat() throws {
    var follower = try makeCore("a", terms: [1, 1, 1], term: 1)
    follower.step(message("b", "a", term: 1, .heartbeat(Heartbeat(commit: 2))))
    #expect(follower.commitIndex == 2)
    let ready = try follower.nextReady()
    #expect(ready.committedEntries.map(\.index) == [1, 2])
    #expect(ready.messages == [message("a", "b", term: 1, .heartbeatResponse(HeartbeatResponse()))])
  }

  // MARK: Applying

  @Test(
    "§5.3 Figure 2 Rules for All Servers: committed entries are handed to the state machine in log order, each exactly once"
  )
  func committedEntriesAreAppliedInOrderOnce() throws {
    var leader = try makeReplicatingLeader(
      "a", term: 1, configuration: testConfiguration(preVote: false, maxApplyBatch: 2))
    #expect(leader.appliedIndex == 1)
    for number in 0..<5 {
      _ = try leader.propose(Data("c\(number)".utf8), requestID: UInt64(number))
    }
    leader.drain()
    leader.step(appendAccepted("b", term: 1, index: 4))
    var applied: [LogEntry] = []
    for ready in leader.drain() {
      #expect(ready.committedEntries.count <= 2, "maxApplyBatch bounds each batch")
      applied += ready.committedEntries
    }
    leader.step(appendAccepted("b", term: 1, index: 6))
    leader.step(appendAccepted("c", term: 1, index: 6))
    for ready in leader.drain() {
      applied += ready.committedEntries
    }
    #expect(applied.map(\.index) == [2, 3, 4, 5, 6])
    #expect(applied.compactMap(commandText) == ["c0", "c1", "c2", "c3", "c4"])
    #expect(leader.appliedIndex == 6)
    leader.tick(now: 100)
    #expect(leader.drain().allSatisfy { $0.committedEntries.isEmpty }, "nothing is handed out twice")
  }

  @Test("§5.3 a Ready's committed entries are handed out again only if the Ready is abandoned")
  func handedOutEntriesAreNotRepeated() throws {
    var follower = try makeCore("a", terms: [], term: 1)
    follower.step(
      append(term: 1, prevIndex: 0, prevTerm: 0, entries: logEntries(terms: [1, 1, 1]), commit: 3))
    let first = try follower.nextReady()
    #expect(first.committedEntries.map(\.index) == [1, 2, 3])
    #expect(first.entries.map(\.index) == [1, 2, 3], "the entries are stored in the same batch")
    follower.expectNoReady("nothing more until the Ready is carried out")
    follower.abandonReady()
    let again = try follower.nextReady()
    #expect(again.committedEntries.map(\.index) == [1, 2, 3])
    #expect(again.entries.map(\.index) == [1, 2, 3])
    follower.advance()
    follower.expectNoReady()
    #expect(follower.appliedIndex == 3)
  }

  // MARK: The follower

  struct ConsistencyCase: Sendable, CustomTestStringConvertible {
    var prevIndex: UInt64
    var prevTerm: UInt64
    var success: Bool
    var index: UInt64
    var conflictTerm: UInt64? = nil
    var conflictIndex: UInt64 = 0
    var testDescription: String {
      "prev (\(prevIndex), \(prevTerm)) on log [1, 1, 2] -> \(success ? "accept" : "reject")"
    }
  }

  @Test(
    "§5.3 Figure 2 AppendEntries receiver rule 2: reply false if the log has no entry at prevLogIndex whose term matches prevLogTerm",
    arguments: [
      ConsistencyCase(prevIndex: 0, prevTerm: 0, success: true, index: 1),
      ConsistencyCase(prevIndex: 2, prevTerm: 1, success: true, index: 3),
      ConsistencyCase(prevIndex: 3, prevTerm: 2, success: true, index: 4),
      ConsistencyCase(
        prevIndex: 4, prevTerm: 2, success: false, index: 4, conflictTerm: nil, conflictIndex: 4),
      ConsistencyCase(
        prevIndex: 9, prevTerm: 2, success: false, index: 9, conflictTerm: nil, conflictIndex: 4),
      ConsistencyCase(prevIndex: 3, prevTerm: 1, success: false, index: 3, conflictTerm: 2, conflictIndex: 3),
      ConsistencyCase(prevIndex: 2, prevTerm: 2, success: false, index: 2, conflictTerm: 1, conflictIndex: 1),
    ])
  func followerConsistencyCheck(example: ConsistencyCase) throws {
    let held = logEntries(terms: [1, 1, 2])
    var follower = try makeCore("a", terms: [1, 1, 2], term: 2)
    // The entry after prev: the one the follower holds there (a leader's log matching it), or a
    // new one.
    let offered =
      example.prevIndex < 3 ? held[Int(example.prevIndex)] : entry(example.prevIndex + 1, 2, "new")
    follower.step(
      append(term: 2, prevIndex: example.prevIndex, prevTerm: example.prevTerm, entries: [offered]))
    let ready = try follower.nextReady()
    let responses = appendResponses(in: ready.messages)
    #expect(
      responses.map(\.response) == [
        AppendEntriesResponse(
          success: example.success, index: example.index, conflictTerm: example.conflictTerm,
          conflictIndex: example.conflictIndex)
      ])
    #expect(responses.first?.message.term == 2)
    if example.success {
      #expect(follower.entry(at: offered.index) == offered)
      #expect(follower.lastIndex == max(3, offered.index))
    } else {
      #expect(follower.entries == held, "a rejected append changes nothing")
      #expect(ready.entries.isEmpty)
    }
  }

  @Test(
    "§5.3 Figure 2 AppendEntries receiver rule 3: a conflicting entry and all that follow it are deleted, entries before it are kept"
  )
  func followerTruncatesConflictingSuffix() throws {
    var follower = try makeCore("a", terms: [1, 1, 2, 2, 2], term: 3)
    follower.step(
      append(term: 3, prevIndex: 2, prevTerm: 1, entries: [entry(3, 2, "e3"), entry(4, 3, "new")]))
    #expect(follower.entries == logEntries(terms: [1, 1, 2]) + [entry(4, 3, "new")])
    let ready = try follower.nextReady()
    #expect(ready.entries == [entry(4, 3, "new")], "only from the conflict on is rewritten")
    #expect(
      appendResponses(in: ready.messages).map(\.response) == [AppendEntriesResponse(success: true, index: 4)])
  }

  @Test(
    "§5.3 Figure 2 AppendEntries receiver rules 3-4: an append of entries already held truncates nothing (a duplicate)"
  )
  func duplicateAppendTruncatesNothing() throws {
    var follower = try makeCore("a", terms: [1, 1, 2, 2, 2], term: 2)
    let before = follower.entries
    for _ in 0..<2 {
      follower.step(append(term: 2, prevIndex: 2, prevTerm: 1, entries: [entry(3, 2, "e3")], commit: 1))
      #expect(follower.entries == before, "entries after the append's last one are kept")
      let ready = try follower.nextReady()
      follower.advance()
      #expect(ready.entries.isEmpty)
      #expect(
        appendResponses(in: ready.messages).map(\.response) == [
          AppendEntriesResponse(success: true, index: 3)
        ])
    }
    #expect(follower.commitIndex == 1)
  }

  @Test(
    "§5.3 Figure 2 AppendEntries receiver rules 3-4: an older, shorter append that arrives after a newer one truncates nothing"
  )
  func reorderedAppendTruncatesNothing() throws {
    var follower = try makeCore("a", terms: [1], term: 2)
    let short = append(term: 2, prevIndex: 1, prevTerm: 1, entries: [entry(2, 2, "x")], commit: 1)
    let long = append(
      term: 2, prevIndex: 1, prevTerm: 1, entries: [entry(2, 2, "x"), entry(3, 2, "y"), entry(4, 2, "z")],
      commit: 1)
    follower.step(long)
    follower.drain()
    follower.step(short)
    #expect(follower.lastIndex == 4)
    #expect(follower.entries.map(\.term) == [1, 2, 2, 2])
    let ready = try follower.nextReady()
    #expect(ready.entries.isEmpty, "nothing to rewrite")
    #expect(
      appendResponses(in: ready.messages).map(\.response) == [AppendEntriesResponse(success: true, index: 2)])
  }

  @Test("§5.3 an append whose prefix is already committed is accepted without re-checking the committed part")
  func appendOverlappingCommittedPrefix() throws {
    var follower = try makeCore("a", terms: [1, 1, 1], term: 1, commit: 3)
    follower.step(
      append(
        term: 1, prevIndex: 1, prevTerm: 1, entries: logEntries(terms: [1, 1, 1, 1], from: 2), commit: 3))
    #expect(follower.lastIndex == 5)
    #expect(
      appendResponses(in: follower.drainMessages()).map(\.response) == [
        AppendEntriesResponse(success: true, index: 5)
      ])
    // An append wholly inside the committed prefix is acknowledged at the commit index.
    follower.step(append(term: 1, prevIndex: 0, prevTerm: 0, entries: logEntries(terms: [1]), commit: 3))
    #expect(follower.lastIndex == 5)
    #expect(
      appendResponses(in: follower.drainMessages()).map(\.response) == [
        AppendEntriesResponse(success: true, index: 3)
      ])
  }

  struct CommitCase: Sendable, CustomTestStringConvertible {
    var initialCommit: UInt64 = 0
    var prevIndex: UInt64
    var entries: Int = 0
    var leaderCommit: UInt64
    var expected: UInt64
    var testDescription: String {
      "commit \(initialCommit), prev \(prevIndex) + \(entries) entries, leaderCommit \(leaderCommit) -> \(expected)"
    }
  }

  @Test(
    "§5.3 Figure 2 AppendEntries receiver rule 5: if leaderCommit > commitIndex, commitIndex = min(leaderCommit, index of last new entry)",
    arguments: [
      CommitCase(prevIndex: 3, leaderCommit: 2, expected: 2),
      CommitCase(prevIndex: 3, leaderCommit: 3, expected: 3),
      CommitCase(prevIndex: 3, entries: 1, leaderCommit: 10, expected: 4),
      CommitCase(prevIndex: 3, entries: 2, leaderCommit: 4, expected: 4),
      CommitCase(prevIndex: 1, leaderCommit: 3, expected: 1),
      CommitCase(prevIndex: 1, entries: 1, leaderCommit: 3, expected: 2),
      CommitCase(prevIndex: 3, leaderCommit: 0, expected: 0),
      CommitCase(initialCommit: 3, prevIndex: 3, leaderCommit: 1, expected: 3),
      CommitCase(initialCommit: 2, prevIndex: 3, entries: 1, leaderCommit: 1, expected: 2),
    ])
  func followerCommitRule(example: CommitCase) throws {
    var follower = try makeCore("a", terms: [1, 1, 1], term: 1, commit: example.initialCommit)
    let offered = logEntries(terms: Array(repeating: 1, count: example.entries), from: example.prevIndex + 1)
    follower.step(
      append(
        term: 1, prevIndex: example.prevIndex, prevTerm: 1, entries: offered, commit: example.leaderCommit))
    #expect(follower.commitIndex == example.expected)
  }

  // MARK: Fast backtracking

  struct ConflictHintCase: Sendable, CustomTestStringConvertible {
    var followerTerms: [UInt64]
    var prevIndex: UInt64
    var prevTerm: UInt64
    var conflictTerm: UInt64?
    var conflictIndex: UInt64
    var testDescription: String {
      "follower \(followerTerms), prev (\(prevIndex), \(prevTerm)) -> term \(conflictTerm.map(String.init) ?? "none"), index \(conflictIndex)"
    }
  }

  @Test(
    "§5.3 fast backtracking: a follower's rejection carries the conflicting term and the first index it holds of that term",
    arguments: [
      ConflictHintCase(
        followerTerms: [1, 1, 1, 4, 4, 4, 4], prevIndex: 7, prevTerm: 5, conflictTerm: 4, conflictIndex: 4),
      ConflictHintCase(
        followerTerms: [1, 1, 1, 4, 4, 4, 4], prevIndex: 5, prevTerm: 5, conflictTerm: 4, conflictIndex: 4),
      ConflictHintCase(
        followerTerms: [1, 1, 1, 4, 4, 4, 4], prevIndex: 3, prevTerm: 2, conflictTerm: 1, conflictIndex: 1),
      ConflictHintCase(
        followerTerms: [1, 1, 1, 4], prevIndex: 9, prevTerm: 6, conflictTerm: nil, conflictIndex: 5),
      ConflictHintCase(followerTerms: [], prevIndex: 9, prevTerm: 6, conflictTerm: nil, conflictIndex: 1),
      ConflictHintCase(
        followerTerms: [2, 3, 3, 5], prevIndex: 3, prevTerm: 4, conflictTerm: 3, conflictIndex: 2),
    ])
  func followerRejectionCarriesConflictHint(example: ConflictHintCase) throws {
    var follower = try makeCore("a", terms: example.followerTerms, term: 6)
    follower.step(append(term: 6, prevIndex: example.prevIndex, prevTerm: example.prevTerm))
    #expect(
      appendResponses(in: follower.drainMessages()).map(\.response) == [
        AppendEntriesResponse(
          success: false, index: example.prevIndex, conflictTerm: example.conflictTerm,
          conflictIndex: example.conflictIndex)
      ])
  }

  struct BackupCase: Sendable, CustomTestStringConvertible {
    var name: String
    var followerTerms: [UInt64]
    /// Where the leader resumes after the follower's first rejection.
    var nextAfterFirstRejection: UInt64
    var rejections: Int
    var testDescription: String { name }
  }

  @Test(
    "§5.3 fast backtracking: the leader skips whole terms, so a follower's log is repaired in one round trip per conflicting term",
    arguments: [
      BackupCase(
        name: "the follower has a term the leader lacks",
        followerTerms: [1, 1, 1, 4, 4, 4, 4, 5, 5, 5, 5], nextAfterFirstRejection: 8, rejections: 1),
      BackupCase(
        name: "the follower's run of a term the leader has is longer",
        followerTerms: [1, 1, 1, 4, 4, 4, 4, 4, 4, 4, 4, 4], nextAfterFirstRejection: 8, rejections: 1),
      BackupCase(
        name: "the follower's log is short", followerTerms: [1, 1, 1, 4], nextAfterFirstRejection: 5,
        rejections: 1),
      BackupCase(
        name: "the follower's log is empty", followerTerms: [], nextAfterFirstRejection: 1, rejections: 1),
      BackupCase(
        name: "two conflicting terms", followerTerms: [1, 1, 1, 2, 2, 3, 3, 3, 3, 3],
        nextAfterFirstRejection: 6, rejections: 2),
      BackupCase(
        name: "fifty conflicting entries of one term",
        followerTerms: [1, 1, 1] + Array(repeating: 5, count: 50), nextAfterFirstRejection: 4, rejections: 1),
    ])
  func leaderSkipsWholeTerms(example: BackupCase) throws {
    let leaderTerms: [UInt64] = [1, 1, 1, 4, 4, 4, 4, 6, 6, 6]
    let (leader, firstMessages) = try electLeader("a", terms: leaderTerms, term: 7, commit: 3)
    #expect(leader.lastIndex == 11)
    let follower = try makeCore(
      "b", terms: example.followerTerms, term: example.followerTerms.last ?? 0,
      commit: min(3, UInt64(example.followerTerms.count)))
    var cluster = MiniCluster([leader, follower])
    cluster.deliver(firstMessages.filter { $0.to == "b" && $0.kindName == "append" })
    // The follower answers the first append; the leader takes the rejection.
    let answers = cluster.nodes["b"]!.drainMessages()
    #expect(appendResponses(in: answers).map(\.response.success) == [false])
    cluster.deliver(answers)
    #expect(cluster.nodes["a"]!.status.followers["b"]?.nextIndex == example.nextAfterFirstRejection)

    cluster.stabilize()
    let rejections = cluster.delivered.filter {
      if case .appendEntriesResponse(let response) = $0.body { return !response.success }
      return false
    }
    #expect(rejections.count == example.rejections)
    let leaderLog = cluster.nodes["a"]!.entries
    #expect(cluster.nodes["b"]!.entries == leaderLog, "the follower's log now matches the leader's")
    #expect(cluster.nodes["a"]!.commitIndex == 11)
    #expect(cluster.nodes["b"]!.commitIndex == 11)
  }
}
