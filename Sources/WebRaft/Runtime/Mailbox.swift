import Synchronization

/// The messages a node received and has not stepped yet, and who works them off.
///
/// Transports post from any thread without waiting; the node's pump takes everything waiting at
/// once, so that messages that arrive while a storage write is in progress go into one batch.
/// At most one pump runs at a time. Posting to an idle mailbox either starts a pump task or, for
/// a hand-off (``handOff(_:)``), lets the caller run the pump in its own task, which saves a
/// thread switch when nodes share a process.
final class Mailbox: Sendable {
  private struct State {
    var messages: [RaftMessage] = []
    /// Whether a pump is running or about to start.
    var running = false
    var pump: (@Sendable () async -> Void)?
    var closed = false
    /// Tasks waiting for the running pump to finish (see ``waitUntilIdle()``).
    var idleWaiters: [CheckedContinuation<Void, Never>] = []
  }

  private let state = Mutex(State())

  /// Sets the pump (once the node exists): it works off everything, then calls
  /// ``finishIfIdle()`` until that returns true.
  func setPump(_ pump: @escaping @Sendable () async -> Void) {
    state.withLock { $0.pump = pump }
  }

  /// Adds a received message, starting a pump task if none is running.
  func post(_ message: RaftMessage) {
    let pump = state.withLock { state -> (@Sendable () async -> Void)? in
      guard !state.closed else { return nil }
      state.messages.append(message)
      return claimPump(&state) ? state.pump : nil
    }
    // Started outside the lock: creating a task under it made every sender wait for it.
    if let pump { Task { await pump() } }
  }

  /// Adds a received message and, when no pump is running, runs one in the caller's task.
  nonisolated(nonsending) func handOff(_ message: RaftMessage) async {
    let pump = state.withLock { state -> (@Sendable () async -> Void)? in
      guard !state.closed else { return nil }
      state.messages.append(message)
      return claimPump(&state) ? state.pump : nil
    }
    if let pump { await pump() }
  }

  /// Starts a pump task if none is running (the node has work of its own).
  func wake() {
    let pump = state.withLock { state -> (@Sendable () async -> Void)? in
      guard !state.closed else { return nil }
      return claimPump(&state) ? state.pump : nil
    }
    if let pump { Task { await pump() } }
  }

  /// Marks a pump as running if none is.
  private func claimPump(_ state: inout State) -> Bool {
    guard !state.running, state.pump != nil else { return false }
    state.running = true
    return true
  }

  /// Takes every waiting message.
  func takeAll() -> [RaftMessage] {
    state.withLock { state in
      if state.messages.isEmpty { return [] }
      let taken = state.messages
      state.messages.removeAll(keepingCapacity: true)
      return taken
    }
  }

  /// Marks the pump finished when no message is waiting; false when one arrived meanwhile.
  func finishIfIdle() -> Bool {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
      guard state.messages.isEmpty || state.closed else { return nil }
      state.running = false
      defer { state.idleWaiters.removeAll() }
      return state.idleWaiters
    }
    guard let waiters else { return false }
    for waiter in waiters { waiter.resume() }
    return true
  }

  /// Refuses further messages; no pump starts from now on.
  func close() {
    state.withLock { state in
      state.closed = true
      state.messages.removeAll()
    }
  }

  /// Returns once no pump is running.
  func waitUntilIdle() async {
    await withCheckedContinuation { continuation in
      let idle = state.withLock { state in
        if !state.running { return true }
        state.idleWaiters.append(continuation)
        return false
      }
      if idle { continuation.resume() }
    }
  }
}
