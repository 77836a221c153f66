import Logging
import NIOCore
import NIOPosix
import Synchronization
import WebRaft

/// The outbound side of one peer: a bounded queue, one connection that carries this node's
/// messages to the peer, and reconnection with backoff. Connection work runs on `eventLoop`;
/// ``write(_:)`` may be called from any thread.
final class PeerConnection: Sendable {
  let id: NodeID
  let eventLoop: any EventLoop
  private let transport: TCPTransport
  private let logger: Logger
  private let state: Mutex<State>

  private struct State: Sendable {
    var queue: OutboundQueue
    var address: TCPTransport.PeerAddress?
    /// The connected channel, handshaking or established.
    var channel: (any Channel)?
    var established = false
    var writable = false
    var connecting: EventLoopFuture<any Channel>?
    var reconnect: Scheduled<Void>?
    var attempt = 0
    var drainScheduled = false
    var closed = false
    var failureLogged = false
    /// Whether the current connection cycle reached the handshake's end.
    var cycleEstablished = false
    var missingAddressLogged = false
  }

  init(
    id: NodeID, address: TCPTransport.PeerAddress?, eventLoop: any EventLoop,
    transport: TCPTransport, closed: Bool = false
  ) {
    self.id = id
    self.eventLoop = eventLoop
    self.transport = transport
    var logger = transport.logger
    logger[metadataKey: "peer"] = "\(id)"
    self.logger = logger
    let configuration = transport.configuration
    var initial = State(
      queue: OutboundQueue(
        maxControl: configuration.maxQueuedMessages,
        maxBulkMessages: configuration.maxQueuedBulkMessages,
        maxBulkBytes: configuration.maxQueuedBulkBytes),
      address: address)
    initial.closed = closed
    self.state = Mutex(initial)
  }

  /// Starts connecting.
  func start() {
    eventLoop.execute { self.connect() }
  }

  /// The address in use, if any.
  var address: TCPTransport.PeerAddress? {
    state.withLock { $0.address }
  }

  /// Whether the connection completed its handshake and is sending.
  var isEstablished: Bool {
    state.withLock { $0.established }
  }

  /// How many messages wait in the queue.
  var queuedCount: Int {
    state.withLock { $0.queue.count }
  }

  // MARK: Sending

  /// Queues a message and schedules a flush when the connection can take it.
  func write(_ message: RaftMessage) {
    let (dropped, schedule) = state.withLock { state -> (Int, Bool) in
      if state.closed { return (1, false) }
      let dropped = state.queue.push(message)
      guard state.established, state.writable, !state.drainScheduled else { return (dropped, false) }
      state.drainScheduled = true
      return (dropped, true)
    }
    if dropped > 0 {
      transport.counters.messagesDropped.wrappingAdd(dropped, ordering: .relaxed)
    }
    if schedule {
      eventLoop.execute { self.drain() }
    }
  }

  /// Writes queued messages while the channel is writable: every write carries as many frames as
  /// are queued (up to a byte budget) and is flushed once.
  func drain() {
    var batch: [RaftMessage] = []
    let budget = transport.configuration.maxBufferedBytesPerConnection
    let maxFrameSize = transport.configuration.maxFrameSize
    while true {
      let target = state.withLock { state -> (any Channel)? in
        state.drainScheduled = false
        guard !state.closed, state.established, let channel = state.channel else { return nil }
        guard channel.isWritable else {
          state.writable = false
          return nil
        }
        state.queue.popBatch(maxBytes: budget, into: &batch)
        return batch.isEmpty ? nil : channel
      }
      guard let channel = target else { return }
      var buffer = channel.allocator.buffer(capacity: 256 * batch.count)
      var sent = 0
      for message in batch {
        let bytes = RaftBinaryCodec.encode(message)
        guard bytes.count + RaftFrame.headerSize <= maxFrameSize else {
          logger.error(
            "dropping a \(message.kindName) message of \(bytes.count) bytes: over the frame limit of \(maxFrameSize) bytes"
          )
          transport.counters.messagesDropped.wrappingAdd(1, ordering: .relaxed)
          continue
        }
        RaftFrame.write(kind: .message, payload: bytes, into: &buffer)
        sent += 1
      }
      batch.removeAll(keepingCapacity: true)
      if sent > 0 {
        channel.writeAndFlush(buffer, promise: nil)
        transport.counters.messagesSent.wrappingAdd(sent, ordering: .relaxed)
        transport.counters.flushes.wrappingAdd(1, ordering: .relaxed)
      }
    }
  }

