extension RaftCore {
  /// The election timer fired on a follower or a candidate.
  mutating func electionTimedOut() {
    guard isPromotable else {
      // Learners and nodes outside the cluster never campaign.
      resetElectionDeadline()
      return
    }
    if role == .follower {
      emit(.heartbeatTimeout)
    }
    campaign()
  }

  /// Whether this node may campaign: it is a voter in its latest membership, or it was a voter
  /// until an uncommitted membership entry removed it. In that case the others may still use the
  /// previous membership and need this node, to vote or to lead and commit its removal; a node
  /// that held back could leave the cluster without a leader for good (simulator fuzzer seed 326).
  var isPromotable: Bool {
    if membership.allVoters.contains(id) { return true }
    guard uncommittedMembershipEntry != nil else { return false }
    return membershipBeforeLatestEntry.allVoters.contains(id)
  }

  mutating func becomeFollower(term newTerm: UInt64, leader newLeader: NodeID?) {
    let previous = role
    setTerm(newTerm)
    if leading != nil { leadershipLost(to: newLeader) }
    role = .follower
    votes.removeAll()
    if newLeader == nil { lastLeaderContact = nil }
    setLeader(newLeader)
    resetElectionDeadline()
    if previous != .follower {
      emit(.stateChanged(from: previous, to: .follower))
      emit(.follower(term: term, leader: newLeader))
    }
  }

  mutating func becomePreCandidate() {
    let previous = role
    role = .preCandidate
    votes = [id: true]
    setLeader(nil)
    lastLeaderContact = nil
    resetElectionDeadline()
    if previous != .preCandidate { emit(.stateChanged(from: previous, to: .preCandidate)) }
    emit(.startElection(term: term + 1, preVote: true))
    requestVotes(preVote: true)
  }

  mutating func becomeCandidate(leadershipTransfer: Bool = false) {
    let previous = role
    setTerm(term + 1)
    votedFor = id
    role = .candidate
    votes = [id: true]
    setLeader(nil)
    lastLeaderContact = nil
    resetElectionDeadline()
    if previous != .candidate { emit(.stateChanged(from: previous, to: .candidate)) }
    emit(.candidate(term: term))
    emit(.startElection(term: term, preVote: false))
    requestVotes(preVote: false, leadershipTransfer: leadershipTransfer)
  }

  private mutating func requestVotes(preVote: Bool, leadershipTransfer: Bool = false) {
    let request = VoteRequest(
      preVote: preVote, lastLogIndex: log.lastIndex, lastLogTerm: log.lastTerm,
      leadershipTransfer: leadershipTransfer)
    for voter in membership.allVoters.sorted() where voter != id {
      send(to: voter, .voteRequest(request), term: preVote ? term + 1 : term)
    }
    tallyVotes()
  }

  /// RequestVote receiver rules (Figure 2): grant when the candidate's log is at least as up to
  /// date (§5.4.1) and no other vote was cast in the term (§5.2). Pre-votes grant without
  /// recording anything. A node that holds its vote (``holdsVote``) grants only a leadership
  /// transfer, which the leader itself asked for.
  mutating func handleVoteRequest(_ request: VoteRequest, from candidate: NodeID, term messageTerm: UInt64) {
    let canVote =
      (!holdsVote || request.leadershipTransfer)
      && (votedFor == candidate || (votedFor == nil && leader == nil)
        || (request.preVote && messageTerm > term))
    let upToDate = log.isUpToDate(lastIndex: request.lastLogIndex, lastTerm: request.lastLogTerm)
    if canVote && upToDate {
      send(
        to: candidate, .voteResponse(VoteResponse(preVote: request.preVote, granted: true)),
        term: request.preVote ? messageTerm : term)
      if !request.preVote {
        votedFor = candidate
        resetElectionDeadline()
      }
    } else {
      send(to: candidate, .voteResponse(VoteResponse(preVote: request.preVote, granted: false)))
    }
  }

  mutating func handleVoteResponse(_ response: VoteResponse, from voter: NodeID, term messageTerm: UInt64) {
    switch role {
    case .preCandidate where response.preVote:
      votes[voter] = response.granted
    case .candidate where !response.preVote && messageTerm == term:
      votes[voter] = response.granted
    default:
      return
    }
    tallyVotes()
  }

  private mutating func tallyVotes() {
    switch Quorum.voteResult(in: membership, votes: votes) {
    case .won:
      if role == .preCandidate {
        becomeCandidate()
      } else if role == .candidate {
        becomeLeader()
      }
    case .lost:
      becomeFollower(term: term, leader: nil)
    case .pending:
      break
    }
  }

  mutating func becomeLeader() {
    let previous = role
    role = .leader
    votes.removeAll()
    setLeader(id)
    lastLeaderContact = now
    var progress = ProgressMap()
    for member in membership.members where member != id {
      progress[member] = newProgress()
    }
    // Forwarded proposals that an earlier leader appended may arrive again: the origins in the
    // log's tail keep them from being appended twice.
    var recentOrigins = RecentOrigins(capacity: 4096)
    let scanFrom = log.lastIndex > 4096 ? log.lastIndex - 4096 : 0
    for entry in log.entries(from: scanFrom + 1, through: log.lastIndex, maxCount: .max, maxBytes: .max) {
      if let origin = entry.origin { recentOrigins.insert(origin) }
    }
    leading = LeaderState(
      progress: progress, heartbeatDeadline: now + heartbeatInterval,
      checkQuorumDeadline: now + electionMaximum, recentOrigins: recentOrigins)
    emit(.stateChanged(from: previous, to: .leader))
    emit(.leader(term: term))
    // Raft §8: a new leader commits a no-op entry of its own term, which commits everything
    // before it (Figure 8) and lets reads know the commit index.
    log.appendAsLeader(LogEntry(index: log.lastIndex + 1, term: term, payload: .noop))
    leading!.appendsDue = true
    maybeCommit()
  }
}
