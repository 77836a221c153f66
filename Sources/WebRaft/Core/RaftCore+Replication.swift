#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension RaftCore {
  // MARK: Proposals on the leader

  /// Appends a proposal to the leader's log and returns its index. Only a leader calls it.
  mutating func appendProposal(_ payload: LogEntry.Payload, origin: ProposalOrigin?) throws(RaftError)
    -> UInt64
  {
    let entry = LogEntry(index: log.lastIndex + 1, term: term, payload: payload, origin: origin)
    try leading!.admitProposal(
      size: entry.byteCount, origin: origin, limit: configuration.maxUncommittedBytes)
    log.appendAsLeader(entry)
    // No commit check here: an append changes neither the stable index nor any follower's match,
    // so it cannot move the commit index (a membership change checks after changing the voters).
    return entry.index
  }

  /// Appends a membership change; it takes effect at once (dissertation §4.1).
  mutating func appendMembershipChange(_ changes: [MembershipChange], origin: ProposalOrigin?)
    throws(RaftError) -> UInt64
  {
    if uncommittedMembershipEntry != nil || membership.isJoint { throw .membershipChangeInProgress }
    // A new leader must commit an entry of its own term before it changes the membership, or an
    // uncommitted change of an earlier leader could be lost (the single-server change bug).
    if log.term(at: log.commitIndex) != term {
      throw .membershipChangeInProgress
    }
    return try appendMembership(membership.transition(for: changes), origin: origin)
  }

  /// Appends `next` as the new membership; it takes effect at once.
  mutating func appendMembership(_ next: Membership, origin: ProposalOrigin?) throws(RaftError)
    -> UInt64
  {
    let index = try appendProposal(.membership(next), origin: origin)
    membershipAppended(next, at: index)
    maybeCommit()
    return index
  }

  mutating func handleForwardedProposal(_ proposal: ForwardedProposal, from sender: NodeID) {
    guard role == .leader, leading?.transferTarget == nil, !isLeaving else {
      let error: RaftError =
        role == .leader
        ? .leadershipTransferInProgress
        : leader.map { .notLeader(leader: $0) } ?? noLeaderError
      send(to: sender, .proposalRejected(ProposalRejection(requestID: proposal.requestID, error: error)))
      return
    }
    let origin = ProposalOrigin(node: sender, requestID: proposal.requestID)
    if leading!.recentOrigins.contains(origin) { return }  // A duplicated message.
    do {
      switch proposal.request {
      case .command(let command):
        _ = try appendProposal(.command(command), origin: origin)
      case .membershipChange(let change):
        _ = try appendMembershipChange([change], origin: origin)
      case .membershipChanges(let changes):
        _ = try appendMembershipChange(changes, origin: origin)
      }
    } catch {
      send(to: sender, .proposalRejected(ProposalRejection(requestID: proposal.requestID, error: error)))
    }
  }

  // MARK: Sending

  /// Sends every follower what it is missing, as far as its window allows.
  mutating func flushAppends() {
    // Every follower that can take an append gets one, carrying the commit index.
    guard leading != nil else { return }
    leading!.commitNotificationDeadline = nil
    // The log does not change while the appends go out, so followers that stand at the same index
    // (the usual case) share one array of entries instead of a copy each.
    var shared: (next: UInt64, batch: [LogEntry])?
    for peer in leading!.progress.members {
      sendAppend(to: peer, allowEmpty: true, sharing: &shared)
      // Pipelining: keep sending while the window allows and entries remain.
      let lastIndex = log.lastIndex
      while leading!.progress.read(peer, { $0.state == .replicate && !$0.isPaused && $0.next <= lastIndex })
        == true
      {
        sendAppend(to: peer, allowEmpty: false, sharing: &shared)
      }
    }
  }

  /// Sends `peer` the entries from its `next` index, or an empty append when `allowEmpty`.
  mutating func sendAppend(to peer: NodeID, allowEmpty: Bool) {
    var shared: (next: UInt64, batch: [LogEntry])?
    sendAppend(to: peer, allowEmpty: allowEmpty, sharing: &shared)
  }

  /// ``sendAppend(to:allowEmpty:)`` that reuses `shared`'s entries when they start at the same
  /// index, and leaves the entries it sent there. Only valid while the log does not change.
  private mutating func sendAppend(
    to peer: NodeID, allowEmpty: Bool, sharing shared: inout (next: UInt64, batch: [LogEntry])?
  ) {
    guard let next = leading?.progress.read(peer, { $0.isPaused ? nil : $0.next }) ?? nil else { return }
    let previousIndex = next - 1
    guard let previousTerm = log.term(at: previousIndex) else {
      // The follower needs entries that were compacted away: send the snapshot instead.
      let snapshotIndex = log.snapshotIndex
      leading!.progress.update(peer) { $0.becomeSnapshot(index: snapshotIndex) }
      requestSnapshotChunk(for: peer)
      return
    }
    let batch: [LogEntry]
    if let shared, shared.next == next {
      batch = shared.batch
    } else {
      batch = log.entries(
        from: next, through: log.lastIndex, maxCount: configuration.maxEntriesPerAppend,
        maxBytes: configuration.maxBytesPerAppend)
      shared = (next, batch)
    }
    if batch.isEmpty && !allowEmpty { return }
    let lastIndex = batch.last?.index ?? previousIndex
    let bytes = batch.reduce(0) { $0 + $1.byteCount }
    leading!.progress.update(peer) { $0.sent(lastIndex: lastIndex, entryCount: batch.count, bytes: bytes) }
    send(
      to: peer,
      .appendEntries(
        AppendEntries(
          prevLogIndex: previousIndex, prevLogTerm: previousTerm, entries: batch,
          leaderCommit: log.commitIndex)))
  }

  /// Sends every follower a heartbeat of a new round (followers echo the round, which confirms
  /// reads and leases).
  mutating func broadcastHeartbeat() {
    guard let round = leading?.startHeartbeatRound(at: now) else { return }
    for peer in leading!.progress.members {
      guard let match = leading!.progress.read(peer, { $0.match }) else { continue }
      send(to: peer, .heartbeat(Heartbeat(commit: min(match, log.commitIndex), readRound: round)))
    }
  }

  /// Steps down when a quorum has not answered within the last election timeout.
  mutating func checkQuorumActive() {
    let active = Quorum.isActive(in: membership, me: id) {
      leading?.progress.read($0) { $0.recentActive } ?? false
    }
    leading?.progress.updateAll { $0.recentActive = false }
    if !active {
      becomeFollower(term: term, leader: nil)
    }
  }

  // MARK: Answers

  mutating func handleAppendResponse(_ response: AppendEntriesResponse, from peer: NodeID) {
    if response.success {
      guard response.index <= log.lastIndex else { return }
      let outcome = leading?.progress.update(peer) { entry -> (advanced: Bool, next: UInt64) in
        entry.recentActive = true
        let advanced = entry.acknowledge(response.index)
        if advanced && entry.state == .probe {
          entry.becomeReplicate()
        } else if entry.state == .replicate {
          entry.inflights.free(upTo: response.index)
        }
        return (advanced, entry.next)
      }
      guard let outcome else { return }
      if outcome.advanced {
        maybeCommit()
        maybeSendTimeoutNow(to: peer)
        maybePromoteLearners()
      }
      // The commit may have ended this leadership (a removed leader steps down).
      if outcome.next <= log.lastIndex { leading?.appendsDue = true }
    } else {
      let hint = backtrackHint(response)
      let retry = leading?.progress.update(peer) { entry -> Bool in
        entry.recentActive = true
        return entry.reject(response.index, hint: hint)
      }
      if retry == true { sendAppend(to: peer, allowEmpty: true) }
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
    guard let round = leading?.heartbeatRound else { return }
    let lastIndex = log.lastIndex
    let now = self.now
    let timeout = heartbeatTimeout
    let outcome = leading!.progress.update(peer) { entry -> (resendChunk: Bool, match: UInt64) in
      entry.recentActive = true
      if response.readRound <= round {
        entry.acknowledgedRound = max(entry.acknowledgedRound, response.readRound)
      }
      var resendChunk = false
      switch entry.state {
      case .probe:
        entry.probeSent = false
      case .replicate:
        // No progress for a whole heartbeat interval with entries outstanding: appends were lost.
        if entry.match == entry.matchAtLastHeartbeat, entry.match < lastIndex {
          entry.becomeProbe()
        }
      case .snapshot:
        // A chunk that was not answered for a heartbeat timeout was lost: ask for it again.
        if let asked = entry.snapshotRequestedAt, now >= asked + timeout {
          resendChunk = true
          entry.snapshotResent = true
        }
      }
      entry.matchAtLastHeartbeat = entry.match
      return (resendChunk, entry.match)
    }
    guard let outcome else { return }
    if outcome.resendChunk { requestSnapshotChunk(for: peer) }
    if outcome.match < log.lastIndex {
      sendAppend(to: peer, allowEmpty: true)
    }
    confirmReads()
  }

  /// Advances the commit index to the highest index a majority holds, counting only entries of
  /// the current term (§5.4.2, Figure 8).
  mutating func maybeCommit() {
    guard leading != nil else { return }
    let stable = log.stableIndex
    let candidate = Quorum.committedIndex(voters: membership.voters, outgoing: membership.outgoingVoters) {
      voter in voter == id ? stable : (leading!.progress.read(voter) { $0.match } ?? 0)
    }
    guard candidate > log.commitIndex, candidate != .max, log.term(at: candidate) == term else {
      return
    }
    let previous = log.commitIndex
    _ = log.commit(to: candidate)
    var committedBytes = 0
    for index in (previous + 1)...candidate {
      if let entry = log.entry(at: index), entry.term == term { committedBytes += entry.byteCount }
    }
    leading!.uncommittedBytes = max(leading!.uncommittedBytes - committedBytes, 0)
    // Followers learn the new commit index from the next append; if none goes out soon, from an
    // append sent just for it.
    if commitNotificationDelay == 0 {
      leading!.appendsDue = true
    } else if leading!.commitNotificationDeadline == nil {
      leading!.commitNotificationDeadline = now + commitNotificationDelay
    }
    // Reads that waited for the first commit of this term get their index.
    assignReadIndexes()
    // A leader removed from the cluster steps down once its removal is committed (§4.2.2),
    // handing leadership to the most up-to-date voter so that nobody waits for a timeout.
    if !membership.voters.contains(id), !membership.isJoint,
      let removal = membershipEntries.last, removal.index <= log.commitIndex
    {
      flushAppends()
      if let successor = mostUpToDateVoter(),
        leading!.progress.read(successor, { $0.match }) == log.lastIndex
      {
        send(to: successor, .timeoutNow)
      }
      becomeFollower(term: term, leader: nil)
      return
    }
    maybeLeaveJoint()
    maybePromoteLearners()
  }

  /// Leaves a joint configuration once its entry has committed (§4.3): appends the configuration
  /// it leads to. A new leader does the same once an entry of its term has committed.
  mutating func maybeLeaveJoint() {
    guard membership.isJoint, leading != nil, uncommittedMembershipEntry == nil,
      log.term(at: log.commitIndex) == term
    else { return }
    _ = try? appendMembership(membership.leavingJoint, origin: nil)
  }

  /// Promotes learners that joined to become voters once they hold everything committed.
  mutating func maybePromoteLearners() {
    guard !membership.learnersToPromote.isEmpty, !membership.isJoint, leading != nil,
      leading!.transferTarget == nil
    else {
      return
    }
    if uncommittedMembershipEntry != nil { return }
    guard log.term(at: log.commitIndex) == term else { return }
    for learner in membership.learnersToPromote.sorted() {
      guard let match = leading!.progress.read(learner, { $0.match }), match >= log.commitIndex else {
        continue
      }
      _ = try? appendMembership(membership.promoting(learner), origin: nil)
      return
    }
  }

  /// The voter (other than this node) whose log is known to be longest; only a leader knows.
  func mostUpToDateVoter() -> NodeID? {
    guard let progress = leading?.progress else { return nil }
    return membership.voters.filter { $0 != id }.sorted().max { lhs, rhs in
      (progress.read(lhs) { $0.match } ?? 0) < (progress.read(rhs) { $0.match } ?? 0)
    }
  }
}