  /// Called by the handler when the channel's writability changes.
  func writabilityChanged(_ channel: any Channel) {
    let resume = state.withLock { state -> Bool in
      guard state.channel === channel, state.established else { return false }
      state.writable = channel.isWritable
      return state.writable && !state.queue.isEmpty
    }
    if resume { drain() }
  }

  // MARK: Connecting

  private func connect() {
    let (target, reportMissing) = state.withLock { state -> (TCPTransport.PeerAddress?, Bool) in
      state.reconnect = nil
      guard !state.closed, state.channel == nil, state.connecting == nil else { return (nil, false) }
      guard let address = state.address else {
        defer { state.missingAddressLogged = true }
        return (nil, !state.missingAddressLogged)
      }
      return (address, false)
    }
    if reportMissing {
      logger.warning("no address for peer \(id): its messages wait until the address book names it")
    }
    guard let address = target else { return }
    let future = makeBootstrap(address).connect(host: address.host, port: address.port)
    state.withLock { $0.connecting = future }
    future.whenComplete { result in
      switch result {
      case .success(let channel):
        self.connected(channel, to: address)
      case .failure(let error):
        self.connectFailed(error, address: address)
      }
    }
  }

  private func makeBootstrap(_ address: TCPTransport.PeerAddress) -> ClientBootstrap {
    let configuration = transport.configuration
    let security = transport.security
    let transport = self.transport
    let peer = self.id
    let high = configuration.maxBufferedBytesPerConnection
    return ClientBootstrap(group: eventLoop)
      .connectTimeout(TimeAmount(configuration.connectTimeout))
      .channelOption(.tcpOption(.tcp_nodelay), value: configuration.tcpNoDelay ? 1 : 0)
      .channelOption(.writeBufferWaterMark, value: .init(low: high / 2, high: high))
      .channelInitializer { channel in
        do {
          guard self.adopt(channel) else { throw ChannelError.ioOnClosedChannel }
          try security?.configureDialedChannel(channel, peer, address)
          let operations = channel.pipeline.syncOperations
          try operations.addHandler(
            ByteToMessageHandler(RaftFrameDecoder(maxFrameSize: configuration.maxFrameSize)))
          try operations.addHandler(RaftChannelHandler(transport: transport, role: .dialed(self)))
          return channel.eventLoop.makeSucceededVoidFuture()
        } catch {
          return channel.eventLoop.makeFailedFuture(error)
        }
      }
  }

  /// Takes `channel` as the peer's connection, before it connects; false when closed.
  private func adopt(_ channel: any Channel) -> Bool {
    let adopted = state.withLock { state -> Bool in
      guard !state.closed else { return false }
      state.channel = channel
      return true
    }
    if adopted {
      channel.closeFuture.whenComplete { _ in self.channelClosed(channel) }
    }
    return adopted
  }

  private func connected(_ channel: any Channel, to address: TCPTransport.PeerAddress) {
    let closed = state.withLock { state -> Bool in
      state.connecting = nil
      return state.closed
    }
    if closed {
      channel.close(promise: nil)
    }
  }

