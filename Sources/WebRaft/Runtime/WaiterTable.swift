/// A caller waiting for its node: a proposal until it is applied, a membership change until it is
/// applied, a read until the state machine reached its index.
///
/// Not generic over the state machine (a proposal's output travels as `any Sendable` and is cast
/// back by the node), so that the table below is compiled once, specialised, rather than looked
/// up through generic metadata on every commit.
enum Waiter {
  case command(UnsafeContinuation<any Sendable, any Error>, started: UInt64)
  case membership(CheckedContinuation<Void, any Error>)
  case read(CheckedContinuation<Void, any Error>)

  /// Resumes the caller with `error`.
  func fail(_ error: RaftError) {
    switch self {
    case .command(let continuation, _): continuation.resume(throwing: error)
    case .membership(let continuation): continuation.resume(throwing: error)
    case .read(let continuation): continuation.resume(throwing: error)
    }
  }
}

/// The callers waiting for a node, by request ID. When each is settled is the driver's decision
/// (``RaftDriver``, ``RequestOutcome``); this table only holds the callers and resumes them.
struct WaiterTable {
  private var waiters: [UInt64: Waiter] = [:]

  /// Whether nobody waits.
  var isEmpty: Bool { waiters.isEmpty }

  /// Whether `requestID` still waits.
  func contains(_ requestID: UInt64) -> Bool {
    waiters[requestID] != nil
  }

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

  /// Fails every waiter with `error` and forgets everything.
  mutating func failAll(_ error: RaftError) {
    let pending = waiters
    waiters.removeAll()
    for waiter in pending.values { waiter.fail(error) }
  }
}
