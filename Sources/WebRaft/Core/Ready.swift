/// Everything the core asks its driver to do, handed out by ``RaftCore/ready()``.
///
/// The driver carries it out in this order, then calls ``RaftCore/advance(_:)``:
/// 1. write `hardState` (if set) and `entries` to storage in one durable batch; a stored entry at
///    or after `entries.first.index` is replaced (the suffix is truncated first);
/// 2. send `messages` (they may depend on what step 1 stored, so never before it is durable);
/// 3. apply `committedEntries` to the state machine, in order;
/// 4. settle `rejectedProposals` and publish `events`.
public struct Ready: Sendable {
  /// The term, vote and commit hint to store, when they changed.
  public var hardState: HardState?
  /// Entries to store durably, in index order.
  public var entries: [LogEntry]
  /// Messages to send once the batch above is durable.
  public var messages: [RaftMessage]
  /// Committed entries to apply, in index order.
  public var committedEntries: [LogEntry]
  /// Forwarded proposals that the leader refused (by request identifier).
  public var rejectedProposals: [ProposalRejection]
  /// What happened, in order.
  public var events: [RaftEvent]

  /// Whether there is nothing to do.
  public var isEmpty: Bool {
    hardState == nil && entries.isEmpty && messages.isEmpty && committedEntries.isEmpty
      && rejectedProposals.isEmpty && events.isEmpty
  }
}

/// How the core took a proposal.
public enum ProposalTicket: Hashable, Sendable {
  /// This node leads: the proposal is the entry at (`index`, `term`). It succeeded if the entry
  /// applied at `index` has this term, and was dropped if another entry is applied there.
  case appended(index: UInt64, term: UInt64)
  /// The proposal went to the leader; the entry that carries it has this node and the request
  /// identifier as its ``LogEntry/origin``.
  case forwarded(to: NodeID)
}