  private func connectFailed(_ error: any Error, address: TCPTransport.PeerAddress) {
    let first = state.withLock { state -> Bool in
      state.connecting = nil
      defer { state.failureLogged = true }
      return !state.failureLogged && !state.closed
    }
    if first {
      logger.warning("cannot reach peer \(id) at \(address): \(error); retrying with backoff")
    } else {
      logger.debug("cannot reach peer \(id) at \(address): \(error)")
    }
    scheduleReconnect()
  }

  /// Called by the handler when the peer answered the handshake.
  func established(_ channel: any Channel) {
    let known = state.withLock { state -> Bool in
      guard state.channel === channel, !state.closed else { return false }
      state.established = true
      state.cycleEstablished = true
      state.writable = channel.isWritable
      state.attempt = 0
      state.failureLogged = false
      return true
    }
    guard known else { return }
    transport.counters.connectionsEstablished.wrappingAdd(1, ordering: .relaxed)
    logger.info("connected to peer \(id)")
    drain()
  }

  private func channelClosed(_ channel: any Channel) {
    let (known, wasEstablished) = state.withLock { state -> (Bool, Bool) in
      guard state.channel === channel else { return (false, false) }
      let wasEstablished = state.established && !state.closed
      state.channel = nil
      state.established = false
      state.writable = false
      return (!state.closed, wasEstablished)
    }
    if wasEstablished {
      logger.info("the connection to peer \(id) closed; reconnecting")
    }
    if known { scheduleReconnect() }
  }

  private func scheduleReconnect() {
    let backoff = transport.configuration.backoff
    let failed = state.withLock { state -> Bool in
      guard !state.closed, state.reconnect == nil, state.channel == nil, state.connecting == nil,
        state.address != nil
      else { return false }
      let failed = !state.cycleEstablished
      state.cycleEstablished = false
      state.attempt = min(state.attempt + 1, 64)
      let delay = backoff.delay(attempt: state.attempt, unit: Double.random(in: 0...1))
      state.reconnect = eventLoop.scheduleTask(in: TimeAmount(delay)) { self.connect() }
      return failed
    }
    if failed {
      transport.counters.connectionFailures.wrappingAdd(1, ordering: .relaxed)
    }
  }

  // MARK: Address and closing

  /// Switches to a new address (nil: none); an open connection to the old one is closed.
  func setAddress(_ address: TCPTransport.PeerAddress?) {
    let action = state.withLock { state -> (close: (any Channel)?, connectNow: Bool) in
      guard state.address != address, !state.closed else { return (nil, false) }
      state.address = address
      state.attempt = 0
      state.missingAddressLogged = false
      if let channel = state.channel { return (channel, false) }
      state.reconnect?.cancel()
      state.reconnect = nil
      return (nil, address != nil)
    }
    if let channel = action.close {
      logger.info("the address of peer \(id) changed to \(address.map { "\($0)" } ?? "none")")
      channel.close(promise: nil)
    }
    if action.connectNow {
      eventLoop.execute { self.connect() }
    }
  }

  /// Stops for good: drops the queue, cancels reconnection and closes the connection. The future
  /// completes when the connection is closed.
  func close() -> EventLoopFuture<Void> {
    let (channel, connecting, reconnect, dropped) = state.withLock { state in
      let taken = (state.channel, state.connecting, state.reconnect, state.queue.removeAll())
      state.closed = true
      state.reconnect = nil
      state.established = false
      return taken
    }
    reconnect?.cancel()
    if dropped > 0 {
      transport.counters.messagesDropped.wrappingAdd(dropped, ordering: .relaxed)
    }
    var futures: [EventLoopFuture<Void>] = []
    if let channel {
      channel.close(promise: nil)
      futures.append(channel.closeFuture)
    }
    if let connecting {
      // `connected` closes a channel that connects after `closed` is set.
      futures.append(
        connecting.flatMap { $0.closeFuture }.recover { _ in })
    }
    return EventLoopFuture.andAllComplete(futures, on: eventLoop)
  }
}
