import Logging
import WebRaft
import WebRaftFileStorage
import WebRaftNIO

extension RaftKVServer {
  /// A node started on a wiped (or replaced) data directory under an ID its cluster knows with
  /// another incarnation: a peer refused it at the handshake. The node lost the log and votes it
  /// had and must not take part as if it still held them; it stops, and the operator removes the
  /// member and adds it again as a new node.
  public struct StaleIdentityError: Error, CustomStringConvertible {
    /// The node's ID.
    public var id: NodeID
    /// Its data directory.
    public var dataDirectory: String
    /// The refusal the node received.
    public var refusal: TCPTransport.HandshakeRefusal
    /// The members the node knew when it started, with their addresses (for the remedy's URL).
    public var members: [NodeID: MemberAddresses]

    /// What happened and what to do, with the commands to run.
    public var description: String {
      let url =
        members.filter { $0.key != id }.sorted { $0.key.rawValue < $1.key.rawValue }
        .compactMap { $0.value.http }.first.map { "http://\($0)" } ?? "http://HOST:PORT"
      return """
        node \(id) was refused by peer \(refusal.peer): the cluster knows \(id) under another \
        incarnation, so this data directory (\(dataDirectory)) is not the one \(id) ran on: it was \
        wiped or replaced, and the log and votes \(id) had are lost. Peer's reason: \(refusal.reason).
        To bring the node back as a new member:
          1. remove it: raftkv members remove \(id) --url \(url)   (or DELETE /members/\(id))
          2. empty its data directory: rm -rf \(dataDirectory)
          3. start it again with --join instead of --peers: raftkv serve --id \(id) ... --data-dir \
        \(dataDirectory) --join \(url)
        """
    }
  }

  /// The book of peer incarnations of `storage`'s directory, persisted there.
  static func incarnationBook(of storage: FileStorage) throws -> PeerIncarnationBook {
    guard let identity = try storage.readIdentity() else {
      throw StartError(description: "the data directory \(storage.directory) has no identity")
    }
    return PeerIncarnationBook(
      own: identity.incarnation, known: try storage.peerIncarnations(),
      persist: { try storage.recordPeerIncarnations($0) })
  }

  /// The refusals of `transport`'s connections that say this node's incarnation is not the one
  /// its peers know.
  static func incarnationRefusals(of transport: TCPTransport) -> (
    stream: AsyncStream<TCPTransport.HandshakeRefusal>,
    continuation: AsyncStream<TCPTransport.HandshakeRefusal>.Continuation
  ) {
    let (stream, continuation) = AsyncStream.makeStream(
      of: TCPTransport.HandshakeRefusal.self, bufferingPolicy: .bufferingNewest(1))
    transport.onRefusal { refusal in
      if refusal.kind == .incarnationMismatch { continuation.yield(refusal) }
    }
    return (stream, continuation)
  }

  /// Logs that `--peers` was ignored when the data directory held another membership: a restart
  /// carries on with the membership in its log (after `raftkv recover`, for example).
  func warnIfPeersIgnored<Machine: RaftStateMachine>(_ node: RaftNode<Machine>) async {
    let given = Set(configuration.peers.keys)
    let members = await node.membership.members
    guard given.count > 1, !members.isEmpty, given != members else { return }
    logger.notice(
      "the data directory holds a membership; the --peers list is ignored",
      metadata: [
        "members": "\(members.map(\.rawValue).sorted().joined(separator: ","))",
        "peers": "\(given.map(\.rawValue).sorted().joined(separator: ","))",
      ])
  }
}

/// Recovery of a `raftkv` node's data directory after its cluster lost a quorum for good
/// (`raftkv recover`).
public enum RaftKVRecovery {
  /// Makes the node whose data directory is `dataDirectory` the only voter (or one of `voters`)
  /// of its cluster, from its own data: see WebRaftFileStorage's
  /// `FileStorage.unsafeForceConfiguration(node:voters:)` for what it does and what it may lose.
  /// Start the node afterwards with `raftkv serve` on the same directory and ID.
  ///
  /// - Throws: ``DirectoryInUse`` while a server runs on the directory,
  ///   `FileStorageError.identityMismatch(directory:expected:found:)` when it belongs to another
  ///   node, `UnsafeRecovery.Failure`, or another `FileStorageError`.
  public static func recover(
    dataDirectory: String, id: NodeID, voters: Set<NodeID>?, logger: Logger
  ) async throws -> UnsafeRecovery.Outcome {
    let storage: FileStorage
    do {
      storage = try FileStorage(directory: dataDirectory, logger: logger)
    } catch {
      if case .locked = error { throw DirectoryInUse(dataDirectory: dataDirectory) }
      throw error
    }
    defer { storage.close() }
    return try await storage.unsafeForceConfiguration(node: id, voters: voters)
  }

  /// A server holds the data directory (its `FileStorage` lock): recovery must run on a stopped
  /// node.
  public struct DirectoryInUse: Error, CustomStringConvertible {
    /// The directory.
    public var dataDirectory: String

    /// What to do.
    public var description: String {
      "the data directory \(dataDirectory) is in use by a running node (it holds the directory's lock): "
        + "stop that node first, then run recover again"
    }
  }
}
