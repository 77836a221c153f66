/// A caller waiting for its node: a proposal until it is applied, a membership change until it is
/// applied, a read until the state machine reached its index.
///
/// Not generic over the state machine (a proposal's output travels as `any Sendable` and is cast
/// back by the node), so that the table below is compiled once, specialised, rather than looked
/// up through generic metadata on every commit.
///
/// Each carries the caller's trace (nil unless a tracer is in force), which ends with the request.
enum Waiter {
  case command(UnsafeContinuation<any Sendable, any Error>, started: UInt64, trace: RequestTrace?)
  case membership(CheckedContinuation<Void, any Error>, trace: RequestTrace?)
  case read(CheckedContinuation<Void, any Error>, trace: RequestTrace?)
  /// A caller of ``RaftNode/readIndex()``: resumed with the confirmed index, not waiting for apply.
  case readIndex(CheckedContinuation<UInt64, any Error>, trace: RequestTrace?)

  /// Resumes the caller with `error`.
  func fail(_ error: RaftError) {
    switch self {
    case .command(let continuation, _, let trace):
      trace?.failed(error)
      continuation.resume(throwing: error)
    case .membership(let continuation, let trace):
      trace?.failed(error)
      continuation.resume(throwing: error)
    case .read(let continuation, let trace):
      trace?.failed(error)
      continuation.resume(throwing: error)
    case .readIndex(let continuation, let trace):
      trace?.failed(error)
      continuation.resume(throwing: error)
    }
  }

  /// What the caller is failed with when its task is cancelled while it waits: a proposal or
  /// membership change was handed to the core (appended or forwarded) and may still be applied; a
  /// read has no effect to undo.
  var cancellationError: RaftError {
    switch self {
    case .command, .membership: .cancelledOutcomeUnknown
    case .read, .readIndex: .cancelled
    }
  }
}

/// A caller waiting until the node reaches a state: a joining member promoted to voter, or another
/// node leading after a transfer.
struct ConditionWaiter {
  enum Condition {
    /// `member` is a voter in the applied membership; fails if it is no member any more.
    case promoted(NodeID)
    /// A node other than this one is known to lead.
    case otherLeader(NodeID)
    /// The node's snapshot covers at least this index.
    case snapshot(atLeast: UInt64)
    /// The applied membership is not joint (the leader left the joint configuration).
    case notJoint
    /// On the leader, each of these members stores the log up to the index; fails when this node
    /// stops leading.
    case caughtUp(Set<NodeID>, through: UInt64)
  }

  /// What the caller is resumed with: the new leader, the promoted member, or the snapshot index.
  enum Outcome {
    case node(NodeID)
    case index(UInt64)
  }

  let condition: Condition
  /// Identifies the waiter, for cancelling it (drawn from the node's request IDs).
  let id: UInt64
  /// When the caller gives up (milliseconds on the node's clock), and with what.
  let deadline: UInt64
  let timeoutError: RaftError
  /// What the caller is failed with when its task is cancelled.
  let cancellationError: RaftError
  let continuation: CheckedContinuation<Outcome, any Error>
}

/// The callers waiting for a node, by request ID. When each is settled is the driver's decision
/// (``RaftDriver``, ``RequestOutcome``); this table only holds the callers and resumes them.
struct WaiterTable {
  private var waiters: [UInt64: Waiter] = [:]
  private var conditions: [ConditionWaiter] = []

  /// Adds a waiter.
  mutating func register(_ waiter: Waiter, requestID: UInt64) {
    waiters[requestID] = waiter
  }

  /// Removes and returns the waiter of `requestID`.
  mutating func remove(_ requestID: UInt64) -> Waiter? {
    waiters.removeValue(forKey: requestID)
  }

  /// Fails the waiter of `requestID`, if it still waits; returns whether it did.
  @discardableResult
  mutating func fail(_ requestID: UInt64, _ error: RaftError) -> Bool {
    guard let waiter = waiters.removeValue(forKey: requestID) else { return false }
    waiter.fail(error)
    return true
  }

  /// Adds a caller waiting for a condition.
  mutating func register(_ waiter: ConditionWaiter) {
    conditions.append(waiter)
  }

  /// Fails the condition waiter `id` with its cancellation error, if it still waits.
  mutating func cancelCondition(_ id: UInt64) {
    guard let position = conditions.firstIndex(where: { $0.id == id }) else { return }
    let waiter = conditions.remove(at: position)
    waiter.continuation.resume(throwing: waiter.cancellationError)
  }

  /// How many callers wait, for a request or a condition.
  var count: Int { waiters.count + conditions.count }

  /// Whether anyone waits for a condition.
  var hasConditions: Bool { !conditions.isEmpty }

  /// Resumes the callers whose condition holds in `membership` with `leader` known; fails those
  /// whose member left `membership`, and those whose deadline passed by `now`.
  mutating func checkConditions(
    membership: Membership, leader: NodeID?, snapshotIndex: UInt64, now: UInt64,
    matchIndex: (NodeID) -> UInt64? = { _ in nil }
  ) {
    guard !conditions.isEmpty else { return }
    conditions.removeAll { waiter in
      switch waiter.condition {
      case .promoted(let member):
        if membership.voters.contains(member) {
          waiter.continuation.resume(returning: .node(member))
          return true
        }
        if !membership.learners.contains(member) {
          waiter.continuation.resume(
            throwing: RaftError.membershipChangeRejected("\(member) was removed before it was promoted"))
          return true
        }
      case .otherLeader(let me):
        if let leader, leader != me {
          waiter.continuation.resume(returning: .node(leader))
          return true
        }
      case .snapshot(let index):
        if snapshotIndex >= index {
          waiter.continuation.resume(returning: .index(snapshotIndex))
          return true
        }
      case .notJoint:
        if !membership.isJoint {
          waiter.continuation.resume(returning: .index(0))
          return true
        }
      case .caughtUp(let members, let index):
        let matches = members.map(matchIndex)
        if matches.contains(where: { $0 == nil }) {
          waiter.continuation.resume(throwing: RaftError.notLeader(leader: leader))
          return true
        }
        if matches.allSatisfy({ $0! >= index }) {
          waiter.continuation.resume(returning: .index(index))
          return true
        }
      }
      if waiter.deadline <= now {
        waiter.continuation.resume(throwing: waiter.timeoutError)
        return true
      }
      return false
    }
  }

  /// Fails the callers waiting for a snapshot with `error`.
  mutating func failSnapshotWaiters(_ error: any Error) {
    conditions.removeAll { waiter in
      guard case .snapshot = waiter.condition else { return false }
      waiter.continuation.resume(throwing: error)
      return true
    }
  }

  /// Fails every waiter with `error` and forgets everything.
  mutating func failAll(_ error: RaftError) {
    let pending = waiters
    waiters.removeAll()
    for waiter in pending.values { waiter.fail(error) }
    let waiting = conditions
    conditions.removeAll()
    for waiter in waiting { waiter.continuation.resume(throwing: error) }
  }
}
