import Logging
import WebRaft

extension FileStorage {
  /// Opens (creating it if needed) the storage directory of node `nodeID` in cluster `clusterID`
  /// and checks that the directory belongs to them.
  ///
  /// On a directory that has no identity yet — a new one, or one written before identities
  /// existed — it stores a new ``DataDirectoryIdentity`` with a random incarnation, durably, before
  /// it returns. Otherwise the stored identity must name the same cluster and node.
  ///
  /// - Throws: ``FileStorageError/identityMismatch(directory:expected:found:)`` when the directory
  ///   belongs to another cluster or node, ``FileStorageError/corruption(file:offset:reason:)``
  ///   when its identity file is damaged, and what ``init(directory:configuration:logger:)``
  ///   throws.
  public convenience init(
    directory: String,
    clusterID: String,
    nodeID: NodeID,
    configuration: Configuration = Configuration(),
    logger: Logger = Logger(label: "webraft.file-storage")
  ) throws(FileStorageError) {
    try self.init(directory: directory, configuration: configuration, logger: logger)
    do throws(FileStorageError) {
      if let found = try readIdentity() {
        guard found.clusterID == clusterID, found.nodeID == nodeID else {
          throw FileStorageError.identityMismatch(
            directory: directory, expected: .init(clusterID: clusterID, nodeID: nodeID),
            found: .init(clusterID: found.clusterID, nodeID: found.nodeID))
        }
      } else {
        let identity = DataDirectoryIdentity.random(clusterID: clusterID, nodeID: nodeID)
        try withState { (_) throws(FileStorageError) in
          try DataDirectoryIdentity.file.write(identity.encode(), in: files)
        }
        logger.notice(
          "WebRaft storage: the data directory has no identity yet; stored a new one",
          metadata: ["directory": "\(directory)", "identity": "\(identity)"])
      }
    } catch {
      close()
      throw error
    }
  }

  /// The identity stored in the directory, or nil when it has none (it was never opened with
  /// ``init(directory:clusterID:nodeID:configuration:logger:)``).
  ///
  /// - Throws: ``FileStorageError/corruption(file:offset:reason:)`` when the identity file is
  ///   damaged, ``FileStorageError/closed`` after ``close()``.
  public func readIdentity() throws(FileStorageError) -> DataDirectoryIdentity? {
    try withState { (_) throws(FileStorageError) -> DataDirectoryIdentity? in
      try DataDirectoryIdentity.file.read(in: files).map { (payload) throws(FileStorageError) in
        try DataDirectoryIdentity.decode(payload)
      }
    }
  }

  // MARK: Peer incarnations

  /// The incarnations this node has seen for its peers (see ``recordPeerIncarnations(_:)``);
  /// empty when none were recorded.
  ///
  /// - Throws: ``FileStorageError/corruption(file:offset:reason:)`` when the file is damaged,
  ///   ``FileStorageError/closed`` after ``close()``.
  public func peerIncarnations() throws(FileStorageError) -> [NodeID: UInt64] {
    try withState { (_) throws(FileStorageError) -> [NodeID: UInt64] in
      guard let payload = try Self.peersFile.read(in: files) else { return [:] }
      var reader = BinaryReader(payload)
      var result: [NodeID: UInt64] = [:]
      do throws(RaftError) {
        let count = try reader.readCount(minimumSize: 2)
        for _ in 0..<count {
          let node = NodeID(try reader.readString())
          result[node] = try reader.readVarint()
        }
        guard reader.isAtEnd else { throw RaftError.malformedMessage("\(reader.remaining) trailing bytes") }
      } catch {
        throw Self.peersFile.damaged(at: UInt64(reader.offset), "\(error)")
      }
      return result
    }
  }

  /// Replaces, durably, the incarnations this node has seen for its peers.
  ///
  /// A transport that checks its peers' incarnations (WebRaftNIO's `PeerIncarnationBook`) keeps
  /// them here so that a node remembers them across restarts: a peer that comes back under a known
  /// ``WebRaft/NodeID`` with another incarnation lost its directory.
  ///
  /// - Throws: ``FileStorageError/ioFailure(operation:path:errno:)``, ``FileStorageError/closed``
  ///   after ``close()``.
  public func recordPeerIncarnations(_ incarnations: [NodeID: UInt64]) throws(FileStorageError) {
    var writer = BinaryWriter(capacity: 16 + incarnations.count * 24)
    writer.write(varint: UInt64(incarnations.count))
    for (node, incarnation) in incarnations.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
      writer.write(string: node.rawValue)
      writer.write(varint: incarnation)
    }
    let payload = writer.bytes
    try withState { (_) throws(FileStorageError) in
      try Self.peersFile.write(payload, in: files)
    }
  }

  /// The file that holds the peer incarnations.
  static let peersFile = ChecksummedFile(name: "PEERS", magic: Array("WRPI".utf8), version: 1)
}
