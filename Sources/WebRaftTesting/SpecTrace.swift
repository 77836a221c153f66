#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A trace of one simulated run in the vocabulary of the TLA+ specification (`spec/WebRaft.tla`):
/// one JSON object per line, naming the step (a message delivered or sent, a tick, a write made
/// durable, a client request, a crash) and the spec-visible state of the node it changed.
///
/// `scripts/check-trace.py` replays the lines against the specification's actions and reports the
/// first step the specification does not allow; `spec/TRACES.md` documents the format. Recording
/// is off unless a test sets ``ClusterSimulator/specTrace``, so the fuzzer's speed and its runs do
/// not change.
public final class SpecTrace {
  /// The lines recorded so far, each one JSON object.
  public private(set) var lines: [String] = []
  /// Per node: the last state written and the terms of the log entries written (index 1 first).
  private var lastState: [NodeID: String] = [:]
  private var writtenTerms: [NodeID: [UInt64]] = [:]

  /// A trace that starts with a header describing the run.
  public init(seed: UInt64, nodes: [NodeID], voters: [NodeID], configuration: RaftConfiguration) {
    lines.append(
      "{\"header\":true,\"seed\":\(seed),\"nodes\":\(Self.list(nodes)),\"voters\":\(Self.list(voters)),"
        + "\"preVote\":\(configuration.preVote),\"checkQuorum\":\(configuration.checkQuorum),"
        + "\"heartbeatTimeout\":\(Self.milliseconds(configuration.heartbeatTimeout))}")
  }

