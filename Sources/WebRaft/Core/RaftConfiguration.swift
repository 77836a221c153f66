/// The settings of a node: the seed's three timeouts plus the protocol options and limits.
///
/// The defaults are the seed's: elections time out after 150–300 ms (randomized), the leader sends
/// a heartbeat every 100 ms and a follower waits 200 ms for one. ``validate()`` checks every value;
/// ``RaftNode`` and ``RaftCore`` refuse a configuration that fails it.
public struct RaftConfiguration: Hashable, Sendable {
  /// How long a candidate waits for an election to finish before it starts a new one; a value is
  /// drawn at random from this range each time (the seed's `electionTimeout`). The width of the
  /// range also randomizes when followers start elections, so that they rarely start together.
  public var electionTimeout: ClosedRange<Duration> = .milliseconds(150)...(.milliseconds(300))
  /// How often the leader sends heartbeats to idle followers (the seed's `heartbeatFrequency`).
  public var heartbeatInterval: Duration = .milliseconds(100)
  /// How long a follower waits without hearing from a leader before it emits `heartbeatTimeout`
  /// and starts an election (the seed's `heartbeatTimeout`). Must be above `heartbeatInterval`.
  public var heartbeatTimeout: Duration = .milliseconds(200)
  /// Whether a node first asks whether it could win before it starts a real election (Raft
  /// dissertation §9.6), so that a node that was cut off does not disrupt the cluster on return.
  public var preVote: Bool = true
  /// Whether a leader steps down when it has not heard from a quorum for an election timeout, and
  /// followers that hear from a leader ignore vote requests (dissertation §6.2 and §4.2.3).
  public var checkQuorum: Bool = true
  /// The most append messages in flight to one follower before the leader waits for answers.
  public var maxInflightAppends: Int = 256
  /// The most entries in one append message.
  public var maxEntriesPerAppend: Int = 4096
  /// The most payload bytes in one append message (one entry is always allowed).
  public var maxBytesPerAppend: Int = 1 << 20
  /// The most payload bytes a leader holds in uncommitted proposals; past it, proposals fail at
  /// once with ``RaftError/overloaded(uncommittedBytes:limit:)``.
  public var maxUncommittedBytes: Int = 64 << 20
  /// The most committed entries handed to the state machine in one batch.
  public var maxApplyBatch: Int = 4096
  /// The most committed entries handed to the state machine and not applied yet. The state
  /// machine applies in the background while the node goes on persisting, replicating, voting
  /// and sending heartbeats; once this many entries wait to be applied, the node hands it nothing
  /// more until it catches up (everything else goes on), so that a stuck state machine does not
  /// make the queue of entries to apply grow without bound.
  public var maxApplyingEntries: Int = 16_384
  /// The most payload bytes in flight to one follower (appends sent and not acknowledged).
  public var maxInflightBytes: Int = 32 << 20
  /// Take a snapshot and compact the log after this many entries were applied since the last
  /// one; nil disables this trigger.
  public var snapshotEntryInterval: Int? = 10_000
  /// Take a snapshot and compact the log once the log holds this many payload bytes; nil
  /// disables this trigger.
  public var snapshotLogBytes: Int? = 64 << 20
  /// The most bytes of snapshot sent in one InstallSnapshot message.
  public var snapshotChunkSize: Int = 1 << 20
  /// How much faster than the leader's clock a follower's clock may run. Lease reads trust the
  /// leader's lease for `heartbeatTimeout` minus this margin after a quorum confirmed it.
  public var maxClockDrift: Duration = .milliseconds(20)
  /// How long a leader waits for the next append to carry an advanced commit index to its
  /// followers before it sends them an append just for that. Under load every append carries it,
  /// which saves a message to and an answer from each follower per commit; an idle cluster's
  /// followers learn of a commit within this delay plus one tick of the node's timer (at most
  /// 10 ms). Zero sends it at once, as the Raft paper does. Leaders never wait to commit, and
  /// reads on followers are not delayed: their read round carries the commit index.
  public var commitNotificationDelay: Duration = .milliseconds(2)

