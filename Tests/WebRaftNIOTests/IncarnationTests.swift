import Logging
import NIOCore
import NIOEmbedded
import Synchronization
import Testing
import WebRaft
import WebRaftFileStorage

@testable import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#endif

/// A directory under /tmp, removed with everything in it when released.
final class ScratchDirectory: Sendable {
  let path: String

  init() {
    path = "/tmp/webraft-incarnation-\(UInt64.random(in: 1...UInt64.max))"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  /// Removes everything in it, as an operator who wipes a node's data directory does.
  func wipe() {
    try? FileManager.default.removeItem(atPath: path)
  }

  deinit {
    try? FileManager.default.removeItem(atPath: path)
  }
}

/// The incarnation in the handshake: its encoding, the accepting side's check, and a node that
/// comes back on a wiped data directory.
@Suite("Peer incarnations")
struct IncarnationTests {
  let logs = LogStore()

  // MARK: Codec

  @Test("a hello carries the incarnation; a hello without one (older senders) still decodes")
  func helloCodec() throws {
    let hello = Hello(clusterID: "c", sender: "a", receiver: "b", incarnation: 0x0102_0304_0506_0708)
    let bytes = hello.encode()
    #expect(Array(bytes.suffix(8)) == [1, 2, 3, 4, 5, 6, 7, 8])
    #expect(try Hello.decode(ByteBuffer(bytes: bytes)) == hello)
    let old = try Hello.decode(ByteBuffer(bytes: helloPayload(cluster: "c", from: "a", to: "b")))
    #expect(old == Hello(clusterID: "c", sender: "a", receiver: "b", incarnation: nil))
    let none = Hello(clusterID: "c", sender: "a", receiver: "b")
    #expect(try Hello.decode(ByteBuffer(bytes: none.encode())).incarnation == nil)
    #expect(throws: RaftError.self) { try Hello.decode(ByteBuffer(bytes: bytes + [0])) }
    #expect(throws: RaftError.self) { try Hello.decode(ByteBuffer(bytes: bytes.dropLast(1))) }
  }

  @Test("a refusal carries its kind; one without a kind, or with an unknown kind, is 'other'")
  func refusalCodec() throws {
    let mismatch = Refusal.encode("wiped", kind: .incarnationMismatch)
    #expect(try Refusal.decode(ByteBuffer(bytes: mismatch)) == ("wiped", .incarnationMismatch))
    var old = BinaryWriter()
    old.write(string: "no")
    #expect(try Refusal.decode(ByteBuffer(bytes: old.bytes)) == ("no", .other))
    #expect(try Refusal.decode(ByteBuffer(bytes: old.bytes + [200])) == ("no", .other))
    #expect(throws: RaftError.self) { try Refusal.decode(ByteBuffer(bytes: mismatch + [1])) }
  }

  // MARK: The accepting side

