extension RaftNode {
  /// How a read is made linearizable.
  public enum ReadMethod: Sendable {
    /// ReadIndex: the leader confirms with a quorum that it still leads (one round trip, shared
    /// by reads made at the same time).
    case readIndex
    /// Lease: the leader skips the round trip while a quorum confirmed it within
    /// `heartbeatTimeout - maxClockDrift`; falls back to ``readIndex`` otherwise. Safe as long as
    /// clocks drift less than `maxClockDrift` over that time.
    case lease
  }

  /// Waits until this node's state machine reflects every write committed before the call, so
  /// that reading it now is linearizable. Works on followers, which ask the leader.
  ///
  /// Cancelling the calling task ends the call at once with ``RaftError/cancelled``. Traced as a
  /// `raft.linearizableRead` span (attribute `raft.read_index`) when a tracer is in force.
  /// - Throws: ``RaftError/noLeader(leaderHint:)`` when no leader is known, or when the leader
  ///   lost its leadership before confirming; ``RaftError/proposalTimedOut``.
  public func linearizableRead(_ method: ReadMethod = .readIndex) async throws {
    if let failure { throw failure }
    metrics.readRequests.increment()
    try await awaitRequest("raft.linearizableRead", waiter: Waiter.read) {
      (requestID, trace) throws(RaftError) -> Void? in
      // The lease is checked against the clock read now, not the last tick: a late tick must not
      // stretch it.
      let now = nowMilliseconds
      let deadline = now + proposalTimeout.wholeMilliseconds
      if method == .lease {
        switch driver.leaseRead(requestID: requestID, now: now, deadline: deadline) {
        case .readable(let index):
          trace?.read(at: index)
          return ()
        case .waiting:
          return nil
        case .noLease:
          break
        }
      }
      try driver.readIndex(requestID: requestID, deadline: deadline)
      return nil
    }
  }

  /// The index this node's state machine must reach for a read made now to be linearizable,
  /// once the leader confirmed with a quorum that it still leads (ReadIndex, dissertation §6.4).
  /// For callers that serve reads from their own state: wait until the state machine has applied
  /// the index, then read. Works on followers, which ask the leader.
  ///
  /// Cancelling the calling task ends the call at once with ``RaftError/cancelled``. Traced as a
  /// `raft.readIndex` span (attribute `raft.read_index`) when a tracer is in force.
  /// - Throws: ``RaftError/noLeader(leaderHint:)`` when no leader is known or the leader lost its
  ///   leadership before confirming; ``RaftError/proposalTimedOut``.
  public func readIndex() async throws -> UInt64 {
    try await awaitRequest("raft.readIndex", waiter: Waiter.readIndex) {
      (requestID, _) throws(RaftError) -> UInt64? in
      try driver.readIndex(
        requestID: requestID, deadline: nowMilliseconds + proposalTimeout.wholeMilliseconds,
        untilApplied: false)
      return nil
    }
  }

  /// Confirms with a quorum that this node still leads, and returns its commit index then.
  ///
  /// - Throws: ``RaftError/notLeader(leader:)`` on a node that does not lead;
  ///   ``RaftError/noLeader(leaderHint:)`` when it lost its leadership before a quorum confirmed;
  ///   ``RaftError/proposalTimedOut``.
  @discardableResult
  public func verifyLeader() async throws -> UInt64 {
    if let failure { throw failure }
    guard core.role == .leader else { throw RaftError.notLeader(leader: core.leader) }
    return try await readIndex()
  }

  /// Returns once this node's state machine has applied everything committed before the call
  /// (a ReadIndex read without a read: see ``linearizableRead(_:)``), like hashicorp/raft's
  /// `Barrier`, on any node.
  public func barrier() async throws {
    try await linearizableRead(.readIndex)
  }
}
