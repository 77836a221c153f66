import Testing

@testable import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// Helpers shared by the core's unit and paper tests: building logs, cores and messages by hand,
// and driving a core the way a driver does (ready -> persist -> send -> apply -> advance).

/// An entry at (`index`, `term`): a command when `command` is given, a no-op otherwise.
func entry(_ index: UInt64, _ term: UInt64, _ command: String? = nil) -> LogEntry {
  LogEntry(index: index, term: term, payload: command.map { .command(Data($0.utf8)) } ?? .noop)
}

/// A log whose entry at index `i` (from 1) has term `terms[i - 1]`; each carries a command.
func logEntries(terms: [UInt64], from first: UInt64 = 1) -> [LogEntry] {
  terms.enumerated().map { offset, term in
    let index = first + UInt64(offset)
    return entry(index, term, "e\(index)")
  }
}

/// The text of a command entry, nil for other payloads.
func commandText(_ entry: LogEntry) -> String? {
  if case .command(let data) = entry.payload { return String(decoding: data, as: UTF8.self) }
  return nil
}

/// A configuration with the protocol options set as a test needs them (default timeouts).
func testConfiguration(
  preVote: Bool = true,
  checkQuorum: Bool = true,
  maxInflightAppends: Int = 256,
  maxEntriesPerAppend: Int = 4096,
  maxApplyBatch: Int = 4096,
  commitNotificationDelay: Duration = .zero
) -> RaftConfiguration {
  var configuration = RaftConfiguration()
  configuration.commitNotificationDelay = commitNotificationDelay
  configuration.preVote = preVote
  configuration.checkQuorum = checkQuorum
  configuration.maxInflightAppends = maxInflightAppends
  configuration.maxEntriesPerAppend = maxEntriesPerAppend
  configuration.maxApplyBatch = maxApplyBatch
  return configuration
}

/// A core as restarted from storage holding a log with `terms`, a hard state at `term` (the
/// last log term by default), `votedFor` and `commit`.
///
/// A node holds its vote for a heartbeat timeout after it starts; unless `holdsVoteAtStart`, the
/// core is made as if it had been up longer than that, for the tests of other rules.
func makeCore(
  _ id: NodeID = "a",
  voters: Set<NodeID> = ["a", "b", "c"],
  learners: Set<NodeID> = [],
  terms: [UInt64] = [],
  term: UInt64? = nil,
  votedFor: NodeID? = nil,
  commit: UInt64 = 0,
  configuration: RaftConfiguration = testConfiguration(),
  seed: UInt64 = 1,
  now: UInt64 = 0,
  holdsVoteAtStart: Bool = false
) throws -> RaftCore {
  let state = PersistentState(
    hardState: HardState(term: term ?? terms.last ?? 0, votedFor: votedFor, commitIndex: commit),
    snapshot: SnapshotMetadata(
      index: 0, term: 0, membership: Membership(voters: voters, learners: learners)),
    entries: logEntries(terms: terms))
  var core = try RaftCore(id: id, configuration: configuration, state: state, seed: seed, now: now)
  if !holdsVoteAtStart { core.votesHeldUntil = 0 }
  return core
}

/// Builds a message.
func message(
  _ from: NodeID, _ to: NodeID, term: UInt64, _ body: RaftMessage.Body
) -> RaftMessage {
  RaftMessage(from: from, to: to, term: term, body: body)
}

/// An append of `entries` after (`prevIndex`, `prevTerm`).
func append(
  _ from: NodeID = "b", _ to: NodeID = "a", term: UInt64,
  prevIndex: UInt64, prevTerm: UInt64, entries: [LogEntry] = [], commit: UInt64 = 0
) -> RaftMessage {
  message(
    from, to, term: term,
    .appendEntries(
      AppendEntries(
        prevLogIndex: prevIndex, prevLogTerm: prevTerm, entries: entries, leaderCommit: commit)))
}

/// A vote request (or pre-vote request).
func voteRequest(
  _ from: NodeID, _ to: NodeID = "a", term: UInt64, lastIndex: UInt64, lastTerm: UInt64,
  preVote: Bool = false
) -> RaftMessage {
  message(
    from, to, term: term,
    .voteRequest(VoteRequest(preVote: preVote, lastLogIndex: lastIndex, lastLogTerm: lastTerm)))
}

