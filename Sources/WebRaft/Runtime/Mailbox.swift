import Synchronization

/// The messages a node received and has not stepped yet, and the single task that works them off.
///
/// Transports post from any thread without waiting; the node's pump takes everything waiting at
/// once, so that messages that arrive while a storage write is in progress go into one batch.
/// At most one pump runs at a time; posting to an idle mailbox starts one.
final class Mailbox: Sendable {
  private struct State {
    var messages: [RaftMessage] = []
    /// Whether a pump is running or about to start.
    var running = false
    /// Counts pumps, so that a late handle never replaces a newer pump's.
    var generation: UInt64 = 0
    var pump: Task<Void, Never>?
    var startPump: (@Sendable () -> Task<Void, Never>)?
    var closed = false
  }

  private let state = Mutex(State())

  /// Sets how a pump is started (once the node exists).
  func setPumpStarter(_ start: @escaping @Sendable () -> Task<Void, Never>) {
    state.withLock { $0.startPump = start }
  }

  /// Adds a received message, starting the pump if it is idle.
  func post(_ message: RaftMessage) {
    let start = state.withLock { state -> (@Sendable () -> Task<Void, Never>, UInt64)? in
      guard !state.closed else { return nil }
      state.messages.append(message)
      return claimPump(&state)
    }
    if let start { launch(start.0, generation: start.1) }
  }

  /// Starts the pump if it is idle (the node has work of its own).
  func wake() {
    let start = state.withLock { state -> (@Sendable () -> Task<Void, Never>, UInt64)? in
      guard !state.closed else { return nil }
      return claimPump(&state)
    }
    if let start { launch(start.0, generation: start.1) }
  }

  /// Marks a pump as running if none is, and says how to start it (outside the lock: creating a
  /// task under the lock made every sender wait for it).
  private func claimPump(_ state: inout State) -> (@Sendable () -> Task<Void, Never>, UInt64)? {
    guard !state.running, let start = state.startPump else { return nil }
    state.running = true
    state.generation &+= 1
    return (start, state.generation)
  }

  private func launch(_ start: @Sendable () -> Task<Void, Never>, generation: UInt64) {
    let task = start()
    state.withLock { state in
      if state.generation == generation { state.pump = task }
    }
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
    state.withLock { state in
      guard state.messages.isEmpty || state.closed else { return false }
      state.running = false
      state.pump = nil
      return true
    }
  }

  /// Refuses further messages and returns the running pump, if any, to wait for.
  func close() -> Task<Void, Never>? {
    state.withLock { state in
      state.closed = true
      state.messages.removeAll()
      return state.pump
    }
  }
}