  /// Writes the lines to `url`, one per line.
  public func write(to url: URL) throws {
    try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: url)
  }

  // MARK: - Recording

  /// Records a step of `core`'s node: always for the causes in `alwaysWritten`, otherwise only
  /// when the spec-visible state changed since the node's last line.
  func record(
    _ core: RaftCore, cause: String, time: UInt64, message: RaftMessage? = nil, extra: String = ""
  ) {
    let id = core.id
    let state = stateObject(core)
    var log = ""
    var terms = writtenTerms[id] ?? []
    let last = core.lastIndex
    let snapshot = core.snapshotIndex
    if terms.count < Int(snapshot) {
      terms = Array(repeating: 0, count: Int(snapshot))
    }
    // The first index whose entry differs from what was written (entries at or below the
    // snapshot are not compared: the node no longer holds them).
    var same = min(Int(last), terms.count)
    while same > Int(snapshot), core.term(at: UInt64(same)) != terms[same - 1] { same -= 1 }
    if same < Int(last) || terms.count > Int(last) {
      terms.removeSubrange(same...)
      var entries: [String] = []
      for index in UInt64(same + 1)...max(UInt64(same + 1), last) where index <= last {
        if let entry = core.entry(at: index) {
          entries.append(Self.entry(entry))
          terms.append(entry.term)
        }
      }
      log = ",\"log\":{\"from\":\(same + 1),\"entries\":[\(entries.joined(separator: ","))]}"
    }
    writtenTerms[id] = terms
    let always = message != nil || !extra.isEmpty || Self.alwaysWritten.contains(cause)
    if !always, log.isEmpty, lastState[id] == state { return }
    lastState[id] = state
    var line = "{\"i\":\(lines.count),\"t\":\(time),\"event\":\"\(cause)\",\"node\":\"\(id)\""
    if let message { line += ",\"msg\":" + Self.message(message) }
    line += extra + ",\"now\":\(core.now),\"state\":" + state + log + "}"
    lines.append(line)
  }

  /// Records a message handed to the network, with the number of copies it will deliver (0 when
  /// the network loses it).
  func recordSend(_ message: RaftMessage, copies: Int, time: UInt64) {
    lines.append(
      "{\"i\":\(lines.count),\"t\":\(time),\"event\":\"send\",\"node\":\"\(message.from)\","
        + "\"copies\":\(copies),\"msg\":\(Self.message(message))}")
  }

  /// Records a line without node state: a crash, a served read.
  func recordEvent(_ event: String, node: NodeID, time: UInt64, extra: String = "") {
    lines.append("{\"i\":\(lines.count),\"t\":\(time),\"event\":\"\(event)\",\"node\":\"\(node)\"\(extra)}")
    if event == "crash" {
      lastState[node] = nil
    }
  }

  private static let alwaysWritten: Set<String> = [
    "restart", "stored", "install", "compact", "propose", "change",
  ]

  // MARK: - Encoding

  private func stateObject(_ core: RaftCore) -> String {
    let snapshot = core.snapshotIndex
    return "{\"term\":\(core.term),\"vote\":\(Self.node(core.votedFor)),\"role\":\"\(core.role)\","
      + "\"leader\":\(Self.node(core.leader)),\"commit\":\(core.commitIndex),"
      + "\"last\":[\(core.lastIndex),\(core.lastTerm)],"
      + "\"snap\":[\(snapshot),\(core.term(at: snapshot) ?? 0)],\"cfg\":\(Self.membership(core.membership))"
      + Self.votes(core) + "}"
  }

  private static func votes(_ core: RaftCore) -> String {
    guard core.role == .preCandidate || core.role == .candidate else { return "" }
    let votes = core.campaignVotes
    return
      ",\"granted\":\(list(votes.filter(\.value).keys)),\"refused\":\(list(votes.filter { !$0.value }.keys))"
  }

  /// The `durable` field of a `stored` line: the stored hard state and last entry, and the
  /// entries the write just made durable.
  static func durable(_ state: PersistentState, written: [LogEntry]) -> String {
    let last = state.entries.last.map { ($0.index, $0.term) } ?? (state.snapshot.index, state.snapshot.term)
    var text =
      ",\"durable\":{\"term\":\(state.hardState.term),\"vote\":\(node(state.hardState.votedFor)),"
      + "\"commit\":\(state.hardState.commitIndex),\"last\":[\(last.0),\(last.1)]"
    if let first = written.first {
      text += ",\"written\":[\(first.index),[\(written.map { "\($0.term)" }.joined(separator: ","))]]"
    }
    return text + "}"
  }

  static func milliseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
  }

  static func node(_ id: NodeID?) -> String { id.map { "\"\($0)\"" } ?? "null" }

  static func list(_ ids: some Sequence<NodeID>) -> String {
    "[" + ids.map(\.rawValue).sorted().map { "\"\($0)\"" }.joined(separator: ",") + "]"
  }

  static func membership(_ membership: Membership) -> String {
    "{\"voters\":\(list(membership.voters)),\"outgoing\":\(list(membership.outgoingVoters)),"
      + "\"learners\":\(list(membership.learners)),\"promote\":\(list(membership.learnersToPromote))}"
  }

  static func entry(_ entry: LogEntry) -> String {
    switch entry.payload {
    case .command: return "[\(entry.term),\"cmd\"]"
    case .noop: return "[\(entry.term),\"noop\"]"
    case .membership(let membership): return "[\(entry.term),\"cfg\",\(Self.membership(membership))]"
    }
  }

  static func message(_ message: RaftMessage) -> String {
    let head = "{\"from\":\"\(message.from)\",\"to\":\"\(message.to)\",\"term\":\(message.term),"
    switch message.body {
    case .voteRequest(let request):
      return head
        + "\"type\":\"VoteReq\",\"preVote\":\(request.preVote),\"lastTerm\":\(request.lastLogTerm),"
        + "\"lastIndex\":\(request.lastLogIndex),\"transfer\":\(request.leadershipTransfer)}"
    case .voteResponse(let response):
      return head + "\"type\":\"VoteResp\",\"preVote\":\(response.preVote),\"granted\":\(response.granted)}"
    case .appendEntries(let append):
      return head
        + "\"type\":\"App\",\"prevIndex\":\(append.prevLogIndex),\"prevTerm\":\(append.prevLogTerm),"
        + "\"entries\":[\(append.entries.map(Self.entry).joined(separator: ","))],"
        + "\"commit\":\(append.leaderCommit)}"
    case .appendEntriesResponse(let response):
      return head
        + "\"type\":\"AppResp\",\"success\":\(response.success),\"index\":\(response.index),"
        + "\"conflictIndex\":\(response.conflictIndex)}"
    case .heartbeat(let heartbeat):
      return head + "\"type\":\"HB\",\"commit\":\(heartbeat.commit),\"round\":\(heartbeat.readRound)}"
    case .heartbeatResponse(let response):
      return head + "\"type\":\"HBResp\",\"round\":\(response.readRound)}"
    case .installSnapshot(let chunk):
      return head
        + "\"type\":\"Snap\",\"index\":\(chunk.metadata.index),\"snapTerm\":\(chunk.metadata.term),"
        + "\"cfg\":\(Self.membership(chunk.metadata.membership)),\"offset\":\(chunk.offset),"
        + "\"done\":\(chunk.done)}"
    case .installSnapshotResponse(let response):
      return head
        + "\"type\":\"SnapResp\",\"index\":\(response.snapshotIndex),\"nextOffset\":\(response.nextOffset),"
        + "\"done\":\(response.done)}"
    case .timeoutNow:
      return head + "\"type\":\"TimeoutNow\"}"
    default:
      return head + "\"type\":\"Other\",\"kind\":\"\(message.kindName)\"}"
    }
  }
}
