import Logging
import NIOCore
import WebRaft

/// Runs the handshake on one connection, then decodes its message frames and hands the messages
/// to the node. Works on both ends: `accepted` connections answer a hello, `dialed` ones send it.
final class RaftChannelHandler: ChannelInboundHandler {
  typealias InboundIn = RaftFrame
  typealias OutboundOut = ByteBuffer

  enum Role {
    /// A connection accepted by the listener.
    case accepted
    /// A connection this node opened to send to `connection`'s peer.
    case dialed(PeerConnection)
  }

  private enum State {
    case awaitingHello
    case established(NodeID)
    case closed
  }

  private let transport: TCPTransport
  private let role: Role
  private var state = State.awaitingHello
  private var timeout: Scheduled<Void>?
  private var logger: Logger

  init(transport: TCPTransport, role: Role) {
    self.transport = transport
    self.role = role
    self.logger = transport.logger
    if case .dialed(let connection) = role {
      logger[metadataKey: "peer"] = "\(connection.id)"
    }
  }

  private var roleName: String {
    switch role {
    case .accepted: return "accepted"
    case .dialed: return "dialed"
    }
  }

  // MARK: Lifecycle

  func handlerAdded(context: ChannelHandlerContext) {
    if context.channel.isActive {
      start(context: context)
    }
  }

  func channelActive(context: ChannelHandlerContext) {
    start(context: context)
    context.fireChannelActive()
  }

  private func start(context: ChannelHandlerContext) {
    guard timeout == nil, case .awaitingHello = state else { return }
    if let remote = context.channel.remoteAddress {
      logger[metadataKey: "remote"] = "\(remote)"
    }
    let channel = context.channel
    let logger = self.logger
    let limit = transport.configuration.handshakeTimeout
    let counters = transport.counters
    timeout = context.eventLoop.scheduleTask(in: TimeAmount(limit)) {
      logger.warning("closing a connection: no handshake within \(limit)")
      counters.protocolErrors.wrappingAdd(1, ordering: .relaxed)
      channel.close(promise: nil)
    }
    if case .dialed(let connection) = role {
      let hello = Hello(
        clusterID: transport.clusterID, sender: transport.id, receiver: connection.id,
        incarnation: transport.incarnations?.own)
      var buffer = context.channel.allocator.buffer(capacity: 64)
      RaftFrame.write(kind: .hello, payload: hello.encode(), into: &buffer)
      context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    timeout?.cancel()
    timeout = nil
    state = .closed
    context.fireChannelInactive()
  }

  func channelWritabilityChanged(context: ChannelHandlerContext) {
    if case .dialed(let connection) = role, case .established = state {
      connection.writabilityChanged(context.channel)
    }
    context.fireChannelWritabilityChanged()
  }

  // MARK: Frames

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let frame = unwrapInboundIn(data)
    switch (state, frame.kind) {
    case (.closed, _):
      return
    case (.awaitingHello, .hello):
      handleHello(frame.payload, context: context)
    case (.awaitingHello, .refusal):
      let (reason, kind) = (try? Refusal.decode(frame.payload)) ?? ("(unreadable reason)", .other)
      if case .dialed(let connection) = role {
        logger.warning("the peer refused the connection: \(reason)")
        close(context: context)
        transport.refused(by: connection.id, reason: reason, kind: kind)
      } else {
        violation("a refusal sent to the accepting side", context: context)
      }
    case (.awaitingHello, .message):
      if case .accepted = role {
        refuse("a message arrived before the handshake", context: context)
      } else {
        violation("a message arrived before the handshake answer", context: context)
      }
    case (.established(let remote), .message):
      deliver(frame.payload, from: remote, context: context)
    case (.established, .hello), (.established, .refusal):
      violation("a \(frame.kind) frame after the handshake", context: context)
    }
  }

