/// Checks the safety properties of Raft over a whole simulated cluster, step by step.
///
/// ``ClusterSimulator`` feeds it every node's state after each step, every message a node sends,
/// every durable write, every applied entry and every acknowledged proposal. The checks are
/// incremental (they look at what changed), with a full pass every few hundred steps. A violation
/// throws a ``SimulationFailure`` that names the seed. The properties:
///
/// - **Election safety**: at most one leader per term. A leader counts once its leadership could be
///   seen: it sent a message in its term or stored its term durably. A node that is the only voter
///   becomes leader without a message; if it crashes before its new term is durable, it may lead
///   that term again after a restart, and nobody could tell the two apart.
/// - **Log matching**: two logs holding an entry with the same index and term hold the same entry
///   and the same term just before it, hence identical prefixes. Every entry that ever left a node
///   (stored durably or sent in an append) is remembered and every log is compared with them. An
///   entry that only lived in the memory of a node that then crashed never existed for the others:
///   a single-node leader whose new term was not yet durable may create another entry with the
///   same index and term after a restart, and that is not a violation.
/// - **Quorum commits**: an entry a leader commits is held durably by a majority of its voters,
///   and while the configuration is joint by a majority of the outgoing voters as well.
/// - **Leader completeness**: an entry that any node knew committed while in term T is in the log
///   of every leader of term T or later.
/// - **State machine safety**: no two nodes apply different entries at one index, and nothing is
///   applied that is not known committed.
/// - **Gapless, in-order apply**: each node applies index after index, without gaps or repeats.
/// - **Durable term and vote**: a node's term never goes backwards, within a run or across a
///   restart: a restarted node is never in a term below one it sent a message in, and never
///   forgets a vote it cast (or asked for itself) in its current term. Its durable term and vote
///   never go backwards either.
/// - **Acknowledged proposals**: every acknowledged proposal is in the log of every leader of the
///   acknowledging node's term or later.
/// - **Snapshots**: a snapshot holds exactly the committed entries up to its index, and a node that
///   restores one goes on applying right after it.
/// - **Linearizable reads**: a read index (or lease read index) is never below an index some node
///   knew committed when the read was asked.
public struct InvariantChecker {
  /// The seed of the run, named in every failure.
  public let seed: UInt64
  /// The simulated time, named in every failure; the driver keeps it current.
  public var time: UInt64 = 0
  /// The number of observations made so far.
  public private(set) var observationCount = 0

  private struct EntryKey: Hashable {
    var index: UInt64
    var term: UInt64
  }

  private struct KnownEntry {
    var entry: LogEntry
    var previousTerm: UInt64
    var holder: NodeID
  }

  private struct Committed {
    var term: UInt64
    /// The lowest term in which a node knew the index committed.
    var knownAt: UInt64
  }

  private struct Acknowledgement {
    var index: UInt64
    var term: UInt64
    var knownAt: UInt64
  }

  private struct NodeRecord {
    var isUp = false
    /// The term and vote in memory, in the current run of the node.
    var term: UInt64 = 0
    var vote: NodeID?
    /// The highest term the node sent a message in (pre-votes aside), across restarts.
    var exposedTerm: UInt64 = 0
    /// The latest vote the node made known (granted, or asked for itself), across restarts.
    var exposedVote: (term: UInt64, candidate: NodeID)?
    var durableTerm: UInt64 = 0
    var durableVote: NodeID?
    /// The terms of the log as last checked, from `mirrorBase + 1` on.
    var mirror: [UInt64] = []
    var mirrorBase: UInt64 = 0
    /// The commit index as last checked, in the current run.
    var commitSeen: UInt64 = 0
    /// The next index the node must apply.
    var nextApply: UInt64 = 1
    /// The term the node leads, when it is a leader.
    var leaderTerm: UInt64?
    /// How far its log was checked against the committed entries and the acknowledgements.
    var leaderCommittedChecked: UInt64 = 0
    var leaderAcknowledgementsChecked = 0
    /// A running hash of the node's state machine: every entry applied or restored, in order.
    var stateHash: UInt64 = 0
  }

