import Logging
import NIOCore
import NIOEmbedded
import Testing
import WebRaft

@testable import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The handshake and message handling of an accepted connection, on an embedded channel.
@Suite("Connection handler")
struct HandshakeHandlerTests {
  let logs = LogStore()
  let inbox = Inbox()

  private func makeTransport(handshakeTimeout: Duration = .seconds(2)) throws -> TCPTransport {
    var configuration = localConfiguration(
      cluster: "blue",
      peers: ["b": .init(host: "127.0.0.1", port: 1), "c": .init(host: "127.0.0.1", port: 2)])
    configuration.maxFrameSize = 4_096
    configuration.handshakeTimeout = handshakeTimeout
    let transport = try TCPTransport(id: "a", configuration: configuration, logger: logs.logger("a"))
    transport.attach(inbox.inbound)
    return transport
  }

  private func makeChannel(_ transport: TCPTransport) throws -> EmbeddedChannel {
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(
      ByteToMessageHandler(RaftFrameDecoder(maxFrameSize: transport.configuration.maxFrameSize)))
    try channel.pipeline.syncOperations.addHandler(
      RaftChannelHandler(transport: transport, role: .accepted))
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9_999)).wait()
    return channel
  }

  /// Decodes the frames the handler wrote.
  private func written(_ channel: EmbeddedChannel) throws -> [RaftFrame] {
    var decoder = RaftFrameDecoder(maxFrameSize: 1 << 20)
    var frames: [RaftFrame] = []
    while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
      while let frame = try decoder.decode(buffer: &buffer) { frames.append(frame) }
    }
    return frames
  }

  private func expectRefusal(
    _ hello: [UInt8], containing text: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let transport = try makeTransport()
    let channel = try makeChannel(transport)
    try channel.writeInbound(frameBuffer(.hello, hello))
    let frames = try written(channel)
    #expect(frames.count == 1, sourceLocation: sourceLocation)
    #expect(frames.first?.kind == .refusal, sourceLocation: sourceLocation)
    let reason = try frames.first.map { try Refusal.decode($0.payload).reason } ?? ""
    #expect(reason.contains(text), "\(reason)", sourceLocation: sourceLocation)
    channel.embeddedEventLoop.run()
    #expect(!channel.isActive, sourceLocation: sourceLocation)
    #expect(logs.contains(text, atLeast: .warning), sourceLocation: sourceLocation)
    #expect(transport.statistics.connectionsRefused == 1, sourceLocation: sourceLocation)
  }

  @Test("a hello from another cluster is refused with a logged reason")
  func wrongCluster() throws {
    try expectRefusal(helloPayload(cluster: "green", from: "b", to: "a"), containing: "cluster")
  }

  @Test("a hello from an unknown node is refused with a logged reason")
  func unknownNode() throws {
    try expectRefusal(helloPayload(cluster: "blue", from: "mallory", to: "a"), containing: "unknown node")
  }

  @Test("a hello meant for another node is refused")
  func wrongReceiver() throws {
    try expectRefusal(helloPayload(cluster: "blue", from: "b", to: "c"), containing: "meant to reach")
  }

  @Test("a hello claiming this node's own identity is refused")
  func ownIdentity() throws {
    try expectRefusal(helloPayload(cluster: "blue", from: "a", to: "a"), containing: "own identity")
  }

  @Test("a malformed hello is refused")
  func malformedHello() throws {
    try expectRefusal([1, 2, 3], containing: "malformed hello")
  }

  @Test("a message before the handshake is refused")
  func messageFirst() throws {
    let transport = try makeTransport()
    let channel = try makeChannel(transport)
    try channel.writeInbound(messageFrame(heartbeat("b", "a")))
    #expect(try written(channel).first?.kind == .refusal)
    channel.embeddedEventLoop.run()
    #expect(!channel.isActive)
    #expect(inbox.received.isEmpty)
  }

  @Test("a frame of an unknown version is refused with the version in the reason")
  func unknownVersionFirst() throws {
    let transport = try makeTransport()
    let channel = try makeChannel(transport)
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(4))
    buffer.writeInteger(RaftFrame.magic)
    buffer.writeInteger(UInt8(2))
    buffer.writeInteger(RaftFrame.Kind.hello.rawValue)
    _ = try? channel.writeInbound(buffer)
    let frames = try written(channel)
    #expect(frames.first?.kind == .refusal)
    let reason = try frames.first.map { try Refusal.decode($0.payload).reason } ?? ""
    #expect(reason.contains("unsupported format version 2"))
    channel.embeddedEventLoop.run()
    #expect(!channel.isActive)
  }

  @Test("after the handshake, messages are delivered and the hello is answered")
  func acceptedHandshake() throws {
    let transport = try makeTransport()
    let channel = try makeChannel(transport)
    try channel.writeInbound(frameBuffer(.hello, helloPayload(cluster: "blue", from: "b", to: "a")))
    let answer = try written(channel)
    #expect(answer.count == 1)
    #expect(answer.first?.kind == .hello)
    #expect(
      try answer.first.map { try Hello.decode($0.payload) }
        == Hello(clusterID: "blue", sender: "a", receiver: "b"))
    var stream = ByteBuffer()
    for commit in 1...5 as ClosedRange<UInt64> {
      var frame = messageFrame(heartbeat("b", "a", commit: commit))
      stream.writeBuffer(&frame)
    }
    try channel.writeInbound(stream)
    #expect(inbox.received.map(\.term) == Array(repeating: 1, count: 5))
    #expect(transport.statistics.messagesReceived == 5)
    #expect(transport.statistics.connectionsAccepted == 1)
    #expect(channel.isActive)
    _ = try? channel.finish()
  }

  @Test("a message whose sender differs from the handshake closes the connection")
  func spoofedSender() throws {
    let transport = try makeTransport()
    let channel = try makeChannel(transport)
    try channel.writeInbound(frameBuffer(.hello, helloPayload(cluster: "blue", from: "b", to: "a")))
    _ = try written(channel)
    try channel.writeInbound(messageFrame(heartbeat("c", "a")))
    channel.embeddedEventLoop.run()
    #expect(!channel.isActive)
    #expect(inbox.received.isEmpty)
    #expect(transport.statistics.protocolErrors == 1)
    #expect(logs.contains("on the connection of b", atLeast: .error))
  }

  @Test("a message for another node closes the connection")
  func wrongTarget() throws {
    let transport = try makeTransport()
    let channel = try makeChannel(transport)
    try channel.writeInbound(frameBuffer(.hello, helloPayload(cluster: "blue", from: "b", to: "a")))
    try channel.writeInbound(messageFrame(heartbeat("b", "c")))
    channel.embeddedEventLoop.run()
    #expect(!channel.isActive)
    #expect(inbox.received.isEmpty)
  }

  @Test("a malformed message closes the connection with a logged error")
  func malformedMessage() throws {
    let transport = try makeTransport()
    let channel = try makeChannel(transport)
    try channel.writeInbound(frameBuffer(.hello, helloPayload(cluster: "blue", from: "b", to: "a")))
    try channel.writeInbound(frameBuffer(.message, [1, 0x62, 1, 0x61, 1, 99]))
    channel.embeddedEventLoop.run()
    #expect(!channel.isActive)
    #expect(logs.contains("unknown message kind 99", atLeast: .error))
  }

  @Test("a length over the limit closes the connection with a logged error")
  func oversizedFrame() throws {
    let transport = try makeTransport()
    let channel = try makeChannel(transport)
    try channel.writeInbound(frameBuffer(.hello, helloPayload(cluster: "blue", from: "b", to: "a")))
    var buffer = ByteBuffer()
    buffer.writeInteger(UInt32(1 << 30))
    buffer.writeBytes([0x52, 0x46, RaftBinaryCodec.formatVersion, RaftFrame.Kind.message.rawValue])
    _ = try? channel.writeInbound(buffer)
    channel.embeddedEventLoop.run()
    #expect(!channel.isActive)
    #expect(logs.contains("frame length 1073741824 exceeds the limit of 4096 bytes", atLeast: .error))
    #expect(transport.statistics.protocolErrors == 1)
  }

  @Test("a connection that does not complete the handshake in time is closed")
  func handshakeTimeout() throws {
    let transport = try makeTransport(handshakeTimeout: .milliseconds(500))
    let channel = try makeChannel(transport)
    // Half a hello, then nothing.
    var hello = frameBuffer(.hello, helloPayload(cluster: "blue", from: "b", to: "a"))
    try channel.writeInbound(hello.readSlice(length: 6)!)
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(400))
    #expect(channel.isActive)
    channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
    #expect(!channel.isActive)
    #expect(logs.contains("no handshake within", atLeast: .warning))
  }

  @Test("messages arriving before a node is attached are counted, not delivered")
  func noInboundYet() throws {
    var configuration = localConfiguration(cluster: "blue", peers: ["b": .init(host: "127.0.0.1", port: 1)])
    configuration.maxFrameSize = 4_096
    let transport = try TCPTransport(id: "a", configuration: configuration, logger: logs.logger("a"))
    let channel = try makeChannel(transport)
    try channel.writeInbound(frameBuffer(.hello, helloPayload(cluster: "blue", from: "b", to: "a")))
    try channel.writeInbound(messageFrame(heartbeat("b", "a")))
    #expect(transport.statistics.messagesUndelivered == 1)
    transport.attach(inbox.inbound)
    try channel.writeInbound(messageFrame(heartbeat("b", "a")))
    #expect(inbox.received.count == 1)
    _ = try? channel.finish()
  }
}

