/// The errors WebRaft reports. Each case says what went wrong and what the caller can do.
public enum RaftError: Error, Hashable, Sendable, Codable, CustomStringConvertible {
  /// This node knows no leader (an election is under way, or it is cut off). Retry after a short
  /// pause, or ask `leaderHint` if it is set.
  ///
  /// `leaderHint` is where the node that raised the error would look for the leader: the last
  /// leader it heard from (in an earlier term, or before it forgot its leader), or, for a leader
  /// that lost its leadership while serving the request, the node that took over. It may be stale
  /// — that node may have lost its leadership, left, or stopped — so treat it as a place to try
  /// first, not as the leader; nil when the node knows none (see ``RaftCore/leaderHint``).
  case noLeader(leaderHint: NodeID?)
  /// The request must go to the leader and this node is not it; `leader` is the leader it knows.
  case notLeader(leader: NodeID?)
  /// The leader has more uncommitted proposal bytes in flight than its limit. Slow down and retry.
  case overloaded(uncommittedBytes: Int, limit: Int)
  /// Another membership change has not committed yet (only one change at a time is allowed), or
  /// a new leader has not yet committed an entry of its own term. Retry shortly.
  case membershipChangeInProgress
  /// The membership change does not make sense for the current membership; the text says why.
  case membershipChangeRejected(String)
  /// A new leader replaced the log entry of this proposal before it was committed: the proposal
  /// was not applied and can be retried.
  case proposalDropped(index: UInt64)
  /// The node lost track of the proposal (the text says how) and cannot learn whether it was
  /// applied: it may or may not be. Retry only if the command is idempotent or carries its own
  /// deduplication key.
  case proposalOutcomeUnknown(String)
  /// The proposal was not acknowledged in time. It may or may not be applied later: retry only
  /// if the command is idempotent or carries its own deduplication key.
  case proposalTimedOut
  /// A setting is out of range; the text names it and the accepted values.
  case invalidConfiguration(String)
  /// The node has been shut down.
  case shutdown
  /// The state machine failed to apply an entry. The node stopped applying (it never skips an
  /// entry); fix the cause and restart the node.
  case stateMachineFailed(index: UInt64, reason: String)
  /// The storage failed; the node stopped because it can no longer keep its promises.
  case storageFailed(String)
  /// The caller's task was cancelled before the request took effect anywhere, and it will not: a
  /// proposal or membership change that never left this node's mailbox, a read, a leadership
  /// transfer that had not started. Retrying is safe.
  case cancelled
  /// The caller's task was cancelled after the request was handed on (a proposal or membership
  /// change appended to the leader's log or forwarded to it, a leadership transfer under way, a
  /// joining member not yet promoted): the node stopped waiting for it, but it may still take
  /// effect. Retry only if the command is idempotent or carries its own deduplication key.
  case cancelledOutcomeUnknown
  /// A message or stored record could not be decoded; the text says where.
  case malformedMessage(String)
  /// The leader is handing leadership to another node and takes no proposals meanwhile; retry
  /// after a short pause (with the new leader).
  case leadershipTransferInProgress
  /// A leadership transfer could not be started or did not finish; the text says why.
  case leadershipTransferFailed(String)
  /// The state machine does not implement snapshots, so the log cannot be compacted and a
  /// follower behind the compacted log cannot be caught up from this node.
  case snapshotsUnsupported
  /// The log cannot be purged through `index`: this node has applied only up to `applied`, and
  /// entries it has not applied must stay. Wait until it has applied them (``RaftNode/barrier()``),
  /// or purge through an index it has applied.
  case notApplied(index: UInt64, applied: UInt64)

  /// A sentence that says what went wrong and what to do.
  public var description: String {
    switch self {
    case .noLeader(let hint):
      let hintText = hint.map { " (last known leader: \($0))" } ?? ""
      return "no leader is known right now\(hintText); retry after an election completes"
    case .notLeader(let leader):
      return "this node is not the leader; send the request to \(leader?.rawValue ?? "the leader")"
    case .overloaded(let bytes, let limit):
      return
        "the leader has \(bytes) uncommitted bytes, over its limit of \(limit); slow down and retry"
    case .membershipChangeInProgress:
      return
        "a membership change cannot start yet: another one has not committed, or the new leader has not committed an entry of its term; retry shortly"
    case .membershipChangeRejected(let reason):
      return "membership change rejected: \(reason)"
    case .proposalDropped(let index):
      return "the proposal at index \(index) was replaced by a new leader and not applied; retry it"
    case .proposalOutcomeUnknown(let reason):
      return "the outcome of the proposal cannot be known here (\(reason)); it may or may not be applied"
    case .proposalTimedOut:
      return "the proposal was not acknowledged in time; it may still be applied"
    case .invalidConfiguration(let reason):
      return "invalid configuration: \(reason)"
    case .shutdown:
      return "the node has been shut down"
    case .stateMachineFailed(let index, let reason):
      return
        "the state machine failed to apply index \(index): \(reason); the node stopped applying, fix the cause and restart it"
    case .storageFailed(let reason):
      return "storage failed: \(reason); the node stopped"
    case .cancelled:
      return "the request was cancelled before it took effect; it will not be applied"
    case .cancelledOutcomeUnknown:
      return
        "the request was cancelled after it was handed to the leader; it may or may not take effect"
    case .notApplied(let index, let applied):
      return
        "index \(index) is not applied on this node yet (applied: \(applied)); wait until it is, then purge"
    case .malformedMessage(let reason):
      return "malformed message: \(reason)"
    case .leadershipTransferInProgress:
      return "the leader is transferring leadership and takes no proposals; retry shortly"
    case .leadershipTransferFailed(let reason):
      return "leadership transfer failed: \(reason)"
    case .snapshotsUnsupported:
      return
        "the state machine does not implement makeSnapshot() and restore(from:); implement them to compact the log"
    }
  }
}
