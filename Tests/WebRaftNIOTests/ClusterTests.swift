import Crypto
import Logging
import NIOCore
import NIOSSL
import Testing
import WebRaft
import WebRaftNIO
import WebRaftNIOTLS
import X509

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// MARK: - Certificates

/// A certificate authority made in-process, issuing node certificates whose DNS subject
/// alternative name is the node ID.
struct TestPKI {
  let caCertificate: Certificate
  let caKey: P256.Signing.PrivateKey

  init(name: String = "WebRaft test CA") throws {
    let key = P256.Signing.PrivateKey()
    let subject = try DistinguishedName { CommonName(name) }
    let now = Date()
    caCertificate = try Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(),
      publicKey: Certificate.PublicKey(key.publicKey),
      notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(86_400),
      issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
        Critical(KeyUsage(keyCertSign: true, cRLSign: true))
      },
      issuerPrivateKey: Certificate.PrivateKey(key))
    caKey = key
  }

  var trustRoots: [NIOSSLCertificate] {
    get throws {
      [try NIOSSLCertificate(bytes: Array(caCertificate.serializeAsPEM().pemString.utf8), format: .pem)]
    }
  }

  /// A certificate and key for `node`.
  func issue(for node: NodeID) throws -> (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey) {
    let key = P256.Signing.PrivateKey()
    let now = Date()
    let certificate = try Certificate(
      version: .v3, serialNumber: Certificate.SerialNumber(),
      publicKey: Certificate.PublicKey(key.publicKey),
      notValidBefore: now.addingTimeInterval(-3_600), notValidAfter: now.addingTimeInterval(86_400),
      issuer: caCertificate.subject, subject: try DistinguishedName { CommonName(node.rawValue) },
      signatureAlgorithm: .ecdsaWithSHA256,
      extensions: try Certificate.Extensions {
        Critical(BasicConstraints.notCertificateAuthority)
        Critical(KeyUsage(digitalSignature: true))
        try ExtendedKeyUsage([.serverAuth, .clientAuth])
        SubjectAlternativeNames([.dnsName(node.rawValue)])
      },
      issuerPrivateKey: Certificate.PrivateKey(caKey))
    let pem = try certificate.serializeAsPEM().pemString
    return (
      [try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem)],
      try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)
    )
  }

  /// Mutual TLS for `node`, presenting the certificate of `presenting` (the node itself by
  /// default).
  func security(for node: NodeID, presenting: NodeID? = nil) throws -> TCPTransport.Security {
    let (chain, key) = try issue(for: presenting ?? node)
    return try .mutualTLS(
      MutualTLSConfiguration(certificateChain: chain, privateKey: key, trustRoots: try trustRoots))
  }
}

// MARK: - Cluster

/// Three `RaftNode`s on real sockets.
final class TCPCluster: @unchecked Sendable {
  let ids: [NodeID] = ["a", "b", "c"]
  let logs: LogStore
  let pki: TestPKI?
  var transports: [NodeID: TCPTransport] = [:]
  var nodes: [NodeID: RaftNode<RecordingMachine>] = [:]
  var machines: [NodeID: RecordingMachine] = [:]
  var storages: [NodeID: InMemoryStorage] = [:]
  var book: [NodeID: TCPTransport.PeerAddress] = [:]
  /// The nodes' Raft settings.
  let configuration: RaftConfiguration
  /// When set, each transport's address book follows its node's membership with this grace.
  let grace: Duration?
  var addressBooks: [NodeID: MembershipAddressBook] = [:]

  init(
    logs: LogStore, tls: Bool, configuration: RaftConfiguration = RaftConfiguration(), grace: Duration? = nil
  ) throws {
    self.logs = logs
    self.pki = tls ? try TestPKI() : nil
    self.configuration = configuration
    self.grace = grace
  }

