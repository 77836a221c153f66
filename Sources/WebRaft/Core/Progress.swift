/// What the leader knows of one follower's log (Raft Figure 2, `nextIndex[]` and `matchIndex[]`),
/// and how it sends to it.
struct Progress: Hashable, Sendable {
  /// How the leader sends to the follower.
  enum State: String, Hashable, Sendable, Codable {
    /// Where the logs diverge is unknown: one append at a time, waiting for each answer.
    case probe
    /// The logs match up to `match`: appends are pipelined up to the in-flight window.
    case replicate
    /// The follower needs entries the leader compacted away: a snapshot is being sent.
    case snapshot
  }

  /// The highest index known to be stored on the follower and to match the leader's log.
  var match: UInt64 = 0
  /// The next index to send.
  var next: UInt64
  /// How the leader sends.
  var state: State = .probe
  /// In probe state: an append was sent and its answer has not come yet.
  var probeSent = false
  /// The appends in flight in replicate state.
  var inflights: Inflights
  /// Whether the follower answered since the last check-quorum round.
  var recentActive = false
  /// `match` when the last heartbeat answer came, to notice appends that were lost.
  var matchAtLastHeartbeat: UInt64 = 0
  /// The latest heartbeat round the follower answered (for read-index confirmation).
  var acknowledgedRound: UInt64 = 0
  /// In snapshot state: the index of the snapshot being sent.
  var snapshotIndex: UInt64 = 0
  /// In snapshot state: the offset the follower expects next.
  var snapshotOffset: UInt64 = 0
  /// In snapshot state: when the last chunk was asked for, to resend it after a loss.
  var snapshotRequestedAt: UInt64?
  /// In snapshot state: the transfer stalled and the chunk was sent again, so the follower's next
  /// answer says where it really stands, even behind `snapshotOffset` (a late answer from an
  /// earlier attempt can have moved the leader past it).
  var snapshotResent = false

  init(next: UInt64, inflightCapacity: Int, inflightByteCapacity: Int = .max) {
    self.next = next
    self.inflights = Inflights(capacity: inflightCapacity, byteCapacity: inflightByteCapacity)
  }

  /// Whether the leader must hold off sending entries.
  var isPaused: Bool {
    switch state {
    case .probe: return probeSent
    case .replicate: return inflights.isFull
    case .snapshot: return true
    }
  }

  /// Switches to sending the snapshot that ends at `index`, from its start.
  mutating func becomeSnapshot(index: UInt64) {
    state = .snapshot
    probeSent = false
    snapshotIndex = index
    snapshotOffset = 0
    snapshotRequestedAt = nil
    snapshotResent = false
    inflights.reset()
  }

  /// Switches to probing from `match + 1`.
  mutating func becomeProbe() {
    state = .probe
    probeSent = false
    next = match + 1
    inflights.reset()
  }

  /// Switches to pipelining after the logs were found to match.
  mutating func becomeReplicate() {
    state = .replicate
    probeSent = false
    next = match + 1
    inflights.reset()
  }

  /// Records that the follower holds entries up to `index`; returns whether `match` advanced.
  mutating func acknowledge(_ index: UInt64) -> Bool {
    var advanced = false
    if index > match {
      match = index
      advanced = true
      probeSent = false
    }
    next = max(next, index + 1)
    return advanced
  }

  /// Records that an append was sent whose last entry is `lastIndex`.
  mutating func sent(lastIndex: UInt64, entryCount: Int, bytes: Int = 0) {
    switch state {
    case .probe:
      probeSent = true
    case .replicate:
      if entryCount > 0 {
        next = lastIndex + 1
        inflights.add(lastIndex, bytes: bytes)
      }
    case .snapshot:
      break
    }
  }

  /// Handles a rejection of the append whose `prevLogIndex` was `rejected`; `hint` is where the
  /// leader should try next. Returns false when the rejection is stale and was ignored.
  mutating func reject(_ rejected: UInt64, hint: UInt64) -> Bool {
    switch state {
    case .replicate:
      if rejected <= match { return false }
      becomeProbe()
      next = max(min(hint, rejected), match + 1)
      return true
    case .probe:
      if rejected != next - 1 { return false }
      next = max(min(hint, rejected), match + 1)
      probeSent = false
      return true
    case .snapshot:
      return false
    }
  }
}
