/// A caller waiting for its node: a proposal until it is applied, a membership change until it is
/// applied, a read until the state machine reached its index.
///
/// Not generic over the state machine (a proposal's output travels as `any Sendable` and is cast
/// back by the node), so that the table below is compiled once, specialised, rather than looked
/// up through generic metadata on every commit.
enum Waiter {
  case command(UnsafeContinuation<any Sendable, any Error>, deadline: UInt64, started: UInt64)
  case membership(CheckedContinuation<Void, any Error>, deadline: UInt64)
  case read(CheckedContinuation<Void, any Error>, deadline: UInt64)

  /// When the caller gives up (milliseconds on the node's clock).
  var deadline: UInt64 {
    switch self {
    case .command(_, let deadline, _), .membership(_, let deadline), .read(_, let deadline):
      return deadline
    }
  }

  /// Resumes the caller with `error`.
  func fail(_ error: RaftError) {
    switch self {
    case .command(let continuation, _, _): continuation.resume(throwing: error)
    case .membership(let continuation, _): continuation.resume(throwing: error)
    case .read(let continuation, _): continuation.resume(throwing: error)
    }
  }
}

/// Everyone waiting for a node, by request ID, with where their proposals went in the log and
/// which reads wait for the state machine.
struct WaiterTable {
  /// A proposal appended at an index in a term.
  private struct Appended {
    var term: UInt64
    var requestID: UInt64
  }

  /// A read whose index is known, waiting for the state machine to apply it.
  private struct PendingRead {
    var index: UInt64
    var requestID: UInt64
  }

  private var waiters: [UInt64: Waiter] = [:]
  private var appendedAt: [UInt64: Appended] = [:]
  private var pendingReads: [PendingRead] = []

  /// Whether nobody waits.
  var isEmpty: Bool { waiters.isEmpty }

  /// Whether `requestID` still waits.
  func contains(_ requestID: UInt64) -> Bool {
    waiters[requestID] != nil
  }

  /// Adds a waiter; when its proposal was appended here, remembers where.
  mutating func register(_ waiter: Waiter, requestID: UInt64, ticket: ProposalTicket? = nil) {
    waiters[requestID] = waiter
    if case .appended(let index, let term) = ticket {
      appendedAt[index] = Appended(term: term, requestID: requestID)
    }
  }

  /// Removes and returns the waiter of `requestID`.
  mutating func remove(_ requestID: UInt64) -> Waiter? {
    waiters.removeValue(forKey: requestID)
  }

  /// Fails the waiter of `requestID`, if it still waits.
  mutating func fail(_ requestID: UInt64, _ error: RaftError) {
    waiters.removeValue(forKey: requestID)?.fail(error)
  }

  /// Removes every waiter whose deadline passed and fails it; returns how many.
  mutating func expire(now: UInt64) -> Int {
    guard !waiters.isEmpty else { return 0 }
    let expired = waiters.filter { $0.value.deadline <= now }
    for (requestID, waiter) in expired {
      waiters[requestID] = nil
      waiter.fail(.proposalTimedOut)
    }
    return expired.count
  }

  /// Lets the read `requestID` go once the state machine reached `index`.
  mutating func awaitApply(of index: UInt64, read requestID: UInt64) {
    pendingReads.append(PendingRead(index: index, requestID: requestID))
  }

  /// Resolves the caller whose proposal `entry` carries out (`succeed` resumes it and returns true
  /// when the waiter is of the right kind), or fails the one whose proposal it replaced.
  mutating func settle(_ entry: LogEntry, node: NodeID, succeed: (Waiter) -> Bool) {
    if let appended = appendedAt.removeValue(forKey: entry.index),
      let waiter = waiters.removeValue(forKey: appended.requestID)
    {
      if appended.term != entry.term || !succeed(waiter) {
        waiter.fail(.proposalDropped(index: entry.index))
      }
    }
    if let origin = entry.origin, origin.node == node,
      let waiter = waiters.removeValue(forKey: origin.requestID), !succeed(waiter)
    {
      waiter.fail(.proposalDropped(index: entry.index))
    }
  }

  /// Lets reads go whose index the state machine has reached; forgets reads nobody waits for.
  mutating func releaseReads(applied: UInt64) {
    guard !pendingReads.isEmpty else { return }
    var waiting: [PendingRead] = []
    for read in pendingReads {
      if read.index <= applied {
        if case .read(let continuation, _) = waiters.removeValue(forKey: read.requestID) {
          continuation.resume()
        }
      } else if waiters[read.requestID] != nil {
        waiting.append(read)
      }
    }
    pendingReads = waiting
  }

  /// Fails every waiter with `error` and forgets everything.
  mutating func failAll(_ error: RaftError) {
    let pending = waiters
    waiters.removeAll()
    appendedAt.removeAll()
    pendingReads.removeAll()
    for waiter in pending.values { waiter.fail(error) }
  }
}