/// A vote response.
func voteResponse(
  _ from: NodeID, _ to: NodeID = "a", term: UInt64, granted: Bool, preVote: Bool = false
) -> RaftMessage {
  message(from, to, term: term, .voteResponse(VoteResponse(preVote: preVote, granted: granted)))
}

/// A successful append response acknowledging `index`.
func appendAccepted(_ from: NodeID, _ to: NodeID = "a", term: UInt64, index: UInt64) -> RaftMessage {
  message(
    from, to, term: term, .appendEntriesResponse(AppendEntriesResponse(success: true, index: index)))
}

extension RaftCore {
  /// Carries out one `Ready` (as a driver that persists, sends and applies everything at once)
  /// and confirms it; nil when there was nothing to do.
  @discardableResult
  mutating func processReady() -> Ready? {
    guard let ready = ready() else { return nil }
    advance()
    return ready
  }

  /// The next `Ready`, which the test requires to exist (it is handed out, not yet confirmed).
  mutating func nextReady(sourceLocation: SourceLocation = #_sourceLocation) throws -> Ready {
    let ready = ready()
    return try #require(ready, "expected a Ready", sourceLocation: sourceLocation)
  }

  /// Expects that the core has nothing to hand out.
  mutating func expectNoReady(
    _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let ready = ready()
    #expect(ready == nil, comment, sourceLocation: sourceLocation)
  }

  /// Carries out `Ready` values until there is nothing left to do, and returns them in order.
  @discardableResult
  mutating func drain() -> [Ready] {
    var readies: [Ready] = []
    while let ready = processReady() {
      readies.append(ready)
      if readies.count > 1000 {
        Issue.record("the core keeps producing Ready values")
        break
      }
    }
    return readies
  }

  /// Carries out everything pending and returns the messages that went out.
  mutating func drainMessages() -> [RaftMessage] {
    drain().flatMap(\.messages)
  }
}

/// The appends in `messages`, keyed by receiver, in order.
func appends(in messages: [RaftMessage]) -> [(to: NodeID, append: AppendEntries)] {
  messages.compactMap { message in
    if case .appendEntries(let append) = message.body { return (message.to, append) }
    return nil
  }
}

/// The vote requests in `messages`.
func voteRequests(in messages: [RaftMessage]) -> [(message: RaftMessage, request: VoteRequest)] {
  messages.compactMap { message in
    if case .voteRequest(let request) = message.body { return (message, request) }
    return nil
  }
}

/// The vote responses in `messages`.
func voteResponses(in messages: [RaftMessage]) -> [(message: RaftMessage, response: VoteResponse)] {
  messages.compactMap { message in
    if case .voteResponse(let response) = message.body { return (message, response) }
    return nil
  }
}

/// The append responses in `messages`.
func appendResponses(in messages: [RaftMessage]) -> [(
  message: RaftMessage, response: AppendEntriesResponse
)] {
  messages.compactMap { message in
    if case .appendEntriesResponse(let response) = message.body { return (message, response) }
    return nil
  }
}

/// The heartbeats in `messages`.
func heartbeats(in messages: [RaftMessage]) -> [(message: RaftMessage, heartbeat: Heartbeat)] {
  messages.compactMap { message in
    if case .heartbeat(let heartbeat) = message.body { return (message, heartbeat) }
    return nil
  }
}

/// A leader of `term` for `voters`, elected by hand without pre-vote, whose first `Ready` (the
/// no-op and the first appends) has been carried out. Its log holds `terms` and then the no-op.
func makeLeader(
  _ id: NodeID = "a",
  voters: Set<NodeID> = ["a", "b", "c"],
  learners: Set<NodeID> = [],
  terms: [UInt64] = [],
  term: UInt64 = 1,
  commit: UInt64 = 0,
  configuration: RaftConfiguration = testConfiguration(preVote: false),
  seed: UInt64 = 1
) throws -> RaftCore {
  try electLeader(
    id, voters: voters, learners: learners, terms: terms, term: term, commit: commit,
    configuration: configuration, seed: seed
  ).leader
}