  private let nodeIndex: [NodeID: Int]
  private var records: [NodeRecord]
  private var knownEntries: [EntryKey: KnownEntry] = [:]
  private var leaderOfTerm: [UInt64: NodeID] = [:]
  private var committed: [UInt64: Committed] = [:]
  /// The highest index any node has known committed so far.
  public private(set) var highestCommitted: UInt64 = 0
  private var appliedEntries: [UInt64: LogEntry] = [:]
  /// The running state hash after each applied index, as the first node to reach it had it.
  private var stateHashAt: [UInt64: UInt64] = [:]
  private var acknowledgements: [Acknowledgement] = []
  private var durableLogs = DurableLogs()

  /// Creates a checker for a cluster of `nodes`.
  public init(seed: UInt64, nodes: [NodeID]) {
    self.seed = seed
    var map: [NodeID: Int] = [:]
    for (position, node) in nodes.enumerated() { map[node] = position }
    self.nodeIndex = map
    self.records = Array(repeating: NodeRecord(), count: nodes.count)
  }

  /// The number of distinct indexes known committed so far.
  public var committedCount: Int { committed.count }

  private func failure(_ message: String) -> SimulationFailure {
    SimulationFailure(seed: seed, time: time, message: message)
  }

  private func position(of node: NodeID) throws(SimulationFailure) -> Int {
    guard let position = nodeIndex[node] else {
      throw failure("\(node) is not a node of this cluster")
    }
    return position
  }

  // MARK: Lifecycle

  /// Records that a node started, or restarted from its durable state, and checks it.
  public mutating func nodeStarted(_ core: RaftCore) throws(SimulationFailure) {
    let at = try position(of: core.id)
    records[at].isUp = true
    records[at].term = core.term
    records[at].vote = core.votedFor
    records[at].mirror = []
    records[at].mirrorBase = core.snapshotIndex
    records[at].commitSeen = core.snapshotIndex
    records[at].nextApply = core.appliedIndex + 1
    records[at].leaderTerm = nil
    records[at].stateHash = 0
    if core.term < records[at].durableTerm {
      throw failure(
        "\(core.id) restarted in term \(core.term), below its durable term \(records[at].durableTerm)")
    }
    // A starting node's log was read from its storage: it is durable.
    try observe(core, logIsDurable: true)
  }

  /// Records that a node crashed: its volatile state is gone.
  public mutating func nodeCrashed(_ node: NodeID) throws(SimulationFailure) {
    let at = try position(of: node)
    records[at].isUp = false
    records[at].leaderTerm = nil
  }

  // MARK: Observations

  /// Records a message a node hands to the network: its term and any vote become promises the node
  /// must keep across restarts.
  public mutating func sent(_ message: RaftMessage) throws(SimulationFailure) {
    let at = try position(of: message.from)
    switch message.body {
    case .voteRequest(let request):
      if request.preVote { return }
      records[at].exposedVote = (message.term, message.from)
    case .voteResponse(let response):
      if response.preVote { return }
      if response.granted { records[at].exposedVote = (message.term, message.to) }
    case .appendEntries(let append):
      var previousTerm = append.prevLogTerm
      for entry in append.entries {
        try checkEntry(
          entry, expectedIndex: entry.index, previousTerm: previousTerm, on: message.from, remember: true)
        previousTerm = entry.term
      }
    default:
      break
    }
    if message.term > records[at].exposedTerm { records[at].exposedTerm = message.term }
  }

  /// Records entries a node wrote durably, after an entry of term `previousTerm`: from now on every
  /// log must agree with them.
  public mutating func stored(_ entries: [LogEntry], after previousTerm: UInt64, on node: NodeID)
    throws(SimulationFailure)
  {
    var previous = previousTerm
    for entry in entries {
      try checkEntry(entry, expectedIndex: entry.index, previousTerm: previous, on: node, remember: true)
      previous = entry.term
    }
    durableLogs.stored(entries, on: node)
  }

