/// What a node keeps only while it leads, as one value: `becomeLeader()` creates it and
/// stepping down drops it (openraft's `LeaderState`).
///
/// The core holds it as `leading`, which is nil in every other role, so nothing here can outlive
/// a leadership: a new leadership never starts from an earlier one's followers, timers, reads or
/// transfer, and code that runs on other roles has no leader fields to read by mistake.
///
/// The core changes it in place through the optional (`leading!.progress.update(...)`,
/// `leading?.appendsDue = true`). Copying it out and back would share its arrays with the copy,
/// and the next change would copy them.
struct LeaderState: Sendable {
  /// What the leader knows of each other member.
  var progress: ProgressMap
  /// When the next heartbeat round goes out.
  var heartbeatDeadline: UInt64
  /// When the leader next checks that a quorum answered it (with check-quorum).
  var checkQuorumDeadline: UInt64
  /// The leader has entries or a commit index to send.
  var appendsDue = false
  /// When the leader sends followers an advanced commit index that no append carried yet.
  var commitNotificationDeadline: UInt64?
  /// Payload bytes of this leader's proposals not yet committed.
  var uncommittedBytes = 0
  /// Origins of recently appended forwarded proposals, so that a duplicated message is appended
  /// once.
  var recentOrigins: RecentOrigins

  // Leadership transfer.
  /// The node leadership is being handed to.
  var transferTarget: NodeID?
  /// When an unfinished transfer is abandoned.
  var transferDeadline: UInt64 = 0
  /// Set once `timeoutNow` went to a transfer target: another node may lead soon, so this
  /// leader's lease is void for the rest of its leadership.
  var leaseRevoked = false

  // Reads.
  /// The number of the latest heartbeat round; followers echo it. Rounds of earlier leaderships
  /// need no telling apart: their answers carry an older term and never reach this one.
  var heartbeatRound: UInt64 = 0
  /// When recent heartbeat rounds were sent (leader clock), for leases.
  var roundSentAt: [UInt64: UInt64] = [:]
  /// Reads waiting for a quorum to confirm a heartbeat round.
  var pendingReads: [PendingRead] = []
  /// A read is waiting for a new heartbeat round.
  var readRoundDue = false

  /// A read waiting for its heartbeat round to be confirmed by a quorum.
  struct PendingRead: Hashable, Sendable {
    var requestID: UInt64
    /// The follower that asked, or nil for a read on this node.
    var requester: NodeID?
    /// The heartbeat round that confirms the read; 0 until one is sent.
    var round: UInt64
    /// The commit index when the read was confirmed possible.
    var index: UInt64
  }

  /// Takes a proposal of `size` payload bytes that is about to be appended, unless the
  /// uncommitted bytes are over `limit` (a single proposal is always taken, however large). One
  /// call does all the bookkeeping: every access to the core's optional `leading` checks its tag.
  mutating func admitProposal(size: Int, origin: ProposalOrigin?, limit: Int) throws(RaftError) {
    if uncommittedBytes > 0, uncommittedBytes + size > limit {
      throw .overloaded(uncommittedBytes: uncommittedBytes, limit: limit)
    }
    uncommittedBytes += size
    if let origin { recentOrigins.insert(origin) }
    appendsDue = true
  }

  /// Starts a new heartbeat round sent at `now`, and returns its number.
  mutating func startHeartbeatRound(at now: UInt64) -> UInt64 {
    heartbeatRound += 1
    roundSentAt[heartbeatRound] = now
    if roundSentAt.count > 256 {
      roundSentAt = roundSentAt.filter { $0.key + 128 > heartbeatRound }
    }
    return heartbeatRound
  }
}

/// A bounded set of recently seen proposal origins.
struct RecentOrigins: Hashable, Sendable {
  private var members: Set<ProposalOrigin> = []
  private var order: [ProposalOrigin] = []
  private var oldest = 0
  let capacity: Int

  init(capacity: Int) {
    self.capacity = capacity
  }

  func contains(_ origin: ProposalOrigin) -> Bool {
    members.contains(origin)
  }

  mutating func insert(_ origin: ProposalOrigin) {
    guard members.insert(origin).inserted else { return }
    if order.count < capacity {
      order.append(origin)
    } else {
      members.remove(order[oldest])
      order[oldest] = origin
      oldest = (oldest + 1) % capacity
    }
  }
}
