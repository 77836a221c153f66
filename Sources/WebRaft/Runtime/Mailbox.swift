import Synchronization

/// The messages a node received and has not stepped yet, and the single task that works them off.
///
/// Transports post from any thread without waiting; the node's pump takes everything waiting at
/// once, so that messages that arrive while a storage write is in progress go into one batch.
/// At most one pump runs at a time; posting to an idle mailbox starts one.
final class Mailbox: Sendable {
  private struct State {
    var messages: [RaftMessage] = []
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
    state.withLock { state in
      guard !state.closed else { return }
      state.messages.append(message)
      if state.pump == nil, let start = state.startPump { state.pump = start() }
    }
  }

  /// Starts the pump if it is idle (the node has work of its own).
  func wake() {
    state.withLock { state in
      guard !state.closed else { return }
      if state.pump == nil, let start = state.startPump { state.pump = start() }
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