  /// Records a durable write of `hardState` on `node`: the durable term never goes back, and a
  /// durable vote never changes within a term.
  public mutating func stored(_ hardState: HardState, on node: NodeID) throws(SimulationFailure) {
    let at = try position(of: node)
    let previousTerm = records[at].durableTerm
    if hardState.term < previousTerm {
      throw failure("\(node) stored term \(hardState.term) after term \(previousTerm)")
    }
    if hardState.term == previousTerm, let vote = records[at].durableVote,
      hardState.votedFor != vote
    {
      throw failure(
        "\(node) stored vote \(hardState.votedFor?.rawValue ?? "none") in term \(previousTerm) "
          + "after a vote for \(vote)")
    }
    records[at].durableTerm = hardState.term
    records[at].durableVote = hardState.votedFor
  }

  /// Records that `node` applied `entry` to its state machine.
  public mutating func applied(_ entry: LogEntry, on node: NodeID) throws(SimulationFailure) {
    let at = try position(of: node)
    let expected = records[at].nextApply
    if entry.index != expected {
      throw failure("\(node) applied index \(entry.index) when index \(expected) was next")
    }
    records[at].nextApply = expected + 1
    records[at].stateHash = Self.stateHash(records[at].stateHash, adding: entry)
    try checkStateHash(records[at].stateHash, at: entry.index, of: "\(node)'s state machine")
    guard let known = committed[entry.index] else {
      throw failure("\(node) applied index \(entry.index), which no node knows committed")
    }
    if known.term != entry.term {
      throw failure(
        "\(node) applied index \(entry.index) of term \(entry.term), but the entry committed there "
          + "has term \(known.term)")
    }
    if let other = appliedEntries[entry.index] {
      if other != entry {
        throw failure(
          "state machine safety: \(node) applied \(describe(entry)) at index \(entry.index), "
            + "another node applied \(describe(other))")
      }
    } else {
      appliedEntries[entry.index] = entry
    }
  }

  /// Checks the contents of a snapshot (the entries applied up to its index) that `node` took or
  /// restored, and when it restores it, records that it applies from the next index on.
  public mutating func snapshot(
    _ metadata: SnapshotMetadata, contents: [LogEntry], restoredOn node: NodeID?
  ) throws(SimulationFailure) {
    let who = node.map { "\($0)" } ?? "a snapshot"
    guard UInt64(contents.count) == metadata.index else {
      throw failure("\(who): a snapshot at index \(metadata.index) holds \(contents.count) entries")
    }
    if let last = contents.last, last.term != metadata.term {
      throw failure(
        "\(who): a snapshot at index \(metadata.index) claims term \(metadata.term), its last entry has "
          + "term \(last.term)")
    }
    for (position, entry) in contents.enumerated() {
      if entry.index != UInt64(position) + 1 {
        throw failure("\(who): a snapshot holds index \(entry.index) at position \(position)")
      }
      if let known = committed[entry.index], known.term != entry.term {
        throw failure(
          "\(who): a snapshot holds term \(entry.term) at index \(entry.index), where term \(known.term) "
            + "was committed")
      }
      if let other = appliedEntries[entry.index], other != entry {
        throw failure(
          "state machine safety: \(who) holds \(describe(entry)) in a snapshot, another node applied "
            + "\(describe(other))")
      }
    }
    let hash = contents.reduce(0) { Self.stateHash($0, adding: $1) }
    try checkStateHash(hash, at: metadata.index, of: "\(who)'s snapshot at index \(metadata.index)")
    if let node {
      durableLogs.snapshotHeld(through: metadata.index, on: node)
      let at = try position(of: node)
      records[at].nextApply = metadata.index + 1
      records[at].stateHash = hash
    }
  }

  /// The running hash of a state machine after it also applied `entry`: it depends on every
  /// entry and on their order, as the state of a state machine whose commands do not commute.
  static func stateHash(_ previous: UInt64, adding entry: LogEntry) -> UInt64 {
    var hash = TraceHash()
    hash.combine(previous)
    hash.combine(entry.index)
    hash.combine(entry.term)
    switch entry.payload {
    case .noop: hash.combine(UInt64(0))
    case .command(let data):
      hash.combine(UInt64(1))
      for byte in data { hash.combine(UInt64(byte)) }
    case .membership(let membership):
      hash.combine(UInt64(2))
      for voter in membership.voters.sorted() { hash.combine(voter.rawValue) }
    }
    return hash.value
  }