  /// Creates the default configuration.
  public init() {}

  /// Creates a configuration with the seed's three timeouts.
  public init(
    electionTimeout: ClosedRange<Duration>,
    heartbeatInterval: Duration,
    heartbeatTimeout: Duration
  ) {
    self.electionTimeout = electionTimeout
    self.heartbeatInterval = heartbeatInterval
    self.heartbeatTimeout = heartbeatTimeout
  }

  /// Checks every setting and throws ``RaftError/invalidConfiguration(_:)`` naming the first one
  /// that is out of range.
  public func validate() throws(RaftError) {
    if heartbeatInterval < .milliseconds(1) {
      throw .invalidConfiguration(
        "heartbeatInterval must be at least 1 ms (the core counts whole milliseconds), got \(heartbeatInterval)"
      )
    }
    if electionTimeout.lowerBound < .milliseconds(1) {
      throw .invalidConfiguration(
        "electionTimeout must be at least 1 ms (the core counts whole milliseconds), got \(electionTimeout.lowerBound)"
      )
    }
    if commitNotificationDelay < .zero || commitNotificationDelay > heartbeatInterval {
      throw .invalidConfiguration(
        "commitNotificationDelay must be between 0 and heartbeatInterval (\(heartbeatInterval)), got \(commitNotificationDelay)"
      )
    }
    if heartbeatTimeout <= heartbeatInterval {
      throw .invalidConfiguration(
        "heartbeatTimeout (\(heartbeatTimeout)) must be above heartbeatInterval (\(heartbeatInterval)): "
          + "a follower would time out between two heartbeats of a healthy leader")
    }
    if electionTimeout.lowerBound <= heartbeatInterval {
      throw .invalidConfiguration(
        "electionTimeout (\(electionTimeout)) must start above heartbeatInterval (\(heartbeatInterval))"
      )
    }
    if maxInflightAppends < 1 {
      throw .invalidConfiguration("maxInflightAppends must be at least 1, got \(maxInflightAppends)")
    }
    if maxEntriesPerAppend < 1 {
      throw .invalidConfiguration("maxEntriesPerAppend must be at least 1, got \(maxEntriesPerAppend)")
    }
    if maxBytesPerAppend < 1 {
      throw .invalidConfiguration("maxBytesPerAppend must be at least 1, got \(maxBytesPerAppend)")
    }
    if maxUncommittedBytes < 1 {
      throw .invalidConfiguration("maxUncommittedBytes must be at least 1, got \(maxUncommittedBytes)")
    }
    if maxInflightBytes < 1 {
      throw .invalidConfiguration("maxInflightBytes must be at least 1, got \(maxInflightBytes)")
    }
    if let interval = snapshotEntryInterval, interval < 1 {
      throw .invalidConfiguration("snapshotEntryInterval must be at least 1 or nil, got \(interval)")
    }
    if let bytes = snapshotLogBytes, bytes < 1 {
      throw .invalidConfiguration("snapshotLogBytes must be at least 1 or nil, got \(bytes)")
    }
    if snapshotChunkSize < 1 {
      throw .invalidConfiguration("snapshotChunkSize must be at least 1, got \(snapshotChunkSize)")
    }
    if maxClockDrift < .zero || maxClockDrift >= heartbeatTimeout {
      throw .invalidConfiguration(
        "maxClockDrift (\(maxClockDrift)) must be at least zero and below heartbeatTimeout (\(heartbeatTimeout))"
      )
    }
    if maxApplyBatch < 1 {
      throw .invalidConfiguration("maxApplyBatch must be at least 1, got \(maxApplyBatch)")
    }
    if maxApplyingEntries < 1 {
      throw .invalidConfiguration("maxApplyingEntries must be at least 1, got \(maxApplyingEntries)")
    }
  }
}

extension Duration {
  /// The duration in whole milliseconds, rounded down, as the core's logical clock counts.
  var wholeMilliseconds: UInt64 {
    let (seconds, attoseconds) = components
    let total = seconds * 1000 + attoseconds / 1_000_000_000_000_000
    return total < 0 ? 0 : UInt64(total)
  }
}