@Suite("Configuration")
struct ConfigurationTests {
  @Test("addresses parse from host:port")
  func parseAddresses() {
    #expect(TCPTransport.PeerAddress("127.0.0.1:7001") == .init(host: "127.0.0.1", port: 7001))
    #expect(TCPTransport.PeerAddress("[::1]:80") == .init(host: "::1", port: 80))
    #expect(TCPTransport.PeerAddress("node-a.example:0")?.host == "node-a.example")
    #expect(TCPTransport.PeerAddress("nohost") == nil)
    #expect(TCPTransport.PeerAddress(":80") == nil)
    #expect(TCPTransport.PeerAddress("a:70000") == nil)
    #expect(TCPTransport.PeerAddress("a:-1") == nil)
    #expect(TCPTransport.PeerAddress(host: "::1", port: 5).description == "[::1]:5")
  }

  @Test("backoff grows exponentially up to the cap, with jitter below the delay")
  func backoff() {
    let backoff = TCPTransport.Backoff(
      initial: .milliseconds(10), maximum: .seconds(1), multiplier: 2, jitter: 0.5)
    #expect(backoff.delay(attempt: 1, unit: 0) == .milliseconds(10))
    #expect(backoff.delay(attempt: 2, unit: 0) == .milliseconds(20))
    #expect(backoff.delay(attempt: 5, unit: 0) == .milliseconds(160))
    #expect(backoff.delay(attempt: 30, unit: 0) == .seconds(1))
    #expect(backoff.delay(attempt: 1_000_000, unit: 0) == .seconds(1))
    #expect(backoff.delay(attempt: 30, unit: 1) == .milliseconds(500))
    #expect(backoff.delay(attempt: 3, unit: 1) == .milliseconds(20))
  }

