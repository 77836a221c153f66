import ServiceLifecycle
import Synchronization

extension RaftNode: Service {
  /// Runs the node as a swift-service-lifecycle `Service` until its service group shuts down
  /// gracefully, its task is cancelled, or the node stops on its own.
  ///
  /// The node runs from its creation; `run()` ties its stop to the service group's:
  /// - graceful shutdown: a leader first hands leadership to the most up-to-date voter (as
  ///   ``shutdown(handingOverLeadership:)`` does, so the cluster elects no new leader by timeout),
  ///   then the node stops and `run()` returns;
  /// - cancellation (a cancellation signal, or the group's graceful shutdown timeout running out):
  ///   the node stops at once (a handover under way is given up);
  /// - ``shutdown()`` called elsewhere: `run()` returns once the node stopped;
  /// - a failure that halts the node (storage or state machine): the node stops and `run()`
  ///   throws the failure, so the service group can react.
  ///
  /// ```swift
  /// let node = try await RaftNode(
  ///   id: "a", bootstrap: ["a", "b", "c"], storage: storage, stateMachine: machine,
  ///   logger: logger, makePeer: makePeer)
  /// let group = ServiceGroup(
  ///   services: [transport, node], gracefulShutdownSignals: [.sigterm], logger: logger)
  /// try await group.run()   // SIGTERM: a leader hands over, then the node stops
  /// ```
  public func run() async throws {
    if failure == nil {
      let signal = stopSignal
      let reason = await withGracefulShutdownHandler {
        await withTaskCancellationHandler {
          await signal.wait()
        } onCancel: {
          signal.fire(.cancelled)
        }
      } onGracefulShutdown: {
        signal.fire(.gracefulShutdown)
      }
      switch reason {
      case .gracefulShutdown:
        await shutdown(handingOverLeadership: true)
      case .cancelled, .halted:
        await shutdown()
      case .shutDown:
        break
      }
    } else {
      await shutdown()
    }
    if let failure, failure != .shutdown { throw failure }
  }
}

/// Why ``RaftNode/run()`` should end; fired once, by the first of the service group, the task's
/// cancellation and the node itself.
final class StopSignal: Sendable {
  enum Reason: Sendable {
    case gracefulShutdown
    case cancelled
    /// The node halted on a failure.
    case halted
    /// The node was shut down.
    case shutDown
  }

  private struct State {
    var reason: Reason?
    var waiters: [CheckedContinuation<Reason, Never>] = []
  }

  private let state = Mutex(State())

  /// Records `reason` unless a reason was recorded before, and resumes the waiters.
  func fire(_ reason: Reason) {
    let waiters = state.withLock { state -> [CheckedContinuation<Reason, Never>] in
      guard state.reason == nil else { return [] }
      state.reason = reason
      defer { state.waiters.removeAll() }
      return state.waiters
    }
    for waiter in waiters { waiter.resume(returning: reason) }
  }

  /// Returns the reason once one is recorded.
  func wait() async -> Reason {
    await withCheckedContinuation { continuation in
      let reason = state.withLock { state -> Reason? in
        if let reason = state.reason { return reason }
        state.waiters.append(continuation)
        return nil
      }
      if let reason { continuation.resume(returning: reason) }
    }
  }
}
