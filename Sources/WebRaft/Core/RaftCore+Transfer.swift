extension RaftCore {
  /// Hands leadership to `target`, or to the most up-to-date voter when `target` is nil
  /// (dissertation §3.10).
  ///
  /// The leader stops taking proposals, brings the target's log up to date, then tells it to
  /// start an election at once. If no new leader emerges within an election timeout, the leader
  /// resumes taking proposals.
  /// - Throws: ``RaftError/notLeader(leader:)`` on a follower;
  ///   ``RaftError/leadershipTransferInProgress`` while another transfer runs;
  ///   ``RaftError/leadershipTransferFailed(_:)`` when the target is not a voter.
  public mutating func transferLeadership(to target: NodeID?) throws(RaftError) {
    guard role == .leader else { throw .notLeader(leader: leader) }
    if leading?.transferTarget != nil { throw .leadershipTransferInProgress }
    let chosen: NodeID
    if let target {
      chosen = target
    } else if let best = mostUpToDateVoter() {
      chosen = best
    } else {
      throw .leadershipTransferFailed("there is no other voter to hand leadership to")
    }
    if chosen == id { return }
    guard membership.voters.contains(chosen) else {
      throw .leadershipTransferFailed("\(chosen) is not a voter of the cluster")
    }
    leading!.transferTarget = chosen
    leading!.transferDeadline = now + electionMaximum + heartbeatTimeout
    if leading!.progress.read(chosen, { $0.match }) == log.lastIndex {
      maybeSendTimeoutNow(to: chosen)
    } else {
      sendAppend(to: chosen, allowEmpty: true)
    }
  }

  /// Whether this node leads although its latest membership removed it: it waits for the removal
  /// to commit and then hands leadership to a voter whose log matches its own. It appends nothing
  /// more meanwhile, so that the voters that commit the removal are caught up and one of them can
  /// take over at once, without waiting for an election timeout.
  var isLeaving: Bool { role == .leader && !isVoter }

  /// The node leadership is being handed to, if a transfer is under way.
  public var leadershipTransferTarget: NodeID? { leading?.transferTarget }

  /// Tells the transfer target to campaign once its log matches the leader's.
  mutating func maybeSendTimeoutNow(to peer: NodeID) {
    guard leading?.transferTarget == peer, leading?.progress.read(peer, { $0.match }) == log.lastIndex
    else { return }
    leading!.leaseRevoked = true
    send(to: peer, .timeoutNow)
  }

  /// Gives up a transfer that did not finish in time; proposals are taken again.
  mutating func abortTransfer() {
    leading?.transferTarget = nil
  }
}