  @Test("invalid settings are rejected")
  func validation() {
    var configuration = localConfiguration()
    configuration.maxFrameSize = 10
    #expect(throws: RaftError.self) {
      _ = try TCPTransport(id: "a", configuration: configuration, logger: Logger(label: "x"))
    }
    configuration = localConfiguration()
    configuration.clusterID = ""
    #expect(throws: RaftError.self) { try configuration.validate() }
    configuration = localConfiguration()
    configuration.backoff.jitter = 2
    #expect(throws: RaftError.self) { try configuration.validate() }
    configuration = localConfiguration(peers: ["b": .init(host: "h", port: 0)])
    #expect(throws: RaftError.self) { try configuration.validate() }
    #expect(throws: Never.self) { try localConfiguration().validate() }
  }
}

@Suite("Outbound queue")
struct OutboundQueueTests {
  private func append(_ count: Int, bytes: Int = 100) -> RaftMessage {
    let entries = (0..<count).map {
      LogEntry(index: UInt64($0) + 1, term: 1, payload: .command(Data(count: bytes)))
    }
    return RaftMessage(
      from: "a", to: "b", term: 1,
      body: .appendEntries(AppendEntries(prevLogIndex: 0, prevLogTerm: 0, entries: entries, leaderCommit: 0)))
  }

  @Test("small messages go first; bulk messages follow within the byte budget")
  func priority() {
    var queue = OutboundQueue(maxControl: 10, maxBulkMessages: 10, maxBulkBytes: 1 << 20)
    _ = queue.push(append(1, bytes: 1_000))
    _ = queue.push(append(1, bytes: 1_000))
    _ = queue.push(heartbeat("a", "b"))
    _ = queue.push(append(1, bytes: 1_000))
    var batch: [RaftMessage] = []
    queue.popBatch(maxBytes: 2_200, into: &batch)
    #expect(batch.count == 3)
    if case .heartbeat = batch.first?.body {} else { Issue.record("the heartbeat is not first") }
    batch.removeAll()
    queue.popBatch(maxBytes: 10, into: &batch)
    #expect(batch.count == 1)  // at least one, even over the budget
    #expect(queue.isEmpty)
  }

  @Test("each lane is bounded and drops its oldest messages")
  func bounds() {
    var queue = OutboundQueue(maxControl: 3, maxBulkMessages: 4, maxBulkBytes: 10_000)
    var dropped = 0
    for commit in 1...10 as ClosedRange<UInt64> {
      dropped += queue.push(heartbeat("a", "b", commit: commit))
    }
    #expect(dropped == 7)
    #expect(queue.control.map(\.message) == (8...10).map { heartbeat("a", "b", commit: $0) })
    for _ in 0..<10 { dropped += queue.push(append(1, bytes: 10)) }
    #expect(queue.bulk.count == 4)
    for _ in 0..<10 { dropped += queue.push(append(10, bytes: 1_000)) }
    #expect(queue.bulkBytes <= 10_000 || queue.bulk.count == 1)
    #expect(queue.bulk.count == 1)
    // A single message over the byte bound is kept (the frame limit bounds it).
    _ = queue.push(append(100, bytes: 1_000))
    #expect(queue.bulk.count == 1)
    #expect(queue.removeAll() == 4)
  }
}