  func start() async throws {
    for id in ids {
      transports[id] = try await startTransport(id, logs: logs, security: try pki?.security(for: id))
      book[id] = transports[id]!.boundAddress!
      storages[id] = InMemoryStorage()
    }
    for id in ids {
      transports[id]!.updatePeers(book)
      try await startNode(id)
    }
  }

  func startNode(_ id: NodeID) async throws {
    let machine = RecordingMachine()
    let transport = transports[id]!
    var logger = logs.logger("node", level: .info)
    logger[metadataKey: "node"] = "\(id)"
    let node = try await RaftNode(
      id: id, configuration: configuration, bootstrap: Membership(voters: Set(ids)), storage: storages[id]!,
      stateMachine: machine, logger: logger, makePeer: transport.peerFactory)
    transport.attach(node.inbound)
    if let grace {
      let addresses = book
      let addressBook = MembershipAddressBook(transport: transport, grace: grace) { member, _ in
        addresses[member]
      }
      _ = await addressBook.follow(node)
      addressBooks[id] = addressBook
    }
    nodes[id] = node
    machines[id] = machine
  }

  /// Stops a node and its transport (its listener closes).
  func stop(_ id: NodeID) async {
    addressBooks[id]?.stop()
    await nodes[id]?.shutdown()
    await transports[id]?.shutdown()
    nodes[id] = nil
  }

  /// Starts a stopped node again on its old port, with its stored log and a fresh state machine.
  func restart(_ id: NodeID) async throws {
    transports[id] = try await startTransport(
      id, peers: book, logs: logs, security: try pki?.security(for: id), port: book[id]!.port)
    try await startNode(id)
  }

  func leader(among members: [NodeID]? = nil) async -> NodeID? {
    for id in members ?? ids {
      guard let node = nodes[id] else { continue }
      if await node.status.role == .leader { return id }
    }
    return nil
  }

  func waitForLeader(among members: [NodeID]? = nil) async -> NodeID? {
    var found: NodeID?
    _ = await eventually(timeout: .seconds(20)) {
      found = await leader(among: members)
      return found != nil
    }
    return found
  }

  /// Proposes on the current leader, retrying across elections.
  func propose(_ command: String) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + .seconds(20)
    while true {
      if let leader = await leader(), let node = nodes[leader] {
        do {
          _ = try await node.propose(Data(command.utf8))
          return
        } catch {
          if clock.now > deadline { throw error }
        }
      }
      if clock.now > deadline { throw RaftError.noLeader(leaderHint: nil) }
      try await Task.sleep(for: .milliseconds(20))
    }
  }

  func shutdown() async {
    for id in ids { await stop(id) }
  }
}

@Suite("Three RaftNodes over TCP", .serialized, .timeLimit(.minutes(2)))
struct ClusterTests {
  @Test(
    "elect, replicate, lose a node, keep committing with two, catch the third up",
    arguments: [false, true])
  func cluster(tls: Bool) async throws {
    let logs = LogStore()
    let cluster = try TCPCluster(logs: logs, tls: tls)
    try await cluster.start()
    defer { Task { await cluster.shutdown() } }

    let leader = try #require(await cluster.waitForLeader())
    for index in 0..<40 {
      try await cluster.propose("first-\(index)")
    }
    #expect(await eventually { cluster.ids.allSatisfy { cluster.machines[$0]!.count == 40 } })

    // Lose a follower: its node and its listener stop.
    let lost = cluster.ids.first { $0 != leader }!
    await cluster.stop(lost)
    let survivors = cluster.ids.filter { $0 != lost }
    for index in 0..<40 {
      try await cluster.propose("second-\(index)")
    }
    #expect(await eventually { survivors.allSatisfy { cluster.machines[$0]!.count == 80 } })
    #expect(cluster.machines[lost]!.count == 40)

    // It returns on the same port and catches up.
    try await cluster.restart(lost)
    #expect(await eventually(timeout: .seconds(20)) { cluster.machines[lost]!.count == 80 })
    let expected = cluster.machines[survivors[0]]!.commands
    #expect(cluster.machines[lost]!.commands == expected)
    #expect(survivors.allSatisfy { cluster.machines[$0]!.commands == expected })

    // And the three keep committing.
    try await cluster.propose("third")
    #expect(await eventually { cluster.ids.allSatisfy { cluster.machines[$0]!.count == 81 } })

    if tls {
      #expect(logs.contains("raft transport listening") && !logs.contains("failed authentication"))
    }
    let sent = cluster.ids.map { cluster.transports[$0]!.statistics }
    #expect(sent.allSatisfy { $0.protocolErrors == 0 })
    await cluster.shutdown()
  }
}

