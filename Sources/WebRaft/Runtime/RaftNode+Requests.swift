extension RaftNode {
  /// Starts a request and waits until the driver settles it, or the calling task is cancelled.
  ///
  /// `start` hands the request (with its ID and trace) to the driver. It returns the request's
  /// value when it is settled at once, or nil when it waits: the caller is then registered as
  /// `waiter` until ``settle(_:_:)`` resumes it. A request refused by `start` fails with its error.
  /// Cancelling the calling task before the request started fails it with
  /// ``RaftError/cancelled`` and starts nothing; after, the node forgets it and fails it with the
  /// waiter's ``Waiter/cancellationError``.
  func awaitRequest<Value: Sendable>(
    _ operation: String,
    waiter makeWaiter: (CheckedContinuation<Value, any Error>, RequestTrace?) -> Waiter,
    start: (_ requestID: UInt64, _ trace: RequestTrace?) throws(RaftError) -> Value?
  ) async throws -> Value {
    if let failure { throw failure }
    if Task.isCancelled { throw RaftError.cancelled }
    let requestID = makeRequestID()
    let trace = RequestTrace.start(operation, node: id)
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
        do {
          if let value = try start(requestID, trace) {
            trace?.succeeded()
            continuation.resume(returning: value)
            return
          }
          waiters.register(makeWaiter(continuation, trace), requestID: requestID)
          scheduleDrain()
        } catch {
          trace?.failed(error)
          continuation.resume(throwing: error)
        }
      }
    } onCancel: {
      Task { await self.cancel(requestID) }
    }
  }

  /// Waits until `condition` holds (checked at once, then whenever the state it depends on
  /// changes), failing with `timeoutError` after `deadline`, and with `cancellationError` at once
  /// when the calling task is cancelled.
  func waitFor(
    _ condition: ConditionWaiter.Condition, deadline: UInt64, timeoutError: RaftError,
    cancellationError: RaftError = .cancelledOutcomeUnknown
  ) async throws -> ConditionWaiter.Outcome {
    if let failure { throw failure }
    let waiterID = makeRequestID()
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { continuation in
        waiters.register(
          ConditionWaiter(
            condition: condition, id: waiterID, deadline: deadline, timeoutError: timeoutError,
            cancellationError: cancellationError, continuation: continuation))
        checkConditions()
      }
    } onCancel: {
      Task { await self.cancelCondition(waiterID) }
    }
  }

  /// Whether a caller still waits for the node, or the driver still tracks a request: false once
  /// every call made on the node ended.
  var hasPendingRequests: Bool { waiters.count > 0 || driver.nextExpiry != nil }

  /// Resumes the callers whose condition now holds.
  func checkConditions() {
    guard waiters.hasConditions else { return }
    waiters.checkConditions(
      membership: appliedMembership, leader: core.leader, snapshotIndex: core.snapshotIndex,
      now: nowMilliseconds, matchIndex: { core.matchIndex(of: $0) })
  }

  private func cancelCondition(_ waiterID: UInt64) {
    waiters.cancelCondition(waiterID)
  }
}