  private func handleHello(_ payload: ByteBuffer, context: ChannelHandlerContext) {
    let hello: Hello
    do {
      hello = try Hello.decode(payload)
    } catch {
      switch role {
      case .accepted: refuse("malformed hello: \(error)", context: context)
      case .dialed: violation("malformed hello: \(error)", context: context)
      }
      return
    }
    switch role {
    case .accepted:
      if let reason = transport.refusalReason(for: hello, channel: context.channel) {
        refuse(reason, context: context)
        return
      }
      if let reason = transport.incarnationProblem(hello) {
        refuse(reason, kind: .incarnationMismatch, context: context)
        return
      }
      let answer = Hello(
        clusterID: transport.clusterID, sender: transport.id, receiver: hello.sender,
        incarnation: transport.incarnations?.own)
      var buffer = context.channel.allocator.buffer(capacity: 64)
      RaftFrame.write(kind: .hello, payload: answer.encode(), into: &buffer)
      context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
      established(with: hello.sender)
      transport.acceptedHandshakeCompleted(context.channel, node: hello.sender)
      logger.debug("accepted a connection from node \(hello.sender)")
    case .dialed(let connection):
      if let reason = transport.answerProblem(hello, expected: connection.id, channel: context.channel)
        ?? transport.incarnationProblem(hello)
      {
        logger.error("closing the connection to peer \(connection.id): \(reason)")
        close(context: context)
        return
      }
      established(with: hello.sender)
      connection.established(context.channel)
    }
  }

  private func established(with remote: NodeID) {
    timeout?.cancel()
    timeout = nil
    state = .established(remote)
    logger[metadataKey: "peer"] = "\(remote)"
  }

  private func deliver(_ payload: ByteBuffer, from remote: NodeID, context: ChannelHandlerContext) {
    let message: RaftMessage
    do {
      message = try RaftBinaryCodec.decodeMessage(Array(payload.readableBytesView))
    } catch {
      violation("\(error)", context: context)
      return
    }
    guard message.from == remote else {
      violation("a message from \(message.from) on the connection of \(remote)", context: context)
      return
    }
    guard message.to == transport.id else {
      violation("a message for \(message.to) reached \(transport.id)", context: context)
      return
    }
    transport.deliver(message)
  }

  // MARK: Failures

  /// Refuses a connection at the handshake: logs why, tells the peer, closes.
  private func refuse(
    _ reason: String, kind: TCPTransport.HandshakeRefusal.Kind = .other, context: ChannelHandlerContext
  ) {
    guard case .awaitingHello = state else { return }
    logger.warning("refused a connection: \(reason)")
    transport.counters.connectionsRefused.wrappingAdd(1, ordering: .relaxed)
    state = .closed
    timeout?.cancel()
    timeout = nil
    var buffer = context.channel.allocator.buffer(capacity: 64 + reason.utf8.count)
    RaftFrame.write(kind: .refusal, payload: Refusal.encode(reason, kind: kind), into: &buffer)
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in
      channel.close(promise: nil)
    }
  }

  /// Closes a connection whose peer broke the protocol, with a logged error.
  private func violation(_ reason: String, context: ChannelHandlerContext) {
    logger.error("closing a connection (\(roleName)): \(reason)")
    transport.counters.protocolErrors.wrappingAdd(1, ordering: .relaxed)
    close(context: context)
  }

  private func close(context: ChannelHandlerContext) {
    state = .closed
    timeout?.cancel()
    timeout = nil
    context.close(promise: nil)
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    guard case .closed = state else {
      if let frameError = error as? RaftFrameError {
        if case .unsupportedVersion = frameError, case .accepted = role, case .awaitingHello = state {
          refuse("\(frameError)", context: context)
        } else {
          violation("\(frameError)", context: context)
        }
      } else if error is IOError || error is ChannelError {
        logger.debug("connection failed (\(roleName)): \(error)")
        close(context: context)
      } else {
        logger.warning("connection failed (\(roleName)): \(error)")
        close(context: context)
      }
      return
    }
  }
}
