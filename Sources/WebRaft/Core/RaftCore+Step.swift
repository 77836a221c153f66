extension RaftCore {
  /// Handles a message received from another node (the seed's `gotData`).
  ///
  /// Messages addressed to another node are ignored. Term rules come first (Figure 2, "Rules for
  /// Servers"): a message with a newer term makes this node a follower of that term, except for
  /// vote requests ignored while a leader is known (check-quorum) and pre-votes, which never change
  /// terms. Stale messages are answered with the current term so their sender learns of it.
  public mutating func step(_ message: RaftMessage) {
    // A term this large comes from a broken or hostile peer (no cluster holds 2^63 elections);
    // adopting it would leave no next term to campaign in, so such a message is dropped.
    guard message.to == id, message.from != id, message.term < 1 << 63 else { return }
    switch message.body {
    case .proposal(let proposal):
      handleForwardedProposal(proposal, from: message.from)
      return
    case .proposalRejected(let rejection):
      pendingRejections.append(rejection)
      return
    case .readIndex(let request):
      handleReadIndexRequest(request, from: message.from)
      return
    case .readIndexResponse(let response):
      let result: Result<UInt64, RaftError> =
        response.index.map { .success($0) } ?? .failure(response.error ?? noLeaderError)
      readStates.append(ReadState(requestID: response.requestID, result: result))
      return
    default:
      break
    }

    if message.term > term {
      switch message.body {
      case .voteRequest(let request):
        if holdsVote && !request.leadershipTransfer { return }
        if !request.preVote { becomeFollower(term: message.term, leader: nil) }
      case .voteResponse(let response) where response.preVote && response.granted:
        break  // The responder answers at the term we would campaign in.
      case .appendEntries, .heartbeat, .installSnapshot:
        becomeFollower(term: message.term, leader: message.from)
      default:
        becomeFollower(term: message.term, leader: nil)
      }
    } else if message.term < term {
      switch message.body {
      case .appendEntries, .heartbeat, .installSnapshot:
        // A stale leader: answer with our term so that it steps down.
        send(to: message.from, .heartbeatResponse(HeartbeatResponse()))
      case .voteRequest(let request):
        // Figure 2, RequestVote rule 1: refuse, with our term so that the candidate catches up.
        send(to: message.from, .voteResponse(VoteResponse(preVote: request.preVote, granted: false)))
      default:
        break
      }
      return
    }

    switch message.body {
    case .voteRequest(let request):
      handleVoteRequest(request, from: message.from, term: message.term)
    case .voteResponse(let response):
      handleVoteResponse(response, from: message.from, term: message.term)
    case .appendEntries(let append):
      guard acceptLeader(message.from) else { return }
      handleAppendEntries(append, from: message.from)
    case .heartbeat(let heartbeat):
      guard acceptLeader(message.from) else { return }
      handleHeartbeat(heartbeat, from: message.from)
    case .appendEntriesResponse(let response):
      guard role == .leader else { return }
      handleAppendResponse(response, from: message.from)
    case .heartbeatResponse(let response):
      guard role == .leader else { return }
      handleHeartbeatResponse(response, from: message.from)
    case .installSnapshot(let chunk):
      guard acceptLeader(message.from) else { return }
      handleSnapshotChunk(chunk, from: message.from)
    case .installSnapshotResponse(let response):
      guard role == .leader else { return }
      handleSnapshotResponse(response, from: message.from)
    case .timeoutNow:
      // The leader hands over leadership: campaign at once, without pre-vote (§3.10).
      guard role == .follower, leader == message.from, membership.voters.contains(id) else { return }
      becomeCandidate(leadershipTransfer: true)
    case .proposal, .proposalRejected, .readIndex, .readIndexResponse:
      break
    }
  }

  /// Whether vote requests go unheard (except for a leadership transfer): a leader was heard from
  /// recently, or this node started too recently to know whether one was.
  var holdsVote: Bool { isInLeaderLease || now < votesHeldUntil }

  /// Whether a leader is known and was heard from recently, so vote requests are ignored.
  var isInLeaderLease: Bool {
    guard configuration.checkQuorum, leader != nil else { return false }
    if role == .leader { return true }
    guard let contact = lastLeaderContact else { return false }
    return now &- contact < heartbeatTimeout
  }

  /// Accepts `sender` as the leader of the current term; false if this node leads the term itself.
  private mutating func acceptLeader(_ sender: NodeID) -> Bool {
    if role == .leader { return false }  // Election safety makes this unreachable.
    if role != .follower {
      becomeFollower(term: term, leader: sender)
    }
    setLeader(sender)
    lastLeaderContact = now
    resetElectionDeadline()
    return true
  }
}
