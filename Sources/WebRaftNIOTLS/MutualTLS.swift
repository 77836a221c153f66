import NIOCore
import NIOSSL
import WebRaft
import WebRaftNIO

/// The certificates and keys for mutual TLS between the nodes of a cluster.
///
/// Every node presents its certificate chain and checks the other end's chain against
/// ``trustRoots`` — both when it accepts and when it connects — so that only holders of a
/// certificate issued by the cluster's CA can take part. By default the certificate must also
/// name the node: one of its DNS subject alternative names must equal the ``WebRaft/NodeID`` the
/// peer claims in the handshake (see ``IdentityCheck``).
public struct MutualTLSConfiguration: Sendable {
  /// How a peer's certificate is tied to the node identity it claims in the handshake.
  public enum IdentityCheck: Sendable {
    /// Any certificate issued by the trust roots is accepted for any node.
    case none
    /// One of the certificate's DNS subject alternative names must equal the node ID.
    case subjectAlternativeName
    /// A custom check: returns nil to accept the certificate for the node, or the reason to
    /// refuse it.
    case custom(@Sendable (NIOSSLCertificate, NodeID) -> String?)
  }

  /// This node's certificate, then any intermediates.
  public var certificateChain: [NIOSSLCertificate]
  /// The private key of the first certificate of ``certificateChain``.
  public var privateKey: NIOSSLPrivateKey
  /// The certificates (usually one CA) that issue the cluster's node certificates.
  public var trustRoots: [NIOSSLCertificate]
  /// How a peer's certificate is tied to its node ID; ``IdentityCheck/subjectAlternativeName``
  /// by default.
  public var identityCheck: IdentityCheck
  /// The oldest TLS version accepted; TLS 1.3 by default.
  public var minimumTLSVersion: TLSVersion

  /// Creates a configuration from certificates and a key already loaded.
  public init(
    certificateChain: [NIOSSLCertificate],
    privateKey: NIOSSLPrivateKey,
    trustRoots: [NIOSSLCertificate],
    identityCheck: IdentityCheck = .subjectAlternativeName,
    minimumTLSVersion: TLSVersion = .tlsv13
  ) {
    self.certificateChain = certificateChain
    self.privateKey = privateKey
    self.trustRoots = trustRoots
    self.identityCheck = identityCheck
    self.minimumTLSVersion = minimumTLSVersion
  }

  /// Creates a configuration from PEM files: this node's certificate chain, its private key and
  /// the trust roots.
  ///
  /// - Throws: NIOSSL's error when a file cannot be read or parsed.
  public init(
    certificateChainPEMFile: String,
    privateKeyPEMFile: String,
    trustRootsPEMFile: String,
    identityCheck: IdentityCheck = .subjectAlternativeName
  ) throws {
    self.init(
      certificateChain: try NIOSSLCertificate.fromPEMFile(certificateChainPEMFile),
      privateKey: try NIOSSLPrivateKey(file: privateKeyPEMFile, format: .pem),
      trustRoots: try NIOSSLCertificate.fromPEMFile(trustRootsPEMFile),
      identityCheck: identityCheck)
  }
}

extension TCPTransport.Security {
  /// Mutual TLS: every connection is encrypted and both ends present a certificate issued by the
  /// configured trust roots; with the default identity check, the certificate must also name the
  /// node the peer claims to be.
  ///
  /// ```swift
  /// let tls = try MutualTLSConfiguration(
  ///   certificateChainPEMFile: "node-a.pem", privateKeyPEMFile: "node-a.key",
  ///   trustRootsPEMFile: "cluster-ca.pem")
  /// let transport = try TCPTransport(
  ///   id: "a", configuration: configuration, logger: logger, security: try .mutualTLS(tls))
  /// ```
  ///
  /// - Throws: NIOSSL's error when the certificates or the key are not usable.
  public static func mutualTLS(_ configuration: MutualTLSConfiguration) throws -> Self {
    let chain = configuration.certificateChain.map { NIOSSLCertificateSource.certificate($0) }
    let key = NIOSSLPrivateKeySource.privateKey(configuration.privateKey)
    let roots = NIOSSLTrustRoots.certificates(configuration.trustRoots)

    var server = TLSConfiguration.makeServerConfigurationWithMTLS(
      certificateChain: chain, privateKey: key, trustRoots: roots)
    server.minimumTLSVersion = configuration.minimumTLSVersion

    var client = TLSConfiguration.makeClientConfiguration()
    client.certificateChain = chain
    client.privateKey = key
    client.trustRoots = roots
    // Node addresses are often IP addresses; the identity is checked against the node ID instead.
    client.certificateVerification = .noHostnameVerification
    client.minimumTLSVersion = configuration.minimumTLSVersion

    let serverContext = try NIOSSLContext(configuration: server)
    let clientContext = try NIOSSLContext(configuration: client)
    let identityCheck = configuration.identityCheck

    return TCPTransport.Security(
      name: "mutual TLS",
      configureAcceptedChannel: { channel in
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
      },
      configureDialedChannel: { channel, _, _ in
        try channel.pipeline.syncOperations.addHandler(
          NIOSSLClientHandler(context: clientContext, serverHostname: nil))
      },
      authenticate: { channel, node in
        let certificate: NIOSSLCertificate?
        do {
          certificate = try channel.pipeline.syncOperations.nioSSL_peerCertificate()
        } catch {
          return "no TLS on the connection: \(error)"
        }
        guard let certificate else { return "the peer presented no certificate" }
        return check(certificate, claims: node, with: identityCheck)
      })
  }

  private static func check(
    _ certificate: NIOSSLCertificate, claims node: NodeID,
    with identityCheck: MutualTLSConfiguration.IdentityCheck
  ) -> String? {
    switch identityCheck {
    case .none:
      return nil
    case .custom(let check):
      return check(certificate, node)
    case .subjectAlternativeName:
      let expected = Array(node.rawValue.utf8)
      var names: [String] = []
      // NIOSSL exposes the subject alternative names only through this underscored API.
      for name in certificate._subjectAlternativeNames() where name.nameType == .dnsName {
        let bytes = Array(name.contents)
        if bytes == expected { return nil }
        names.append(String(decoding: bytes, as: UTF8.self))
      }
      let listed = names.isEmpty ? "none" : names.joined(separator: ", ")
      return "the certificate does not name node \(node) (DNS names: \(listed))"
    }
  }
}