@Suite("Mutual TLS", .timeLimit(.minutes(1)))
struct TLSTests {
  let logs = LogStore()

  @Test("nodes with certificates from the cluster CA exchange messages")
  func mutualTLS() async throws {
    let pki = try TestPKI()
    let inbox = Inbox()
    let a = try await startTransport("a", logs: logs, security: try pki.security(for: "a"))
    let b = try await startTransport(
      "b", peers: ["a": a.boundAddress!], logs: logs, security: try pki.security(for: "b"))
    a.updatePeers(["b": b.boundAddress!])
    a.attach(inbox.inbound)
    b.makePeer("a", inbound: Inbox().inbound).write(heartbeat("b", "a"))
    #expect(await eventually { inbox.count(from: "b") == 1 })
    #expect(logs.contains("mutual TLS") || a.statistics.connectionsAccepted == 1)
    await a.shutdown()
    await b.shutdown()
  }

  @Test("a certificate from another CA is rejected")
  func foreignCA() async throws {
    let pki = try TestPKI()
    let other = try TestPKI(name: "another CA")
    let inbox = Inbox()
    let a = try await startTransport(
      "a", peers: ["b": .init(host: "127.0.0.1", port: 1)], logs: logs, security: try pki.security(for: "a"))
    a.attach(inbox.inbound)
    let b = try await startTransport(
      "b", peers: ["a": a.boundAddress!], logs: logs, security: try other.security(for: "b"))
    b.makePeer("a", inbound: Inbox().inbound).write(heartbeat("b", "a"))
    #expect(await eventually { b.statistics.connectionFailures >= 2 })
    #expect(inbox.received.isEmpty)
    #expect(a.statistics.connectionsAccepted == 0)
    await a.shutdown()
    await b.shutdown()
  }

  @Test("a certificate that names another node is refused")
  func impersonation() async throws {
    let pki = try TestPKI()
    let inbox = Inbox()
    let a = try await startTransport(
      "a", peers: ["b": .init(host: "127.0.0.1", port: 1)], logs: logs, security: try pki.security(for: "a"))
    a.attach(inbox.inbound)
    // Node b presents c's certificate.
    let b = try await startTransport(
      "b", peers: ["a": a.boundAddress!], logs: logs,
      security: try pki.security(for: "b", presenting: "c"))
    b.makePeer("a", inbound: Inbox().inbound).write(heartbeat("b", "a"))
    #expect(await eventually { logs.contains("the certificate does not name node b", atLeast: .warning) })
    #expect(inbox.received.isEmpty)
    await a.shutdown()
    await b.shutdown()
  }

  @Test("a plaintext node cannot talk to a TLS node")
  func plaintextAgainstTLS() async throws {
    let pki = try TestPKI()
    let inbox = Inbox()
    let a = try await startTransport(
      "a", peers: ["b": .init(host: "127.0.0.1", port: 1)], logs: logs, security: try pki.security(for: "a"))
    a.attach(inbox.inbound)
    let b = try await startTransport("b", peers: ["a": a.boundAddress!], logs: logs)
    b.makePeer("a", inbound: Inbox().inbound).write(heartbeat("b", "a"))
    #expect(await eventually { b.statistics.connectionFailures >= 2 })
    #expect(inbox.received.isEmpty)
    await a.shutdown()
    await b.shutdown()
  }
}
