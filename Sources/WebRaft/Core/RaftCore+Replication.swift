#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension RaftCore {
  // MARK: Proposals on the leader

  /// Appends a proposal to the leader's log and returns its index.
  mutating func appendProposal(_ payload: LogEntry.Payload, origin: ProposalOrigin?) throws(RaftError)
    -> UInt64
  {
    let entry = LogEntry(index: log.lastIndex + 1, term: term, payload: payload, origin: origin)
    let size = entry.byteCount
    if uncommittedBytes > 0, uncommittedBytes + size > configuration.maxUncommittedBytes {
      throw .overloaded(uncommittedBytes: uncommittedBytes, limit: configuration.maxUncommittedBytes)
    }
    uncommittedBytes += size
    log.appendAsLeader([entry])
    if let origin { recentOrigins.insert(origin) }
    appendsDue = true
    maybeCommit()
    return entry.index
  }

  /// Appends a membership change; it takes effect at once (dissertation §4.1).
  mutating func appendMembershipChange(_ change: MembershipChange, origin: ProposalOrigin?)
    throws(RaftError) -> UInt64
  {
    if let pending = membershipEntries.last, pending.index > log.commitIndex {
      throw .membershipChangeInProgress
    }
    // A new leader must commit an entry of its own term before it changes the membership, or an
    // uncommitted change of an earlier leader could be lost (the single-server change bug).
    if log.term(at: log.commitIndex) != term {
      throw .membershipChangeInProgress
    }
    let next = try membership.applying(change)
    let index = try appendProposal(.membership(next), origin: origin)
    membershipEntries.append(MembershipAt(index: index, membership: next))
    setMembership(next)
    maybeCommit()
    return index
  }

  mutating func handleForwardedProposal(_ proposal: ForwardedProposal, from sender: NodeID) {
    guard role == .leader, transferTarget == nil else {
      let error: RaftError =
        role == .leader
        ? .leadershipTransferInProgress
        : leader.map { .notLeader(leader: $0) } ?? .noLeader(leaderHint: nil)
      send(to: sender, .proposalRejected(ProposalRejection(requestID: proposal.requestID, error: error)))
      return
    }
    let origin = ProposalOrigin(node: sender, requestID: proposal.requestID)
    if recentOrigins.contains(origin) { return }  // A duplicated message.
    do {
      switch proposal.request {
      case .command(let command):
        _ = try appendProposal(.command(command), origin: origin)
      case .membershipChange(let change):
        _ = try appendMembershipChange(change, origin: origin)
      }
    } catch {
      send(to: sender, .proposalRejected(ProposalRejection(requestID: proposal.requestID, error: error)))
    }
  }

  // MARK: Sending

  /// Sends every follower what it is missing, as far as its window allows.
  mutating func flushAppends() {
    for peer in progress.keys.sorted() {
      sendAppend(to: peer, allowEmpty: true)
      // Pipelining: keep sending while the window allows and entries remain.
      while let entry = progress[peer], entry.state == .replicate, !entry.isPaused,
        entry.next <= log.lastIndex
      {
        sendAppend(to: peer, allowEmpty: false)
      }
    }
  }

  /// Sends `peer` the entries from its `next` index, or an empty append when `allowEmpty`.
  mutating func sendAppend(to peer: NodeID, allowEmpty: Bool) {
    guard var entry = progress[peer], !entry.isPaused else { return }
    let previousIndex = entry.next - 1
    guard let previousTerm = log.term(at: previousIndex) else {
      // The follower needs entries that were compacted away: send the snapshot instead.
      entry.becomeSnapshot(index: log.snapshotIndex)
      progress[peer] = entry
      requestSnapshotChunk(for: peer)
      return
    }
    let batch = log.entries(
      from: entry.next, through: log.lastIndex, maxCount: configuration.maxEntriesPerAppend,
      maxBytes: configuration.maxBytesPerAppend)
    if batch.isEmpty && !allowEmpty { return }
    let lastIndex = batch.last?.index ?? previousIndex
    let bytes = batch.reduce(0) { $0 + $1.byteCount }
    entry.sent(lastIndex: lastIndex, entryCount: batch.count, bytes: bytes)
    progress[peer] = entry
    send(
      to: peer,
      .appendEntries(
        AppendEntries(
          prevLogIndex: previousIndex, prevLogTerm: previousTerm, entries: Array(batch),
          leaderCommit: log.commitIndex)))
  }

  /// Sends every follower a heartbeat of a new round (followers echo the round, which confirms
  /// reads and leases).
  mutating func broadcastHeartbeat() {
    heartbeatRound += 1
    roundSentAt[heartbeatRound] = now
    if roundSentAt.count > 256 {
      roundSentAt = roundSentAt.filter { $0.key + 128 > heartbeatRound }
    }
    for (peer, entry) in progress.sorted(by: { $0.key < $1.key }) {
      send(
        to: peer,
        .heartbeat(Heartbeat(commit: min(entry.match, log.commitIndex), readRound: heartbeatRound)))
    }
  }

  /// Steps down when a quorum has not answered within the last election timeout.
  mutating func checkQuorumActive() {
    let active = Quorum.isActive(voters: membership.voters, me: id) {
      progress[$0]?.recentActive ?? false
    }
    for peer in progress.keys { progress[peer]?.recentActive = false }
    if !active {
      becomeFollower(term: term, leader: nil)
    }
  }

  // MARK: Answers

  mutating func handleAppendResponse(_ response: AppendEntriesResponse, from peer: NodeID) {
    guard var entry = progress[peer] else { return }
    entry.recentActive = true
    if response.success {
      guard response.index <= log.lastIndex else { return }
      if entry.acknowledge(response.index) {
        if entry.state == .probe {
          entry.becomeReplicate()
        } else {
          entry.inflights.free(upTo: response.index)
        }
        progress[peer] = entry
        maybeCommit()
        maybeSendTimeoutNow(to: peer)
        maybePromoteLearners()
      } else {
        if entry.state == .replicate { entry.inflights.free(upTo: response.index) }
        progress[peer] = entry
      }
      if entry.next <= log.lastIndex { appendsDue = true }
    } else {
      let hint = backtrackHint(response)
      if entry.reject(response.index, hint: hint) {
        progress[peer] = entry
        sendAppend(to: peer, allowEmpty: true)
      } else {
        progress[peer] = entry
      }
    }
  }

  /// Where to retry after a rejection, skipping whole terms (fast backtracking, §5.3 note).
  private func backtrackHint(_ response: AppendEntriesResponse) -> UInt64 {
    if let conflictTerm = response.conflictTerm,
      let last = log.lastIndex(ofTerm: conflictTerm, atOrBelow: response.index)
    {
      return last + 1
    }
    return max(response.conflictIndex, 1)
  }

  mutating func handleHeartbeatResponse(_ response: HeartbeatResponse, from peer: NodeID) {
    guard var entry = progress[peer] else { return }
    entry.recentActive = true
    if response.readRound <= heartbeatRound {
      entry.acknowledgedRound = max(entry.acknowledgedRound, response.readRound)
    }
    switch entry.state {
    case .probe:
      entry.probeSent = false
    case .replicate:
      // No progress for a whole heartbeat interval with entries outstanding: appends were lost.
      if entry.match == entry.matchAtLastHeartbeat, entry.match < log.lastIndex {
        entry.becomeProbe()
      }
    case .snapshot:
      // A chunk that was not answered for a heartbeat timeout was lost: ask for it again.
      if let asked = entry.snapshotRequestedAt, now >= asked + heartbeatTimeout {
        progress[peer] = entry
        requestSnapshotChunk(for: peer)
        entry = progress[peer] ?? entry
      }
    }
    entry.matchAtLastHeartbeat = entry.match
    progress[peer] = entry
    if entry.match < log.lastIndex {
      sendAppend(to: peer, allowEmpty: true)
    }
    confirmReads()
  }

  /// Advances the commit index to the highest index a majority holds, counting only entries of
  /// the current term (§5.4.2, Figure 8).
  mutating func maybeCommit() {
    guard role == .leader else { return }
    let stable = log.stableIndex
    let candidate = Quorum.committedIndex(voters: membership.voters) { voter in
      voter == id ? stable : (progress[voter]?.match ?? 0)
    }
    guard candidate > log.commitIndex, candidate != .max, log.term(at: candidate) == term else {
      return
    }
    let previous = log.commitIndex
    _ = log.commit(to: candidate)
    for entry in log.entries(
      from: previous + 1, through: candidate, maxCount: .max, maxBytes: .max)
    where entry.term == term {
      uncommittedBytes -= entry.byteCount
    }
    if uncommittedBytes < 0 { uncommittedBytes = 0 }
    appendsDue = true
    // Reads that waited for the first commit of this term get their index.
    assignReadIndexes()
    // A leader removed from the cluster steps down once its removal is committed (§4.2.2),
    // handing leadership to the most up-to-date voter so that nobody waits for a timeout.
    if !membership.voters.contains(id),
      let removal = membershipEntries.last, removal.index <= log.commitIndex
    {
      flushAppends()
      if let successor = mostUpToDateVoter(), progress[successor]?.match == log.lastIndex {
        send(to: successor, .timeoutNow)
      }
      becomeFollower(term: term, leader: nil)
      return
    }
    maybePromoteLearners()
  }

  /// Promotes learners that joined to become voters once they hold everything committed.
  mutating func maybePromoteLearners() {
    guard role == .leader, transferTarget == nil, !membership.learnersToPromote.isEmpty else { return }
    if let pending = membershipEntries.last, pending.index > log.commitIndex { return }
    guard log.term(at: log.commitIndex) == term else { return }
    for learner in membership.learnersToPromote.sorted() {
      guard let entry = progress[learner], entry.match >= log.commitIndex else { continue }
      _ = try? appendMembershipChange(.addVoter(learner, attributes: nil), origin: nil)
      return
    }
  }

  /// The voter (other than this node) whose log is known to be longest.
  func mostUpToDateVoter() -> NodeID? {
    membership.voters.filter { $0 != id }.sorted().max { lhs, rhs in
      (progress[lhs]?.match ?? 0) < (progress[rhs]?.match ?? 0)
    }
  }
}