/// Like `makeLeader`, and also returns the messages its first `Ready` values sent (the vote
/// requests and the first appends), so that a test can deliver them.
func electLeader(
  _ id: NodeID = "a",
  voters: Set<NodeID> = ["a", "b", "c"],
  learners: Set<NodeID> = [],
  terms: [UInt64] = [],
  term: UInt64 = 1,
  commit: UInt64 = 0,
  configuration: RaftConfiguration = testConfiguration(preVote: false),
  seed: UInt64 = 1
) throws -> (leader: RaftCore, sent: [RaftMessage]) {
  var configuration = configuration
  configuration.preVote = false
  var core = try makeCore(
    id, voters: voters, learners: learners, terms: terms, term: term - 1, commit: commit,
    configuration: configuration, seed: seed)
  core.campaign()
  #expect(core.term == term)
  for voter in voters.sorted() where voter != id && core.role == .candidate {
    core.step(voteResponse(voter, id, term: term, granted: true))
  }
  #expect(core.role == .leader)
  let sent = core.drainMessages()
  return (core, sent)
}

/// A leader whose followers all acknowledged its whole log, so that they are in replicate state
/// and everything is committed.
func makeReplicatingLeader(
  _ id: NodeID = "a",
  voters: Set<NodeID> = ["a", "b", "c"],
  terms: [UInt64] = [],
  term: UInt64 = 1,
  configuration: RaftConfiguration = testConfiguration(preVote: false)
) throws -> RaftCore {
  var leader = try makeLeader(id, voters: voters, terms: terms, term: term, configuration: configuration)
  for voter in voters.sorted() where voter != id {
    leader.step(appendAccepted(voter, id, term: term, index: leader.lastIndex))
  }
  leader.drain()
  return leader
}

/// A cluster of empty nodes where the first of `voters` was elected leader of term 1 and every
/// node holds and applied the leader's no-op.
func makeStableCluster(
  _ voters: [NodeID] = ["a", "b", "c"],
  configuration: RaftConfiguration = testConfiguration(preVote: false)
) throws -> MiniCluster {
  let (leader, sent) = try electLeader(
    voters[0], voters: Set(voters), term: 1, configuration: configuration)
  var cores = [leader]
  for id in voters.dropFirst() {
    cores.append(try makeCore(id, voters: Set(voters), configuration: configuration))
  }
  var cluster = MiniCluster(cores)
  cluster.deliver(sent.filter { $0.kindName == "append" })
  cluster.stabilize()
  if configuration.commitNotificationDelay > .zero {
    // Let the leader tell the followers about the no-op's commit.
    cluster.tick(now: cluster.nodes[voters[0]]!.now + configuration.commitNotificationDelay.wholeMilliseconds)
    cluster.stabilize()
  }
  for id in voters {
    #expect(cluster.nodes[id]!.commitIndex == 1)
  }
  return cluster
}

/// A few cores that exchange messages directly: every message sent is delivered (unless
/// `isDropped` says otherwise) until nobody has anything left to do.
struct MiniCluster {
  var nodes: [NodeID: RaftCore]
  /// Entries each node handed to its state machine, in order.
  var applied: [NodeID: [LogEntry]] = [:]
  /// Every message delivered, in order.
  var delivered: [RaftMessage] = []
  /// Messages matching this are lost.
  var isDropped: (RaftMessage) -> Bool = { _ in false }

  init(_ cores: [RaftCore]) {
    nodes = Dictionary(uniqueKeysWithValues: cores.map { ($0.id, $0) })
  }

  /// Runs every node's `Ready` and delivers the messages, until the cluster is quiet.
  mutating func stabilize(maxRounds: Int = 10_000) {
    for _ in 0..<maxRounds {
      var messages: [RaftMessage] = []
      for id in nodes.keys.sorted() {
        while let ready = nodes[id]!.processReady() {
          messages.append(contentsOf: ready.messages)
          applied[id, default: []].append(contentsOf: ready.committedEntries)
        }
      }
      if messages.isEmpty { return }
      deliver(messages)
    }
    Issue.record("the cluster did not become quiet")
  }

  /// Delivers `messages` (unless lost) without running anyone's `Ready`.
  mutating func deliver(_ messages: [RaftMessage]) {
    for message in messages where !isDropped(message) {
      guard nodes[message.to] != nil else { continue }
      delivered.append(message)
      nodes[message.to]!.step(message)
    }
  }

  /// Advances every node's clock to `now`.
  mutating func tick(now: UInt64) {
    for id in nodes.keys.sorted() {
      nodes[id]!.tick(now: now)
    }
  }
}
