/// Everything the core asks its driver to do, handed out by ``RaftCore/ready()``.
///
/// ``RaftDriver`` carries it out — for ``RaftNode`` and for the simulator alike — in this order,
/// then calls ``RaftCore/advance()``:
/// 1. send the first `earlyMessageCount` messages (a leader's appends and heartbeats), before or
///    while the write of step 2 runs;
/// 2. write `hardState` (if set) and `entries` to storage in one durable batch, and wait until it
///    is durable; a stored entry at or after `entries.first.index` is replaced (the suffix is
///    truncated first);
/// 3. write each of `snapshotChunks` into the storage's snapshot writer (a chunk at offset 0
///    starts a new one); after the chunk marked `done`, commit the snapshot, restore the state
///    machine from it, and call ``RaftCore/snapshotInstalled(_:)``;
/// 4. send the other `messages` (they may depend on what step 2 stored);
/// 5. settle `rejectedProposals` and `readStates`;
/// 6. publish `events`;
/// 7. for each of `snapshotChunkRequests`, read the chunk from the storage's current snapshot and
///    hand it to ``RaftCore/sendSnapshotChunk(to:metadata:totalSize:offset:data:)``;
/// 8. hand the `committedEntries` to the state machine, to apply in order after those handed out
///    before, without waiting for them to be applied: applying runs behind replication, and the
///    next `Ready`s are carried out meanwhile;
/// 9. call ``RaftCore/advance()`` (the `committedEntries` count as handed to the state machine);
///    a snapshot of the state machine, when one is due, is captured once everything handed to it
///    is applied, before anything else is, and written out in the background.
///
/// A driver whose state machine lags asks for `Ready`s without committed entries
/// (``RaftCore/ready(maxCommittedEntries:)``), and installs a snapshot received in step 3 only
/// once the state machine applied everything handed to it.
public struct Ready: Sendable {
  /// The term, vote and commit hint to store: set when the term or vote changed, or along with
  /// `entries` when the commit index moved (a moved commit index alone costs no write).
  public var hardState: HardState?
  /// Entries to store durably, in index order.
  public var entries: [LogEntry]
  /// Messages to send once the batch above is durable (all but the first `earlyMessageCount`).
  public var messages: [RaftMessage]
  /// How many of the first `messages` may be sent before the batch above is durable: a leader's
  /// appends and heartbeats, when its term and vote are already stored. Sending them first lets
  /// followers write entries while the leader writes them too (Raft dissertation §10.2.1): the
  /// leader counts itself towards a commit only once its own write is durable. A driver may
  /// ignore this and send everything after the write.
  public var earlyMessageCount = 0
  /// Committed entries to hand to the state machine, in index order (the next ones after those
  /// handed out before).
  public var committedEntries: [LogEntry]
  /// Forwarded proposals that the leader refused (by request identifier).
  public var rejectedProposals: [ProposalRejection]
  /// What happened, in order.
  public var events: [RaftEvent]
  /// Linearizable reads whose read index is known (or that failed).
  public var readStates: [ReadState]
  /// Snapshot chunks received from the leader, to write in order.
  public var snapshotChunks: [InstallSnapshot]
  /// Snapshot chunks to read from storage and send to followers.
  public var snapshotChunkRequests: [SnapshotChunkRequest]

  /// Whether there is nothing to do.
  public var isEmpty: Bool {
    hardState == nil && entries.isEmpty && messages.isEmpty && committedEntries.isEmpty
      && rejectedProposals.isEmpty && events.isEmpty && readStates.isEmpty
      && snapshotChunks.isEmpty && snapshotChunkRequests.isEmpty
  }
}

/// The outcome of a read-index request (``RaftCore/readIndex(requestID:)``).
public struct ReadState: Hashable, Sendable {
  /// The requester's identifier.
  public var requestID: UInt64
  /// The index the local state machine must have applied before the read is served, or the
  /// reason the read cannot be served.
  public var result: Result<UInt64, RaftError>

  /// Creates a read state.
  public init(requestID: UInt64, result: Result<UInt64, RaftError>) {
    self.requestID = requestID
    self.result = result
  }
}

/// A request to read a chunk of the current snapshot and send it to a follower.
public struct SnapshotChunkRequest: Hashable, Sendable {
  /// The follower.
  public var peer: NodeID
  /// Where the chunk starts.
  public var offset: UInt64
  /// The most bytes to read.
  public var maxLength: Int

  /// Creates a chunk request.
  public init(peer: NodeID, offset: UInt64, maxLength: Int) {
    self.peer = peer
    self.offset = offset
    self.maxLength = maxLength
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