  private func acceptingChannel(book: PeerIncarnationBook) throws -> (TCPTransport, EmbeddedChannel) {
    let transport = try TCPTransport(
      id: "a",
      configuration: localConfiguration(cluster: "blue", peers: ["b": .init(host: "127.0.0.1", port: 1)]),
      logger: logs.logger("a"), incarnations: book)
    let channel = EmbeddedChannel()
    try channel.pipeline.syncOperations.addHandler(
      ByteToMessageHandler(RaftFrameDecoder(maxFrameSize: 4_096)))
    try channel.pipeline.syncOperations.addHandler(RaftChannelHandler(transport: transport, role: .accepted))
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9_999)).wait()
    return (transport, channel)
  }

  private func answer(_ channel: EmbeddedChannel, to hello: Hello) throws -> RaftFrame? {
    try channel.writeInbound(frameBuffer(.hello, hello.encode()))
    var decoder = RaftFrameDecoder(maxFrameSize: 4_096)
    guard var buffer = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
    return try decoder.decode(buffer: &buffer)
  }

  @Test("the accepting side records a first incarnation, accepts it again, and refuses another one")
  func acceptingSideChecks() throws {
    let stored = Mutex<[NodeID: UInt64]>([:])
    let book = PeerIncarnationBook(own: 11, persist: { known in stored.withLock { $0 = known } })

    let (_, first) = try acceptingChannel(book: book)
    let answered = try #require(
      try answer(first, to: Hello(clusterID: "blue", sender: "b", receiver: "a", incarnation: 7)))
    #expect(answered.kind == .hello)
    #expect(try Hello.decode(answered.payload).incarnation == 11)
    #expect(stored.withLock { $0 } == ["b": 7])

    let (_, same) = try acceptingChannel(book: book)
    #expect(
      try answer(same, to: Hello(clusterID: "blue", sender: "b", receiver: "a", incarnation: 7))?.kind
        == .hello)

    for presented in [8, nil] as [UInt64?] {
      let (transport, other) = try acceptingChannel(book: book)
      let refusal = try #require(
        try answer(other, to: Hello(clusterID: "blue", sender: "b", receiver: "a", incarnation: presented)))
      #expect(refusal.kind == .refusal)
      let (reason, kind) = try Refusal.decode(refusal.payload)
      #expect(kind == .incarnationMismatch)
      #expect(reason.contains("wiped") && reason.contains("Remove b"), "\(reason)")
      other.embeddedEventLoop.run()
      #expect(!other.isActive)
      #expect(transport.statistics.connectionsRefused == 1)
    }
    #expect(book.recorded == ["b": 7])
    try book.forget("b")
    #expect(stored.withLock { $0 }.isEmpty)
  }

  // MARK: Nodes on data directories

  /// A transport whose identity and peer book live in a FileStorage directory.
  private final class DirectoryNode: Sendable {
    let storage: FileStorage
    let transport: TCPTransport
    let refusals = Mutex<[TCPTransport.HandshakeRefusal]>([])

    init(storage: FileStorage, transport: TCPTransport) {
      self.storage = storage
      self.transport = transport
    }

    func stop() async {
      await transport.shutdown()
      storage.close()
    }
  }

  private func startNode(
    _ id: NodeID, directory: String, peers: [NodeID: TCPTransport.PeerAddress], port: Int = 0
  ) async throws -> DirectoryNode {
    let storage = try FileStorage(directory: directory, clusterID: "blue", nodeID: id)
    let identity = try #require(try storage.readIdentity())
    let book = PeerIncarnationBook(
      own: identity.incarnation, known: try storage.peerIncarnations(),
      persist: { try storage.recordPeerIncarnations($0) })
    var configuration = localConfiguration(cluster: "blue", peers: peers)
    configuration.listenAddress.port = port
    var attempt = 0
    while true {
      let transport = try TCPTransport(
        id: id, configuration: configuration, logger: logs.logger("\(id)"), incarnations: book)
      do {
        try await transport.start()
        let node = DirectoryNode(storage: storage, transport: transport)
        transport.onRefusal { refusal in node.refusals.withLock { $0.append(refusal) } }
        return node
      } catch let error as IOError where error.errnoCode == EADDRINUSE && port != 0 && attempt < 50 {
        attempt += 1
        await transport.shutdown()
        try await Task.sleep(for: .milliseconds(100))
      }
    }
  }

  @Test(
    "a node restarted on its directory is accepted; restarted on a wiped one it is refused and learns why")
  func wipedNodeRefused() async throws {
    let directoryA = ScratchDirectory()
    let directoryB = ScratchDirectory()
    let inboxA = Inbox()
    let inboxB = Inbox()
    let a = try await startNode(
      "a", directory: directoryA.path, peers: ["b": .init(host: "127.0.0.1", port: 1)])
    a.transport.attach(inboxA.inbound)
    var b = try await startNode("b", directory: directoryB.path, peers: ["a": a.transport.boundAddress!])
    b.transport.attach(inboxB.inbound)
    let port = b.transport.boundAddress!.port
    a.transport.updatePeers(["b": b.transport.boundAddress!])
    let toB = a.transport.makePeer("b", inbound: inboxA.inbound)
    var toA = b.transport.makePeer("a", inbound: inboxB.inbound)
    #expect(
      await eventually {
        toA.write(heartbeat("b", "a"))
        return inboxA.count(from: "b") > 0
      })
    #expect(
      await eventually {
        toB.write(heartbeat("a", "b"))
        return inboxB.count(from: "a") > 0
      })
    let incarnationB = try #require(try b.storage.readIdentity()).incarnation
    #expect(try a.storage.peerIncarnations() == ["b": incarnationB])

    // Restarted on its directory: the same incarnation, accepted both ways.
    await b.stop()
    b = try await startNode(
      "b", directory: directoryB.path, peers: ["a": a.transport.boundAddress!], port: port)
    b.transport.attach(inboxB.inbound)
    toA = b.transport.makePeer("a", inbound: inboxB.inbound)
    var received = inboxA.count(from: "b")
    #expect(
      await eventually {
        toA.write(heartbeat("b", "a"))
        return inboxA.count(from: "b") > received
      })
    received = inboxB.count(from: "a")
    #expect(
      await eventually {
        toB.write(heartbeat("a", "b"))
        return inboxB.count(from: "a") > received
      })
    #expect(b.refusals.withLock { $0 }.isEmpty)

    // Restarted on a wiped directory: refused, and b learns that it is its incarnation.
    await b.stop()
    directoryB.wipe()
    b = try await startNode(
      "b", directory: directoryB.path, peers: ["a": a.transport.boundAddress!], port: port)
    b.transport.attach(inboxB.inbound)
    #expect(try b.storage.readIdentity()?.incarnation != incarnationB)
    toA = b.transport.makePeer("a", inbound: inboxB.inbound)
    let receivedByA = inboxA.count(from: "b")
    let receivedByB = inboxB.count(from: "a")
    #expect(
      await eventually {
        toA.write(heartbeat("b", "a"))
        return b.refusals.withLock { $0.contains { $0.kind == .incarnationMismatch } }
      })
    let refusal = try #require(b.refusals.withLock { $0.first })
    #expect(refusal.peer == "a")
    #expect(refusal.reason.contains("wiped"))
    #expect(b.transport.statistics.incarnationRefusals > 0)
    // Neither way gets a message through: a refuses b's connection and drops its own to b.
    for _ in 0..<20 {
      toA.write(heartbeat("b", "a"))
      toB.write(heartbeat("a", "b"))
      try await Task.sleep(for: .milliseconds(20))
    }
    #expect(inboxA.count(from: "b") == receivedByA)
    #expect(inboxB.count(from: "a") == receivedByB)
    #expect(try a.storage.peerIncarnations() == ["b": incarnationB], "the known incarnation was replaced")

    // Once a forgets b (it was removed from the cluster), the new b is trusted on first use.
    a.transport.forgetIncarnation(of: "b")
    #expect(
      await eventually {
        toA.write(heartbeat("b", "a"))
        return inboxA.count(from: "b") > receivedByA
      })
    #expect(try a.storage.peerIncarnations() == ["b": try #require(try b.storage.readIdentity()).incarnation])
    await b.stop()
    await a.stop()
  }
}
