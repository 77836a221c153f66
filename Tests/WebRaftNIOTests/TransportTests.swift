import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import Testing
import WebRaft

@testable import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Starts a transport on 127.0.0.1 with an ephemeral port.
func startTransport(
  _ id: NodeID, cluster: String = "test-cluster", peers: [NodeID: TCPTransport.PeerAddress] = [:],
  logs: LogStore, security: TCPTransport.Security? = nil, port: Int = 0,
  configure: (inout TCPTransport.Configuration) -> Void = { _ in }
) async throws -> TCPTransport {
  var configuration = localConfiguration(cluster: cluster, peers: peers)
  configuration.listenAddress.port = port
  configure(&configuration)
  // A test that restarts a node on its old port can find it taken for a moment (the old socket
  // closing, or another test's outbound connection given that port): retry for a few seconds.
  var attempt = 0
  while true {
    let transport = try TCPTransport(
      id: id, configuration: configuration, logger: logs.logger("\(id)"), security: security)
    do {
      try await transport.start()
      return transport
    } catch let error as IOError where error.errnoCode == EADDRINUSE && port != 0 && attempt < 50 {
      attempt += 1
      await transport.shutdown()
      try await Task.sleep(for: .milliseconds(100))
    }
  }
}

/// A bare TCP client that writes whatever a test gives it and keeps what it receives.
final class RawClient: Sendable {
  let channel: any Channel
  private let received: Received

  private final class Received: Sendable {
    let bytes = Mutex<[UInt8]>([])
  }

  private final class Collector: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let received: Received
    init(received: Received) { self.received = received }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      let bytes = Array(unwrapInboundIn(data).readableBytesView)
      received.bytes.withLock { $0.append(contentsOf: bytes) }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
      context.close(promise: nil)
    }
  }

  private init(channel: any Channel, received: Received) {
    self.channel = channel
    self.received = received
  }

  static func connect(to port: Int) async throws -> RawClient {
    let received = Received()
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHandler(Collector(received: received))
        }
      }
      .connect(host: "127.0.0.1", port: port).get()
    return RawClient(channel: channel, received: received)
  }

  func send(_ buffer: ByteBuffer) async throws {
    try await channel.writeAndFlush(buffer)
  }

  func send(_ bytes: [UInt8]) async throws {
    try await send(ByteBuffer(bytes: bytes))
  }

  var isActive: Bool { channel.isActive }
  var receivedBytes: [UInt8] { received.bytes.withLock { $0 } }

  func close() async {
    try? await channel.close()
  }
}

@Suite("TCP transport", .timeLimit(.minutes(1)))
struct TransportTests {
  let logs = LogStore()

  @Test("messages flow between two transports and are coalesced into few flushes")
  func messagesFlow() async throws {
    let inboxA = Inbox()
    let inboxB = Inbox()
    let a = try await startTransport(
      "a", peers: ["b": .init(host: "127.0.0.1", port: 1)], logs: logs
    ) { configuration in
      // A burst larger than the default bound of 1,024 small messages.
      configuration.maxQueuedMessages = 10_000
    }
    let b = try await startTransport("b", peers: ["a": a.boundAddress!], logs: logs)
    a.updatePeers(["b": b.boundAddress!])
    a.attach(inboxA.inbound)
    b.attach(inboxB.inbound)
    let ab = a.makePeer("b", inbound: inboxA.inbound)
    let ba = b.makePeer("a", inbound: inboxB.inbound)
    #expect(await eventually { (ab as? TCPTransport.Peer)?.isConnected == true })
    for commit in 0..<5_000 as Range<UInt64> {
      ab.write(heartbeat("a", "b", commit: commit))
    }
    ba.write(heartbeat("b", "a"))
    #expect(await eventually { inboxB.count(from: "a") == 5_000 })
    #expect(await eventually { inboxA.count(from: "b") == 1 })
    let commits = inboxB.received.prefix(5_000).compactMap { message -> UInt64? in
      if case .heartbeat(let beat) = message.body { return beat.commit }
      return nil
    }
    #expect(commits.count == 5_000 && zip(commits, 0...).allSatisfy { $0 == $1 }, "out of order")
    let statistics = a.statistics
    #expect(statistics.messagesSent == 5_000)
    #expect(statistics.flushes < 5_000)
    await a.shutdown()
    await b.shutdown()
  }