  /// Checks a state hash at `index` against the hash every other node had there: two state
  /// machines at the same applied index must hold the same state, however they got there
  /// (applying, a snapshot captured or installed, a restart).
  private mutating func checkStateHash(_ hash: UInt64, at index: UInt64, of what: String)
    throws(SimulationFailure)
  {
    if let known = stateHashAt[index] {
      if known != hash {
        throw failure(
          "state machine safety: \(what) at applied index \(index) differs from the state another node "
            + "had at that index")
      }
    } else {
      stateHashAt[index] = hash
    }
  }

  /// Checks that the configuration in force on `core` is the last configuration entry of its log,
  /// or `snapshotMembership` (the membership of the snapshot its log starts after) when the log
  /// holds none.
  public func checkConfiguration(_ core: RaftCore, snapshotMembership: Membership) throws(SimulationFailure) {
    var index = core.lastIndex
    var expected = snapshotMembership
    while index > core.snapshotIndex, let entry = core.entry(at: index) {
      if case .membership(let membership) = entry.payload {
        expected = membership
        break
      }
      index -= 1
    }
    if core.membership != expected {
      throw failure(
        "\(core.id)'s configuration in force has voters \(core.membership.voters.sorted()), but its log "
          + "and snapshot put voters \(expected.voters.sorted()) in force")
    }
  }

  /// Checks a read index against the highest index known committed when the read was asked: a
  /// lower one could serve a state that misses a write already acknowledged (a stale read).
  public func readResolved(
    on node: NodeID, index: UInt64, committedWhenAsked: UInt64, lease: Bool
  ) throws(SimulationFailure) {
    if index < committedWhenAsked {
      throw failure(
        "linearizability: \(node) got \(lease ? "lease " : "")read index \(index) for a read asked when "
          + "index \(committedWhenAsked) was already committed (a stale read)")
    }
  }

  /// Records that the proposal at (`index`, `term`) was acknowledged to its client by a node in
  /// term `nodeTerm`: every leader of that term or later must hold it.
  public mutating func acknowledged(index: UInt64, term: UInt64, nodeTerm: UInt64) {
    acknowledgements.append(Acknowledgement(index: index, term: term, knownAt: nodeTerm))
  }

  /// Checks a node's state after a step that may have changed it.
  public mutating func observe(_ core: RaftCore) throws(SimulationFailure) {
    try observe(core, logIsDurable: false)
  }

  private mutating func observe(_ core: RaftCore, logIsDurable: Bool) throws(SimulationFailure) {
    observationCount += 1
    let at = try position(of: core.id)
    let id = core.id

    // Term and vote, in memory and against what the node made known.
    if core.term < records[at].term {
      throw failure("\(id)'s term went back from \(records[at].term) to \(core.term)")
    }
    if core.term == records[at].term, let vote = records[at].vote, core.votedFor != vote {
      throw failure(
        "\(id) changed its vote in term \(core.term) from \(vote) to "
          + "\(core.votedFor?.rawValue ?? "none")")
    }
    records[at].term = core.term
    records[at].vote = core.votedFor
    if core.term < records[at].exposedTerm {
      throw failure(
        "\(id) is in term \(core.term) but sent messages in term \(records[at].exposedTerm): "
          + "its term went backwards")
    }
    if let exposed = records[at].exposedVote, exposed.term == core.term,
      core.votedFor != exposed.candidate
    {
      throw failure(
        "\(id) voted for \(exposed.candidate) in term \(exposed.term) and now holds vote "
          + "\(core.votedFor?.rawValue ?? "none") in that term: it forgot its vote")
    }

    // Election safety, for leaders whose leadership could be seen.
    if core.role == .leader {
      let visible = records[at].exposedTerm >= core.term || records[at].durableTerm >= core.term
      if visible, let other = leaderOfTerm[core.term], other != id {
        throw failure("election safety: two leaders in term \(core.term), \(other) and \(id)")
      }
      if visible { leaderOfTerm[core.term] = id }
      if records[at].leaderTerm != core.term {
        records[at].leaderTerm = core.term
        records[at].leaderCommittedChecked = core.snapshotIndex
        records[at].leaderAcknowledgementsChecked = 0
      }
    } else {
      records[at].leaderTerm = nil
    }

    guard core.appliedIndex <= core.commitIndex, core.commitIndex <= core.lastIndex else {
      throw failure(
        "\(id) has applied \(core.appliedIndex), committed \(core.commitIndex), "
          + "last index \(core.lastIndex): out of order")
    }
    try checkLogChanges(core, at: at, remember: logIsDurable)
    try recordCommits(core, at: at)
  }

