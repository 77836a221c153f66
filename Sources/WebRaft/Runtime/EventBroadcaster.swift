import Synchronization

/// A handle for a handler registered with ``RaftNode/listen(_:_:)``; pass it to
/// ``RaftNode/unlisten(_:)`` to remove the handler.
public struct RaftListener: Hashable, Sendable {
  let id: UInt64
}

/// Fans a node's events out to async sequences and to listen/unlisten handlers.
final class EventBroadcaster: Sendable {
  private struct State {
    var nextID: UInt64 = 0
    var streams: [UInt64: AsyncStream<RaftEvent>.Continuation] = [:]
    var handlers: [UInt64: (kind: RaftEvent.Kind?, handler: @Sendable (RaftEvent) -> Void)] = [:]
    var finished = false
  }

  private let state = Mutex(State())
  /// How many streams and handlers are registered, readable without the lock: most nodes publish
  /// two events per applied entry and have nobody listening.
  private let subscriberCount = Atomic<Int>(0)
  /// How many events a slow subscriber may have queued before the oldest are dropped.
  static let bufferLimit = 65_536

  /// Whether anyone listens (so that events need not be built when nobody does).
  var hasSubscribers: Bool {
    subscriberCount.load(ordering: .acquiring) > 0
  }

  private func updateCount(_ state: State) {
    subscriberCount.store(state.streams.count + state.handlers.count, ordering: .releasing)
  }

  func subscribe() -> AsyncStream<RaftEvent> {
    let (stream, continuation) = AsyncStream<RaftEvent>.makeStream(
      bufferingPolicy: .bufferingNewest(Self.bufferLimit))
    let id: UInt64? = state.withLock { state in
      if state.finished { return nil }
      state.nextID += 1
      state.streams[state.nextID] = continuation
      updateCount(state)
      return state.nextID
    }
    guard let id else {
      continuation.finish()
      return stream
    }
    continuation.onTermination = { [weak self] _ in
      guard let self else { return }
      self.state.withLock { state in
        state.streams.removeValue(forKey: id)
        self.updateCount(state)
      }
    }
    return stream
  }

  func listen(_ kind: RaftEvent.Kind?, _ handler: @escaping @Sendable (RaftEvent) -> Void)
    -> RaftListener
  {
    state.withLock { state in
      state.nextID += 1
      state.handlers[state.nextID] = (kind, handler)
      updateCount(state)
      return RaftListener(id: state.nextID)
    }
  }

  func unlisten(_ listener: RaftListener) {
    state.withLock { state in
      state.handlers.removeValue(forKey: listener.id)
      updateCount(state)
    }
  }

  func publish(_ event: RaftEvent) {
    guard hasSubscribers else { return }
    let (streams, handlers) = state.withLock { state in
      (Array(state.streams.values), Array(state.handlers.values))
    }
    for continuation in streams { continuation.yield(event) }
    let kind = event.kind
    for entry in handlers where entry.kind == nil || entry.kind == kind {
      entry.handler(event)
    }
  }

  func finish() {
    let streams = state.withLock { state in
      state.finished = true
      let streams = Array(state.streams.values)
      state.streams.removeAll()
      state.handlers.removeAll()
      updateCount(state)
      return streams
    }
    for continuation in streams { continuation.finish() }
  }
}
