import Foundation

@testable import WebRaft

// How the interaction scripts show entries, messages, `Ready`s and nodes: one short line each,
// the same every run (members and entries in order), so that golden files only change when
// behaviour does.
extension InteractionHarness {
  func describe(_ entry: LogEntry) -> String {
    let head = "\(entry.index)/\(entry.term)"
    switch entry.payload {
    case .noop: return "\(head) noop"
    case .command(let data): return "\(head) \"\(String(decoding: data, as: UTF8.self))\""
    case .membership(let membership): return "\(head) conf \(describe(membership))"
    }
  }

  func describe(_ membership: Membership) -> String {
    func names(_ set: Set<NodeID>) -> String { set.sorted().map(\.rawValue).joined(separator: ",") }
    var text = "voters=\(names(membership.voters))"
    if membership.isJoint { text += " outgoing=\(names(membership.outgoingVoters))" }
    if !membership.learners.isEmpty { text += " learners=\(names(membership.learners))" }
    if !membership.learnersToPromote.isEmpty { text += " to-promote=\(names(membership.learnersToPromote))" }
    return text
  }

  private func describe(_ entries: [LogEntry]) -> String {
    "[" + entries.map(describe).joined(separator: ", ") + "]"
  }

  func describe(_ message: RaftMessage) -> String {
    let head = "\(message.from)->\(message.to) \(message.kindName) t=\(message.term)"
    switch message.body {
    case .voteRequest(let request):
      return head + " last=\(request.lastLogIndex)/\(request.lastLogTerm)"
        + (request.leadershipTransfer ? " transfer" : "")
    case .voteResponse(let response):
      return head + (response.granted ? " granted" : " rejected")
    case .appendEntries(let append):
      return head + " prev=\(append.prevLogIndex)/\(append.prevLogTerm) entries=\(describe(append.entries))"
        + " commit=\(append.leaderCommit)"
    case .appendEntriesResponse(let response):
      if response.success { return head + " ok index=\(response.index)" }
      return head + " rejected index=\(response.index) hint=\(response.conflictIndex)"
        + (response.conflictTerm.map { "/\($0)" } ?? "")
    case .heartbeat(let heartbeat):
      return head + " commit=\(heartbeat.commit) round=\(heartbeat.readRound)"
    case .heartbeatResponse(let response):
      return head + " round=\(response.readRound)"
    case .installSnapshot(let chunk):
      return head + " snapshot=\(chunk.metadata.index)/\(chunk.metadata.term) offset=\(chunk.offset)"
        + " len=\(chunk.data.count) size=\(chunk.totalSize)" + (chunk.done ? " done" : "")
    case .installSnapshotResponse(let response):
      return head + " snapshot=\(response.snapshotIndex) next=\(response.nextOffset)"
        + (response.done ? " done" : "")
    case .timeoutNow:
      return head
    case .readIndex(let request):
      return head + " id=\(request.requestID)"
    case .readIndexResponse(let response):
      return head + " id=\(response.requestID) " + (response.index.map { "index=\($0)" } ?? "error")
    case .proposal(let proposal):
      return head + " id=\(proposal.requestID)"
    case .proposalRejected(let rejection):
      return head + " id=\(rejection.requestID) \(rejection.error)"
    }
  }

  func describe(_ ready: Ready) -> [String] {
    var lines: [String] = []
    if let hardState = ready.hardState {
      lines.append(
        "store term=\(hardState.term) vote=\(hardState.votedFor?.rawValue ?? "-") commit=\(hardState.commitIndex)"
      )
    }
    if !ready.entries.isEmpty { lines.append("store entries \(describe(ready.entries))") }
    for message in ready.messages { lines.append("send " + describe(message)) }
    if !ready.committedEntries.isEmpty { lines.append("apply \(describe(ready.committedEntries))") }
    for state in ready.readStates {
      switch state.result {
      case .success(let index): lines.append("read \(state.requestID) at index \(index)")
      case .failure(let error): lines.append("read \(state.requestID) failed: \(error)")
      }
    }
    for rejection in ready.rejectedProposals {
      lines.append("proposal \(rejection.requestID) refused: \(rejection.error)")
    }
    for event in ready.events {
      switch event {
      case .stateChanged(let from, let to): lines.append("became \(to) (was \(from))")
      case .membershipChanged(let membership): lines.append("membership \(describe(membership))")
      default: break
      }
    }
    return lines
  }

  func describeStatus(_ id: NodeID) -> String {
    guard let core = core(of: id) else { return "\(id) down" }
    // The snapshot the log starts after is shown once there is one.
    let snapshot = core.snapshotIndex > 0 ? " snapshot=\(core.snapshotIndex)" : ""
    return "\(id) \(core.role) term=\(core.term) leader=\(core.leader?.rawValue ?? "-") "
      + "commit=\(core.commitIndex) last=\(core.lastIndex)\(snapshot) \(describe(core.membership))"
  }

  func describeLog(_ id: NodeID) -> [String] {
    guard let core = core(of: id) else { return ["\(id) down"] }
    let entries = core.entries
    let start = core.snapshotIndex > 0 ? ["(after snapshot \(core.snapshotIndex))"] : []
    return entries.isEmpty ? start + ["(empty)"] : start + entries.map(describe)
  }
}