  @Test("handshake refusals: another cluster, an unknown node, the wrong node")
  func refusals() async throws {
    let inbox = Inbox()
    let a = try await startTransport(
      "a", cluster: "blue", peers: ["b": .init(host: "127.0.0.1", port: 1)], logs: logs)
    a.attach(inbox.inbound)
    let address = a.boundAddress!

    // Another cluster.
    let green = try await startTransport("b", cluster: "green", peers: ["a": address], logs: logs)
    green.makePeer("a", inbound: Inbox().inbound).write(heartbeat("b", "a"))
    #expect(
      await eventually {
        logs.contains("is in cluster \"green\", this node is in \"blue\"", atLeast: .warning)
      })
    #expect(await eventually { logs.contains("the peer refused the connection", atLeast: .warning) })

    // An unknown node.
    let stranger = try await startTransport("zed", cluster: "blue", peers: ["a": address], logs: logs)
    let strangerPeer = stranger.makePeer("a", inbound: Inbox().inbound)
    strangerPeer.write(heartbeat("zed", "a"))
    #expect(await eventually { logs.contains("unknown node zed", atLeast: .warning) })

    // A connection meant for another node.
    let lost = try await startTransport("b", cluster: "blue", peers: ["c": address], logs: logs)
    lost.makePeer("c", inbound: Inbox().inbound).write(heartbeat("b", "c"))
    #expect(
      await eventually { logs.contains("meant to reach node c, but this is node a", atLeast: .warning) })

    #expect(a.statistics.connectionsRefused >= 3)
    #expect(a.statistics.connectionsAccepted == 0)
    #expect(inbox.received.isEmpty)

    // Once the stranger is in the address book, it gets through (after its backoff).
    a.updatePeers(["b": .init(host: "127.0.0.1", port: 1), "zed": .init(host: "127.0.0.1", port: 2)])
    #expect(await eventually { inbox.count(from: "zed") > 0 })

    // Removing it again closes its connection.
    a.updatePeers(["b": .init(host: "127.0.0.1", port: 1)])
    #expect(await eventually { logs.contains("closing the connection from node zed") })

    for transport in [a, green, stranger, lost] { await transport.shutdown() }
  }

  @Test("a peer address that leads to another node is refused, and retried with backoff")
  func answerFromTheWrongNode() async throws {
    // c allows a and thinks it is reached as c; a believes that address is b's. c refuses first
    // (meant for b); a logs the refusal and keeps retrying with backoff.
    let c = try await startTransport("c", peers: ["a": .init(host: "127.0.0.1", port: 1)], logs: logs)
    let a = try await startTransport("a", peers: ["b": c.boundAddress!], logs: logs)
    a.makePeer("b", inbound: Inbox().inbound).write(heartbeat("a", "b"))
    #expect(await eventually { a.statistics.connectionFailures >= 2 })
    #expect(logs.contains("meant to reach node b, but this is node c"))
    await a.shutdown()
    await c.shutdown()
  }

  @Test("garbage, oversized frames, stalls and floods do not stop a node serving its peers")
  func badPeers() async throws {
    let inbox = Inbox()
    let a = try await startTransport(
      "a", peers: ["b": .init(host: "127.0.0.1", port: 1), "m": .init(host: "127.0.0.1", port: 2)],
      logs: logs
    ) { configuration in
      configuration.maxFrameSize = 64 << 10
      configuration.handshakeTimeout = .milliseconds(800)
    }
    a.attach(inbox.inbound)
    let b = try await startTransport("b", peers: ["a": a.boundAddress!], logs: logs)
    let peer = b.makePeer("a", inbound: Inbox().inbound)
    let sender = Task {
      var commit: UInt64 = 0
      while !Task.isCancelled {
        peer.write(heartbeat("b", "a", commit: commit))
        commit += 1
        try? await Task.sleep(for: .milliseconds(2))
      }
    }
    defer { sender.cancel() }
    /// Whether b's messages keep arriving.
    func stillServing() async -> Bool {
      let before = inbox.count(from: "b")
      return await eventually(timeout: .seconds(5)) { inbox.count(from: "b") > before + 10 }
    }
    #expect(await eventually { inbox.count(from: "b") > 0 })
    let port = a.boundAddress!.port
    let hello = frameBuffer(.hello, helloPayload(cluster: "test-cluster", from: "m", to: "a"))

    // Garbage: an HTTP request, then random bytes.
    let garbage = try await RawClient.connect(to: port)
    try await garbage.send(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
    #expect(await eventually { !garbage.isActive })
    #expect(logs.contains("bad frame magic", atLeast: .error))
    #expect(await stillServing())

    // A length prefix over the limit, after a valid handshake.
    let oversized = try await RawClient.connect(to: port)
    try await oversized.send(hello)
    var prefix = ByteBuffer()
    prefix.writeInteger(UInt32(0x7FFF_FFFF))
    prefix.writeBytes([0x52, 0x46, RaftBinaryCodec.formatVersion, RaftFrame.Kind.message.rawValue])
    try await oversized.send(prefix)
    #expect(await eventually { !oversized.isActive })
    #expect(logs.contains("frame length 2147483647 exceeds the limit of 65536 bytes", atLeast: .error))
    #expect(await stillServing())

    // A stall in the middle of a frame, after the handshake: the connection stays, others flow.
    let stalled = try await RawClient.connect(to: port)
    try await stalled.send(hello)
    var half = messageFrame(heartbeat("m", "a"))
    try await stalled.send(half.readSlice(length: half.readableBytes / 2)!)
    #expect(await stillServing())
    #expect(stalled.isActive)

    // A stall in the handshake: closed after the handshake timeout.
    let mute = try await RawClient.connect(to: port)
    try await mute.send([0, 0, 0])
    #expect(await eventually { !mute.isActive })
    #expect(await stillServing())

    // A flood of garbage from several connections at once.
    var flooders: [RawClient] = []
    for _ in 0..<8 {
      let client = try await RawClient.connect(to: port)
      flooders.append(client)
      var random = SplitMix64(seed: UInt64(flooders.count))
      let bytes = (0..<(256 << 10)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
      client.channel.writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
    }
    #expect(await eventually { flooders.allSatisfy { !$0.isActive } })
    #expect(await stillServing())

    // A flood of valid messages from an allowed node: b is still served while it lasts.
    let flood = try await RawClient.connect(to: port)
    try await flood.send(hello)
    var batch = ByteBuffer()
    for commit in 0..<2_000 as Range<UInt64> {
      var frame = messageFrame(heartbeat("m", "a", commit: commit))
      batch.writeBuffer(&frame)
    }
    let floodTask = Task {
      for _ in 0..<100 {
        try await flood.send(batch)
      }
    }
    #expect(await stillServing())
    try await floodTask.value
    #expect(await eventually { inbox.count(from: "m") == 200_000 })
    #expect(await stillServing())

    #expect(a.statistics.protocolErrors >= 10)
    for client in [stalled, flood] { await client.close() }
    sender.cancel()
    await b.shutdown()
    await a.shutdown()
  }

  @Test("idle connections cannot lock a peer out when the connection limit is reached")
  func connectionLimit() async throws {
    let inbox = Inbox()
    let a = try await startTransport(
      "a", peers: ["b": .init(host: "127.0.0.1", port: 1)], logs: logs
    ) { configuration in
      configuration.maxInboundConnections = 3
      configuration.handshakeTimeout = .seconds(30)
    }
    a.attach(inbox.inbound)
    let port = a.boundAddress!.port
    var idle: [RawClient] = []
    for _ in 0..<5 {
      idle.append(try await RawClient.connect(to: port))
    }
    #expect(await eventually { idle.filter(\.isActive).count == 3 })
    let b = try await startTransport("b", peers: ["a": a.boundAddress!], logs: logs)
    b.makePeer("a", inbound: Inbox().inbound).write(heartbeat("b", "a"))
    #expect(await eventually { inbox.count(from: "b") == 1 })
    #expect(logs.contains("that has not completed its handshake", atLeast: .warning))
    // The limit holds: at most 3 connections, b's among them.
    #expect(await eventually { idle.filter(\.isActive).count <= 2 })
    for client in idle { await client.close() }
    await a.shutdown()
    await b.shutdown()
  }

  @Test("a newer connection from a node replaces its older one")
  func staleConnectionIsReplaced() async throws {
    let a = try await startTransport(
      "a", peers: ["b": .init(host: "127.0.0.1", port: 1)], logs: logs)
    a.attach(Inbox().inbound)
    let port = a.boundAddress!.port
    let hello = frameBuffer(.hello, helloPayload(cluster: "test-cluster", from: "b", to: "a"))
    let first = try await RawClient.connect(to: port)
    try await first.send(hello)
    #expect(await eventually { a.statistics.connectionsAccepted == 1 })
    #expect(first.isActive)
    let second = try await RawClient.connect(to: port)
    try await second.send(hello)
    #expect(await eventually { !first.isActive })
    #expect(second.isActive)
    await second.close()
    await a.shutdown()
  }

  @Test("a peer that is down costs a bounded queue")
  func boundedQueueWhileDown() async throws {
    let a = try await startTransport(
      "a", peers: ["b": .init(host: "127.0.0.1", port: 1)], logs: logs
    ) { configuration in
      configuration.maxQueuedMessages = 100
      configuration.maxQueuedBulkMessages = 50
      configuration.maxQueuedBulkBytes = 1 << 20
    }
    let peer = a.makePeer("b", inbound: Inbox().inbound) as! TCPTransport.Peer
    let entry = LogEntry(index: 1, term: 1, payload: .command(Data(count: 10_000)))
    for round in 0..<20_000 {
      if round % 2 == 0 {
        peer.write(heartbeat("a", "b", commit: UInt64(round)))
      } else {
        peer.write(
          RaftMessage(
            from: "a", to: "b", term: 1,
            body: .appendEntries(
              AppendEntries(prevLogIndex: 0, prevLogTerm: 0, entries: [entry], leaderCommit: 0))))
      }
      #expect(peer.connection.queuedCount <= 150)
    }
    #expect(peer.connection.queuedCount == 150)
    #expect(a.statistics.messagesDropped == 20_000 - 150)
    #expect(await eventually { logs.contains("cannot reach peer b", atLeast: .warning) })
    await a.shutdown()
    // After shutdown, writes are dropped.
    peer.write(heartbeat("a", "b"))
    #expect(peer.connection.queuedCount == 0)
  }

  @Test("small messages queued while a peer was away go out before bulk appends")
  func priorityAfterReconnect() async throws {
    let inbox = Inbox()
    let a = try await startTransport("a", logs: logs)
    let peer = a.makePeer("b", inbound: Inbox().inbound)
    let entry = LogEntry(index: 1, term: 1, payload: .command(Data(count: 1_000)))
    for _ in 0..<200 {
      peer.write(
        RaftMessage(
          from: "a", to: "b", term: 1,
          body: .appendEntries(
            AppendEntries(prevLogIndex: 0, prevLogTerm: 0, entries: [entry], leaderCommit: 0))))
    }
    peer.write(
      RaftMessage(
        from: "a", to: "b", term: 2,
        body: .voteRequest(VoteRequest(preVote: false, lastLogIndex: 1, lastLogTerm: 1))))
    #expect(await eventually { logs.contains("no address for peer b") })
    let b = try await startTransport("b", peers: ["a": .init(host: "127.0.0.1", port: 1)], logs: logs)
    b.attach(inbox.inbound)
    a.setAddress(b.boundAddress!, for: "b")
    #expect(await eventually { inbox.received.count == 201 })
    if case .voteRequest = inbox.received.first?.body {
    } else {
      Issue.record("the vote request did not go first: \(inbox.received.first?.kindName ?? "none")")
    }
    await a.shutdown()
    await b.shutdown()
  }

  @Test("a connection is reopened after the peer restarts, and follows an address change")
  func reconnection() async throws {
    let inbox = Inbox()
    var b = try await startTransport("b", peers: ["a": .init(host: "127.0.0.1", port: 1)], logs: logs)
    b.attach(inbox.inbound)
    let port = b.boundAddress!.port
    let a = try await startTransport("a", peers: ["b": b.boundAddress!], logs: logs)
    let peer = a.makePeer("b", inbound: Inbox().inbound)
    peer.write(heartbeat("a", "b"))
    #expect(await eventually { inbox.count(from: "a") == 1 })

    await b.shutdown()
    b = try await startTransport(
      "b", peers: ["a": .init(host: "127.0.0.1", port: 1)], logs: logs, port: port)
    b.attach(inbox.inbound)
    #expect(
      await eventually {
        peer.write(heartbeat("a", "b"))
        return inbox.count(from: "a") > 1
      })

    // Move b to another port.
    await b.shutdown()
    b = try await startTransport("b", peers: ["a": .init(host: "127.0.0.1", port: 1)], logs: logs)
    b.attach(inbox.inbound)
    a.setAddress(b.boundAddress!, for: "b")
    let before = inbox.count(from: "a")
    #expect(
      await eventually {
        peer.write(heartbeat("a", "b"))
        return inbox.count(from: "a") > before
      })
    #expect(a.statistics.connectionsEstablished >= 3)
    await a.shutdown()
    await b.shutdown()
  }

  @Test("the transport runs as a service and stops on graceful shutdown or cancellation")
  func service() async throws {
    let logger = logs.logger("service")
    let transport = try TCPTransport(id: "a", configuration: localConfiguration(), logger: logger)
    let group = ServiceGroup(services: [transport], logger: logger)
    let running = Task { try await group.run() }
    #expect(await eventually { transport.localAddress != nil })
    let port = transport.boundAddress!.port
    await group.triggerGracefulShutdown()
    try await running.value
    #expect(logs.contains("raft transport stopped"))
    await #expect(throws: (any Error).self) { _ = try await RawClient.connect(to: port) }
    await #expect(throws: RaftError.shutdown) { try await transport.start() }

    let second = try TCPTransport(id: "b", configuration: localConfiguration(), logger: logger)
    let task = Task { try await second.run() }
    #expect(await eventually { second.localAddress != nil })
    task.cancel()
    try await task.value
    // An explicit shutdown after the service ended returns at once.
    await second.shutdown()
  }
}
