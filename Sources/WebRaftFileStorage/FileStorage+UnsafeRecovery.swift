import WebRaft

extension FileStorage {
  /// Recovery from a lost quorum on this storage: ``WebRaft/UnsafeRecovery/forceConfiguration(of:node:voters:)``,
  /// then forgets the incarnations of the peers the new configuration leaves out (see
  /// ``recordPeerIncarnations(_:)``), so that nodes added later under those IDs, with new
  /// directories, are not refused.
  ///
  /// **Unsafe**: read ``WebRaft/UnsafeRecovery`` first. Open the storage only for this (no node
  /// may run on it); its directory lock keeps a running node's storage out.
  ///
  /// - Parameters:
  ///   - node: the node whose directory this is; it must be among `voters`.
  ///   - voters: the new voters; `node` alone when nil.
  /// - Throws: ``WebRaft/UnsafeRecovery/Failure``, or a ``FileStorageError``.
  @discardableResult
  public func unsafeForceConfiguration(node: NodeID, voters: Set<NodeID>? = nil) async throws
    -> UnsafeRecovery.Outcome
  {
    if let identity = try readIdentity(), identity.nodeID != node {
      throw FileStorageError.identityMismatch(
        directory: directory, expected: .init(clusterID: identity.clusterID, nodeID: node),
        found: .init(clusterID: identity.clusterID, nodeID: identity.nodeID))
    }
    let outcome = try await UnsafeRecovery.forceConfiguration(of: self, node: node, voters: voters)
    let known = try peerIncarnations()
    let kept = known.filter { outcome.membership.contains($0.key) }
    if kept.count != known.count { try recordPeerIncarnations(kept) }
    return outcome
  }
}