  /// Checks the entries of a log that changed since the last observation against every entry
  /// seen with the same index and term (log matching).
  private mutating func checkLogChanges(_ core: RaftCore, at: Int, remember: Bool) throws(SimulationFailure) {
    let base = core.snapshotIndex
    if base != records[at].mirrorBase {
      records[at].mirror = []
      records[at].mirrorBase = base
    }
    // Entries are read one by one, from the first that may have changed: copying the whole log
    // at every step would make long runs slow down as logs grow.
    let count = Int(core.lastIndex - base)
    let mirrorCount = records[at].mirror.count
    // Committed entries never change: the full pass checks that.
    let settled = records[at].commitSeen > base ? Int(records[at].commitSeen - base) : 0
    var first = min(settled, mirrorCount, count)
    while first < mirrorCount, first < count,
      records[at].mirror[first] == core.term(at: base + UInt64(first) + 1)
    {
      first += 1
    }
    if first == count, first == mirrorCount { return }
    records[at].mirror.removeSubrange(first...)
    var previousTerm = core.term(at: base + UInt64(first)) ?? 0
    for position in first..<count {
      guard let entry = core.entry(at: base + UInt64(position) + 1) else {
        throw failure("\(core.id) has no entry at index \(base + UInt64(position) + 1) below its last index")
      }
      try checkEntry(
        entry, expectedIndex: base + UInt64(position) + 1, previousTerm: previousTerm, on: core.id,
        remember: remember)
      records[at].mirror.append(entry.term)
      previousTerm = entry.term
    }
  }

  /// Checks one entry of a log against the entries that left a node; `remember` records it as one
  /// that left (it was stored durably or sent).
  private mutating func checkEntry(
    _ entry: LogEntry, expectedIndex: UInt64, previousTerm: UInt64, on node: NodeID, remember: Bool
  ) throws(SimulationFailure) {
    if entry.index != expectedIndex {
      throw failure("\(node) holds index \(entry.index) at the place of index \(expectedIndex)")
    }
    if entry.term < previousTerm {
      throw failure(
        "\(node)'s log goes down from term \(previousTerm) to term \(entry.term) at index \(entry.index)")
    }
    let key = EntryKey(index: entry.index, term: entry.term)
    if let known = knownEntries[key] {
      if known.entry != entry || known.previousTerm != previousTerm {
        throw failure(
          "log matching: \(node) holds \(describe(entry)) after term \(previousTerm), "
            + "\(known.holder) held \(describe(known.entry)) after term \(known.previousTerm)")
      }
    } else if remember {
      knownEntries[key] = KnownEntry(entry: entry, previousTerm: previousTerm, holder: node)
    }
  }

  private mutating func recordCommits(_ core: RaftCore, at: Int) throws(SimulationFailure) {
    let seen = records[at].commitSeen
    let commit = core.commitIndex
    if commit < seen {
      throw failure("\(core.id)'s commit index went back from \(seen) to \(commit)")
    }
    guard commit > seen else { return }
    if core.role == .leader, let term = core.term(at: commit), term == core.term {
      try checkQuorumHolds(index: commit, term: term, leader: core.id, membership: core.membership)
    }
    for index in (seen + 1)...commit {
      guard let term = core.term(at: index) else { continue }
      if let known = committed[index] {
        if known.term != term {
          throw failure(
            "\(core.id) committed index \(index) with term \(term); another node committed term "
              + "\(known.term) there")
        }
        if core.term < known.knownAt {
          committed[index]?.knownAt = core.term
        }
      } else {
        committed[index] = Committed(term: term, knownAt: core.term)
        if index > highestCommitted { highestCommitted = index }
      }
    }
    records[at].commitSeen = commit
  }

