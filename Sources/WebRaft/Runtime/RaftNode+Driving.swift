import Logging

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension RaftNode {
  nonisolated var nowMilliseconds: UInt64 {
    (clock.now - started).wholeMilliseconds
  }

  nonisolated func makeRequestID() -> UInt64 {
    lastRequestID.wrappingAdd(1, ordering: .relaxed).newValue
  }

  func cancel(_ requestID: UInt64) {
    waiters.fail(requestID, .cancelled)
  }

  func tick() {
    guard failure == nil else { return }
    let now = nowMilliseconds
    core.tick(now: now)
    if now >= lastExpiryScan + 50 {
      lastExpiryScan = now
      expireWaiters(now: now)
    }
    scheduleDrain()
  }

  private func expireWaiters(now: UInt64) {
    let expired = waiters.expire(now: now)
    if expired > 0 { metrics.proposalFailures.increment(by: expired) }
  }

  /// Makes sure the pump runs: the core has work of its own (a proposal, a timer, …).
  func scheduleDrain() {
    guard failure == nil else { return }
    mailbox.wake()
  }

  /// Works off received messages and carries out each `Ready` in turn (store, write received
  /// snapshot chunks, send, settle, publish, apply, advance), committing finished snapshots
  /// between them, until nothing is left. Messages that arrive while a `Ready` is carried out are
  /// stepped together afterwards, so they share the next storage write.
  func pump() async {
    while failure == nil {
      let (received, proposals) = mailbox.takeAll()
      if !received.isEmpty || !proposals.isEmpty {
        core.tick(now: nowMilliseconds)
        for message in received { core.step(message) }
        for proposal in proposals { take(proposal) }
      }
      if let pending = snapshotToCommit {
        snapshotToCommit = nil
        guard await commitSnapshot(pending) else { break }
        continue
      }
      if let ready = core.ready() {
        guard await carryOut(ready) else { break }
        core.advance()
        updateGauges()
        considerSnapshot()
        continue
      }
      if mailbox.finishIfIdle() { return }
    }
    _ = mailbox.finishIfIdle()
  }

  /// Hands a queued proposal to the core and registers its caller; fails it when the core refuses.
  private func take(_ proposal: QueuedProposal) {
    do {
      let ticket = try core.propose(proposal.command, requestID: proposal.requestID)
      waiters.register(
        .command(proposal.continuation, deadline: proposal.deadline, started: proposal.started),
        requestID: proposal.requestID, ticket: ticket)
    } catch {
      metrics.proposalFailures.increment()
      proposal.continuation.resume(throwing: error)
    }
  }

  private func carryOut(_ ready: Ready) async -> Bool {
    // A leader's appends go out before its own write, so that followers write in parallel.
    for message in ready.messages.prefix(ready.earlyMessageCount) {
      await send(message)
    }
    if ready.hardState != nil || !ready.entries.isEmpty {
      let start = ContinuousClock.now
      do {
        try await storage.persist(hardState: ready.hardState, entries: ready.entries)
      } catch {
        halt(.storageFailed("\(error)"))
        return false
      }
      metrics.persistDuration.record(duration: ContinuousClock.now - start)
    }
    for chunk in ready.snapshotChunks {
      guard await writeReceived(chunk) else { return false }
    }
    for message in ready.messages.dropFirst(ready.earlyMessageCount) {
      await send(message)
    }
    metrics.messagesSent.increment(by: ready.messages.count)
    for rejection in ready.rejectedProposals {
      waiters.fail(rejection.requestID, rejection.error)
    }
    for state in ready.readStates {
      switch state.result {
      case .success(let index):
        guard waiters.contains(state.requestID) else { continue }
        waiters.awaitApply(of: index, read: state.requestID)
      case .failure(let error):
        waiters.fail(state.requestID, error)
      }
    }
    for event in ready.events {
      publish(event)
    }
    for request in ready.snapshotChunkRequests {
      await sendChunk(request)
    }
    if !ready.committedEntries.isEmpty {
      let start = ContinuousClock.now
      let now = (start - started).wholeMilliseconds
      for entry in ready.committedEntries where entry.index > lastApplied {
        guard await apply(entry, now: now) else { return false }
      }
      metrics.applyDuration.record(duration: ContinuousClock.now - start)
    }
    waiters.releaseReads(applied: lastApplied)
    return true
  }

  private func send(_ message: RaftMessage) async {
    if case .appendEntries(let append) = message.body, !append.entries.isEmpty {
      metrics.entryBytesSent.increment(by: append.entries.reduce(0) { $0 + $1.byteCount })
    }
    await peer(for: message.to).send(message)
  }

  /// Applies a committed entry and resumes whoever waits for it; `now` is when this batch of
  /// committed entries began to apply.
  private func apply(_ entry: LogEntry, now: UInt64) async -> Bool {
    switch entry.payload {
    case .command(let command):
      let listened = broadcaster.hasSubscribers
      if listened { publish(.apply(entry)) }
      let output: StateMachine.Output
      do {
        output = try await stateMachine.apply(command, index: entry.index, term: entry.term)
      } catch {
        halt(.stateMachineFailed(index: entry.index, reason: "\(error)"))
        return false
      }
      lastApplied = entry.index
      waiters.settle(entry, node: id) { waiter in
        guard case .command(let continuation, _, let started) = waiter else { return false }
        metrics.proposalDuration.recordMilliseconds(Int64(now &- started))
        continuation.resume(returning: output)
        return true
      }
      if listened { publish(.updated(index: entry.index)) }
    case .noop, .membership:
      lastApplied = entry.index
      if case .membership(let membership) = entry.payload {
        appliedMembership = membership
        publish(.membershipCommitted(membership))
      }
      waiters.settle(entry, node: id) { waiter in
        guard case .membership(let continuation, _) = waiter else { return false }
        continuation.resume()
        return true
      }
    }
    return true
  }

  private func peer(for member: NodeID) -> any RaftPeer {
    if let existing = peers[member] { return existing }
    let created = makePeer(member, inbound)
    peers[member] = created
    return created
  }

  func publish(_ event: RaftEvent) {
    switch event {
    case .stateChanged(let from, let to):
      logger.info(
        "raft role changed",
        metadata: ["node": "\(id)", "from": "\(from)", "to": "\(to)", "term": "\(core.term)"])
      metrics.isLeader.record(to == .leader ? 1 : 0)
    case .startElection(_, let preVote) where !preVote:
      metrics.elections.increment()
    case .leaderChanged:
      metrics.leaderChanges.increment()
    case .membershipChanged(let membership):
      logger.info(
        "raft membership changed",
        metadata: [
          "node": "\(id)", "voters": "\(membership.voters.sorted())",
          "learners": "\(membership.learners.sorted())",
        ])
    case .membershipCommitted(let membership):
      // A member removed by an entry that is only appended must still hear that its removal
      // committed; one that a later entry (appended, not yet applied) adds keeps its connection.
      for (member, peer) in peers where !membership.contains(member) && !core.membership.contains(member) {
        peer.close()
        peers[member] = nil
      }
    default:
      break
    }
    broadcaster.publish(event)
  }

  private func updateGauges() {
    metrics.term.record(core.term)
    metrics.commitIndex.record(core.commitIndex)
    metrics.appliedIndex.record(lastApplied)
  }

  func halt(_ error: RaftError) {
    guard failure == nil else { return }
    failure = error
    logger.error("raft node halted", metadata: ["node": "\(id)", "error": "\(error)"])
    tickTask?.cancel()
    mailbox.close(because: error)
    failAll(error)
  }

  func failAll(_ error: RaftError) {
    waiters.failAll(error)
  }

  // MARK: - Snapshots

  /// Writes a chunk received from the leader; after the last one, installs the snapshot.
  private func writeReceived(_ chunk: InstallSnapshot) async -> Bool {
    do {
      if chunk.offset == 0 {
        if let previous = incomingWriter { await previous.writer.abort() }
        incomingWriter = (try await storage.beginSnapshot(chunk.metadata), chunk.metadata)
      }
      guard let incoming = incomingWriter, incoming.metadata == chunk.metadata else { return true }
      try await incoming.writer.write(chunk.data)
      guard chunk.done else { return true }
      try await incoming.writer.commit()
      incomingWriter = nil
    } catch {
      halt(.storageFailed("writing a snapshot received from the leader failed: \(error)"))
      return false
    }
    do {
      guard let reader = try await storage.openSnapshot() else {
        halt(.storageFailed("a committed snapshot could not be opened"))
        return false
      }
      try await stateMachine.restore(from: reader)
    } catch {
      halt(
        .stateMachineFailed(
          index: chunk.metadata.index, reason: "restoring a snapshot from the leader failed: \(error)"))
      return false
    }
    lastApplied = max(lastApplied, chunk.metadata.index)
    appliedMembership = chunk.metadata.membership
    outgoingReader = nil
    core.snapshotInstalled(chunk.metadata)
    publish(.membershipCommitted(chunk.metadata.membership))
    logger.info(
      "raft snapshot installed from the leader",
      metadata: ["node": "\(id)", "index": "\(chunk.metadata.index)", "term": "\(chunk.metadata.term)"])
    publish(.refresh(term: chunk.metadata.term, index: chunk.metadata.index))
    return true
  }

  /// Reads a chunk of the current snapshot for a follower and hands it to the core.
  private func sendChunk(_ request: SnapshotChunkRequest) async {
    do {
      if outgoingReader == nil || outgoingReader?.metadata.index != core.snapshotIndex {
        outgoingReader = try await storage.openSnapshot()
      }
      guard let reader = outgoingReader else { return }
      let data = try await reader.read(at: request.offset, maxLength: request.maxLength)
      core.sendSnapshotChunk(
        to: request.peer, metadata: reader.metadata, totalSize: reader.size, offset: request.offset,
        data: data)
    } catch {
      outgoingReader = nil
      logger.warning(
        "raft could not read a snapshot chunk; it is asked for again at the next heartbeat",
        metadata: ["node": "\(id)", "peer": "\(request.peer)", "error": "\(error)"])
    }
  }

  /// Starts a snapshot when the policy says so: enough entries applied or log bytes held.
  private func considerSnapshot() {
    guard snapshotsSupported, snapshotTask == nil, snapshotToCommit == nil, failure == nil else { return }
    let applied = lastApplied
    let sinceSnapshot = applied > core.snapshotIndex ? applied - core.snapshotIndex : 0
    var due = false
    if let interval = configuration.snapshotEntryInterval, sinceSnapshot >= UInt64(interval) { due = true }
    if let bytes = configuration.snapshotLogBytes, core.logByteCount >= bytes, sinceSnapshot > 0 {
      due = true
    }
    guard due else { return }
    if let failed = lastSnapshotFailure, nowMilliseconds < failed + 1000 { return }
    guard let metadata = core.snapshotMetadata(at: applied) else { return }
    let storage = self.storage
    let stateMachine = self.stateMachine
    snapshotTask = Task {
      do {
        let captured = try await stateMachine.makeSnapshot()
        let writer = try await storage.beginSnapshot(metadata)
        let counting = CountingSnapshotWriter(writer)
        do {
          try await captured.write(to: counting)
          // Sync the file here, in the background; the node's loop only installs it.
          try await writer.prepareCommit()
        } catch {
          await writer.abort()
          throw error
        }
        self.snapshotWritten(writer: writer, metadata: metadata, size: counting.count)
      } catch {
        self.snapshotFailed(error)
      }
    }
  }

  private func snapshotWritten(writer: any RaftSnapshotWriter, metadata: SnapshotMetadata, size: Int) {
    snapshotTask = nil
    snapshotToCommit = (writer, metadata, size)
    scheduleDrain()
  }

  private func snapshotFailed(_ error: any Error) {
    snapshotTask = nil
    if let raftError = error as? RaftError, raftError == .snapshotsUnsupported {
      snapshotsSupported = false
      logger.warning(
        "raft state machine does not implement snapshots; the log will not be compacted",
        metadata: ["node": "\(id)"])
      return
    }
    lastSnapshotFailure = nowMilliseconds
    logger.error("raft snapshot failed; retrying later", metadata: ["node": "\(id)", "error": "\(error)"])
  }

  private func commitSnapshot(
    _ pending: (writer: any RaftSnapshotWriter, metadata: SnapshotMetadata, size: Int)
  ) async -> Bool {
    do {
      try await pending.writer.commit()
    } catch {
      halt(.storageFailed("committing a snapshot failed: \(error)"))
      return false
    }
    core.snapshotCommitted(pending.metadata)
    outgoingReader = nil
    metrics.snapshots.increment()
    metrics.snapshotBytes.record(pending.size)
    logger.info(
      "raft snapshot taken",
      metadata: [
        "node": "\(id)", "index": "\(pending.metadata.index)", "bytes": "\(pending.size)",
      ])
    return true
  }
}

/// Counts the bytes written through a snapshot writer.
private final class CountingSnapshotWriter: RaftSnapshotWriter, @unchecked Sendable {
  private let inner: any RaftSnapshotWriter
  /// Written only by the one task that writes the snapshot.
  private(set) var count = 0

  init(_ inner: any RaftSnapshotWriter) {
    self.inner = inner
  }

  func write(_ chunk: Data) async throws {
    count += chunk.count
    try await inner.write(chunk)
  }

  func prepareCommit() async throws {
    try await inner.prepareCommit()
  }

  func commit() async throws {
    try await inner.commit()
  }

  func abort() async {
    await inner.abort()
  }
}
