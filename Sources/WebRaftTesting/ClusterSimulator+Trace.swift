#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension ClusterSimulator {
  // MARK: - Failures and the trace

  /// A failure at the current time, naming the seed.
  public func failure(_ message: String) -> SimulationFailure {
    withRecentTrace(SimulationFailure(seed: seed, time: now, message: message))
  }

  /// Throws a failure naming the seed unless `condition` holds.
  public func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(SimulationFailure) {
    if !condition { throw failure(message()) }
  }

  func withRecentTrace(_ error: SimulationFailure) -> SimulationFailure {
    var result = error
    if result.recentTrace.isEmpty, !recentLines.isEmpty {
      result.recentTrace = Array(recentLines[recentStart...] + recentLines[..<recentStart])
    }
    return result
  }

  func note(_ kind: TraceKind, _ position: Int, _ text: @autoclosure () -> String) {
    trace.combine(kind.rawValue)
    trace.combine(UInt64(position))
    trace.combine(now)
    if recentTraceCapacity > 0 { keep(text()) }
  }

  func noteMessage(_ kind: TraceKind, _ message: RaftMessage) {
    trace.combine(kind.rawValue)
    trace.combine(now)
    trace.combine(UInt64(positions[message.from] ?? 99))
    trace.combine(UInt64(positions[message.to] ?? 99))
    trace.combine(message.term)
    switch message.body {
    case .voteRequest(let request):
      trace.combine(request.preVote ? 10 : 11)
      trace.combine(request.lastLogIndex)
      trace.combine(request.lastLogTerm)
    case .voteResponse(let response):
      trace.combine(response.preVote ? 12 : 13)
      trace.combine(response.granted)
    case .appendEntries(let append):
      trace.combine(14)
      trace.combine(append.prevLogIndex)
      trace.combine(append.prevLogTerm)
      trace.combine(UInt64(append.entries.count))
      trace.combine(append.leaderCommit)
    case .appendEntriesResponse(let response):
      trace.combine(response.success ? 15 : 16)
      trace.combine(response.index)
      trace.combine(response.conflictIndex)
    case .heartbeat(let heartbeat):
      trace.combine(17)
      trace.combine(heartbeat.commit)
    case .heartbeatResponse(let response):
      trace.combine(18)
      trace.combine(response.readRound)
    case .proposal(let proposal):
      trace.combine(19)
      trace.combine(proposal.requestID)
    case .proposalRejected(let rejection):
      trace.combine(20)
      trace.combine(rejection.requestID)
    default:
      trace.combine(message.kindName)
    }
    if recentTraceCapacity > 0 {
      keep((kind == .deliver ? "deliver " : "send ") + describe(message))
    }
  }

  private func keep(_ line: String) {
    let text = "\(now) ms  \(line)"
    if recentLines.count < recentTraceCapacity {
      recentLines.append(text)
    } else {
      recentLines[recentStart] = text
      recentStart = (recentStart + 1) % recentLines.count
    }
  }

  func describe(_ message: RaftMessage) -> String {
    let head = "\(message.from)→\(message.to) t\(message.term) "
    switch message.body {
    case .voteRequest(let request):
      return head
        + "\(request.preVote ? "preVote" : "vote")(last \(request.lastLogIndex)/\(request.lastLogTerm))"
    case .voteResponse(let response):
      return head + "\(response.preVote ? "preVote" : "vote")Response(\(response.granted))"
    case .appendEntries(let append):
      let range =
        append.entries.isEmpty ? "none" : "\(append.entries.first!.index)...\(append.entries.last!.index)"
      return head
        + "append(prev \(append.prevLogIndex)/\(append.prevLogTerm), entries \(range), commit \(append.leaderCommit))"
    case .appendEntriesResponse(let response):
      return head
        + "appendResponse(\(response.success), \(response.index), conflict \(response.conflictTerm.map { "\($0)" } ?? "-")/\(response.conflictIndex))"
    case .heartbeat(let heartbeat):
      return head + "heartbeat(commit \(heartbeat.commit), read round \(heartbeat.readRound))"
    case .proposal(let proposal):
      return head + "proposal(\(proposal.requestID))"
    case .proposalRejected(let rejection):
      return head + "proposalRejected(\(rejection.requestID), \(rejection.error))"
    default:
      return head + "\(message.body)"
    }
  }
}

/// What a line of the simulator's trace records; its raw value goes into the trace hash.
enum TraceKind: UInt64 {
  case tick = 1
  case lost = 2
  case deliver = 3
  case write = 4
  case stored = 5
  case send = 6
  case apply = 7
  case crash = 8
  case restart = 9
  case disconnect = 10
  case connect = 11
  case proposeWhileDown = 12
  case propose = 13
  case proposeRefused = 14
  case snapshotTaken = 15
  case snapshotChunk = 16
  case snapshotInstalled = 17
  case read = 18
  case readRefused = 19
  case transfer = 20
  case snapshotCaptured = 21
  case snapshotWritten = 22
  case applyStarted = 23
  case leaseRead = 24
  case timerStalled = 25
  case snapshotRequested = 26
}

extension ClusterSimulator {
  /// Writes `node`'s step to the specification trace, when one is recorded.
  func traceSpec(_ node: SimulatedNode, _ cause: String, message: RaftMessage? = nil, extra: String = "") {
    guard let specTrace, let core = node.core else { return }
    specTrace.record(core, cause: cause, time: now, message: message, extra: extra)
  }
}

extension ClusterSimulator {
  /// Starts writing the specification trace of this run (see ``SpecTrace``): a header, then each
  /// running node's state as it is now.
  @discardableResult
  public func startSpecTrace() -> SpecTrace {
    let voters =
      nodes.compactMap(\.core).first(where: { !$0.membership.voters.isEmpty })?.membership.voters ?? []
    let recorder = SpecTrace(seed: seed, nodes: nodeIDs, voters: Array(voters), configuration: configuration)
    specTrace = recorder
    for node in nodes { traceSpec(node, "init") }
    return recorder
  }
}