  /// Checks that the entry a leader just committed is held durably by a majority of its voters,
  /// and while the configuration is joint, by a majority of the outgoing voters too (§4.3).
  private func checkQuorumHolds(index: UInt64, term: UInt64, leader: NodeID, membership: Membership)
    throws(SimulationFailure)
  {
    let holders = Set(
      membership.allVoters.filter { durableLogs.holds(index: index, term: term, on: $0) })
    guard !membership.isQuorum(holders) else { return }
    let kind = membership.isJoint ? "joint configuration" : "configuration"
    throw failure(
      "\(leader) committed index \(index) of term \(term) held durably only by \(holders.sorted()); "
        + "its \(kind) has voters \(membership.voters.sorted())"
        + (membership.isJoint ? " and outgoing voters \(membership.outgoingVoters.sorted())" : ""))
  }

  /// Checks that a leader holds every entry committed in its term or before, and every proposal
  /// acknowledged in its term or before (leader completeness).
  public mutating func checkLeaderCompleteness(_ core: RaftCore) throws(SimulationFailure) {
    let at = try position(of: core.id)
    guard core.role == .leader, records[at].leaderTerm == core.term else { return }
    let leaderTerm = core.term
    var checked = records[at].leaderCommittedChecked
    while checked < highestCommitted, let next = committed[checked + 1], next.knownAt <= leaderTerm {
      let index = checked + 1
      if index > core.snapshotIndex, core.term(at: index) != next.term {
        throw failure(
          "leader completeness: \(core.id), leader of term \(leaderTerm), holds "
            + "\(core.term(at: index).map { "term \($0)" } ?? "nothing") at index \(index), where "
            + "an entry of term \(next.term) was committed by term \(next.knownAt)")
      }
      checked = index
    }
    records[at].leaderCommittedChecked = checked
    var acknowledgementPosition = records[at].leaderAcknowledgementsChecked
    while acknowledgementPosition < acknowledgements.count {
      let acknowledgement = acknowledgements[acknowledgementPosition]
      if acknowledgement.knownAt <= leaderTerm, acknowledgement.index > core.snapshotIndex,
        core.term(at: acknowledgement.index) != acknowledgement.term
      {
        throw failure(
          "the proposal acknowledged at index \(acknowledgement.index) (term \(acknowledgement.term)) "
            + "is missing from the log of \(core.id), leader of term \(leaderTerm)")
      }
      acknowledgementPosition += 1
    }
    records[at].leaderAcknowledgementsChecked = acknowledgementPosition
  }

  /// Checks a node's whole log from scratch: every entry against the entries seen with the same
  /// index and term, and the committed prefix against the committed entries.
  public mutating func checkFully(_ core: RaftCore) throws(SimulationFailure) {
    let at = try position(of: core.id)
    let base = core.snapshotIndex
    let entries = core.entries
    var previousTerm = core.term(at: base) ?? 0
    for (position, entry) in entries.enumerated() {
      try checkEntry(
        entry, expectedIndex: base + UInt64(position) + 1, previousTerm: previousTerm, on: core.id,
        remember: false)
      if entry.index <= core.commitIndex, let known = committed[entry.index], known.term != entry.term {
        throw failure(
          "\(core.id) holds term \(entry.term) at committed index \(entry.index), where term "
            + "\(known.term) was committed")
      }
      previousTerm = entry.term
    }
    if records[at].mirrorBase == base, records[at].mirror != entries.map(\.term) {
      throw failure("\(core.id)'s log changed below its commit index without notice")
    }
  }

  private func describe(_ entry: LogEntry) -> String {
    let what: String
    switch entry.payload {
    case .noop: what = "no-op"
    case .command(let data): what = "command of \(data.count) bytes \(Array(data.prefix(16)))"
    case .membership(let membership): what = "membership \(membership.voters.sorted())"
    }
    return "(\(entry.index), term \(entry.term), \(what))"
  }
}
