extension RaftCore {
  /// Asks for a linearizable read (ReadIndex, dissertation §6.4).
  ///
  /// The result comes in a later ``Ready/readStates``: the index the local state machine must
  /// have applied before the read is served. On the leader, reads are confirmed by a round of
  /// heartbeats answered by a quorum (reads asked at the same time share one round); a follower
  /// asks the leader.
  /// - Throws: ``RaftError/noLeader(leaderHint:)`` when no leader is known.
  public mutating func readIndex(requestID: UInt64) throws(RaftError) {
    if role == .leader {
      enqueueRead(LeaderState.PendingRead(requestID: requestID, requester: nil, round: 0, index: 0))
      return
    }
    guard let leader, leader != id else { throw noLeaderError }
    send(to: leader, .readIndex(ReadIndexRequest(requestID: requestID)))
  }

  /// The commit index, when this node leads and its lease holds at `now`: a quorum answered a
  /// heartbeat sent less than `heartbeatTimeout - maxClockDrift` before `now`, so no other node
  /// can have been elected since. Nil means the lease does not hold: use ``readIndex(requestID:)``.
  ///
  /// - Parameter now: the time of the read, in milliseconds on the clock that drives
  ///   ``tick(now:)``. Read it when the read is made: the last tick may lie far back (a starved
  ///   timer, a paused process), and the lease may have ended since. A time before the last tick
  ///   counts as the time of the last tick.
  ///
  /// Leases rely on check-quorum (followers ignore vote requests while they hear from a leader);
  /// with it switched off, this always returns nil.
  public func leaseReadIndex(now readTime: UInt64) -> UInt64? {
    guard let leading, configuration.checkQuorum, !leading.leaseRevoked, committedInCurrentTerm else {
      return nil
    }
    let current = max(readTime, now)
    let confirmed = Quorum.majorityTime(in: membership) { voter -> UInt64? in
      if voter == id { return current }
      guard let round = leading.progress.read(voter, { $0.acknowledgedRound }), round > 0 else { return nil }
      return leading.roundSentAt[round]
    }
    guard let confirmed else { return nil }
    let drift = configuration.maxClockDrift.wholeMilliseconds
    let leaseEnd = confirmed + heartbeatTimeout - drift
    return current < leaseEnd ? log.commitIndex : nil
  }

  /// Whether the leader has committed an entry of its own term, so that its commit index covers
  /// everything committed before it was elected.
  var committedInCurrentTerm: Bool { log.term(at: log.commitIndex) == term }

  mutating func handleReadIndexRequest(_ request: ReadIndexRequest, from requester: NodeID) {
    guard role == .leader else {
      let error: RaftError = leader.map { .notLeader(leader: $0) } ?? noLeaderError
      send(
        to: requester,
        .readIndexResponse(ReadIndexResponse(requestID: request.requestID, index: nil, error: error)))
      return
    }
    enqueueRead(
      LeaderState.PendingRead(requestID: request.requestID, requester: requester, round: 0, index: 0))
  }

  /// Takes a read on the leader.
  private mutating func enqueueRead(_ read: LeaderState.PendingRead) {
    var read = read
    if committedInCurrentTerm { read.index = log.commitIndex }
    if membership.allVoters == [id], read.index > 0 {
      complete(read, .success(read.index))
      return
    }
    leading!.pendingReads.append(read)
    leading!.readRoundDue = true
  }

  /// Sends a heartbeat round for the reads that wait for one.
  mutating func startReadRound() {
    guard leading?.pendingReads.contains(where: { $0.round == 0 }) == true else { return }
    broadcastHeartbeat()
    leading!.heartbeatDeadline = now + heartbeatInterval
    let round = leading!.heartbeatRound
    for position in leading!.pendingReads.indices where leading!.pendingReads[position].round == 0 {
      leading!.pendingReads[position].round = round
    }
    confirmReads()
  }

  /// Gives waiting reads the commit index once the leader committed in its term.
  mutating func assignReadIndexes() {
    guard leading?.pendingReads.isEmpty == false, committedInCurrentTerm else { return }
    let index = log.commitIndex
    for position in leading!.pendingReads.indices where leading!.pendingReads[position].index == 0 {
      leading!.pendingReads[position].index = index
    }
    confirmReads()
  }

  /// Completes the reads whose round a quorum has answered.
  mutating func confirmReads() {
    guard leading?.pendingReads.isEmpty == false else { return }
    let reads = leading!.pendingReads
    var waiting: [LeaderState.PendingRead] = []
    for read in reads {
      let confirmed =
        read.round > 0 && read.index > 0
        && Quorum.isActive(in: membership, me: id) {
          (leading!.progress.read($0) { $0.acknowledgedRound } ?? 0) >= read.round
        }
      if confirmed {
        complete(read, .success(read.index))
      } else {
        waiting.append(read)
      }
    }
    leading!.pendingReads = waiting
  }

  private mutating func complete(_ read: LeaderState.PendingRead, _ result: Result<UInt64, RaftError>) {
    if let requester = read.requester {
      let response: ReadIndexResponse
      switch result {
      case .success(let index):
        response = ReadIndexResponse(requestID: read.requestID, index: index, error: nil)
      case .failure(let error):
        response = ReadIndexResponse(requestID: read.requestID, index: nil, error: error)
      }
      send(to: requester, .readIndexResponse(response))
    } else {
      readStates.append(ReadState(requestID: read.requestID, result: result))
    }
  }

  /// The leader stepped down: its leader state goes (with any transfer under way), and the reads
  /// it had not confirmed fail, naming `successor` (the node that took over, when known) as the
  /// leader to try.
  mutating func leadershipLost(to successor: NodeID?) {
    let failed = leading?.pendingReads ?? []
    leading = nil
    for read in failed { complete(read, .failure(.noLeader(leaderHint: successor))) }
  }
}
