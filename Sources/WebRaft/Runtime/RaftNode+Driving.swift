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

  /// Ends a request whose caller's task was cancelled: the driver stops tracking it and the
  /// caller fails with what its cancellation means (see ``Waiter/cancellationError``).
  func cancel(_ requestID: UInt64) {
    _ = driver.forget(requestID)
    if let waiter = waiters.remove(requestID) { waiter.fail(waiter.cancellationError) }
  }

  func tick() {
    guard failure == nil else { return }
    let now = nowMilliseconds
    driver.tick(now: now)
    if now >= lastExpiryScan + 50 {
      lastExpiryScan = now
      driver.expire(now: now, resolve: { settle($0, $1) })
      checkConditions()
    }
    scheduleDrain()
  }

  /// Makes sure the pump runs: the core has work of its own (a proposal, a timer, …).
  func scheduleDrain() {
    guard failure == nil else { return }
    mailbox.wake()
  }

  /// Works off received messages and carries out the driver's actions (the shared ``RaftDriver``
  /// decides their order) until nothing is left. Messages that arrive while a `Ready` is carried
  /// out are stepped together afterwards, so they share the next storage write. Committed entries
  /// go to the applier task; the batches it applied come back through the mailbox and are
  /// reported to the driver here.
  func pump() async {
    pumping: while failure == nil {
      if driver.isIdle || driver.waitsForApplies {
        let (received, proposals, applied) = mailbox.takeAll()
        if !applied.isEmpty {
          appliesReturned(applied)
          guard completeApplies(applied) else { break pumping }
        }
        if !received.isEmpty || !proposals.isEmpty {
          driver.tick(now: nowMilliseconds)
          for message in received { driver.step(message) }
          for proposal in proposals { take(proposal) }
        }
      }
      guard let action = driver.next(resolve: { settle($0, $1) }) else {
        if driver.takeFinishedReady() { continue }
        // Every completion but the applier's is reported within `perform`, so the driver never
        // waits here for anything else; if it did, no action could ever come and the pump would
        // spin. Applied batches wake the pump through the mailbox.
        guard driver.isIdle || driver.hasReadyUnderWay || driver.waitsForApplies else {
          halt(.storageFailed("internal error: the driver waits for a completion that was never reported"))
          break pumping
        }
        updateGauges()
        if mailbox.finishIfIdle() { return }
        continue
      }
      // Sends, events and batches to apply, most of the actions, skip the asynchronous `perform`.
      switch action {
      case .send(let messages, let range):
        for position in range { await send(messages[position]) }
        metrics.messagesSent.increment(by: range.count)
      case .publish(let events):
        for event in events { publish(event) }
      case .apply(let entries, let first):
        guard await handOutApply(ApplyJob(entries: entries, first: first)) else { break pumping }
      default:
        guard await perform(action) else { break pumping }
      }
    }
    _ = mailbox.finishIfIdle()
  }

  /// Hands a queued proposal to the core and registers its caller; fails it when the core refuses.
  private func take(_ proposal: QueuedProposal) {
    do {
      let ticket = try driver.propose(
        proposal.command, requestID: proposal.requestID, deadline: proposal.deadline)
      waiters.register(
        .command(proposal.continuation, started: proposal.started, trace: proposal.trace),
        requestID: proposal.requestID)
      if let trace = proposal.trace { trace.taken(ticket) }
    } catch {
      metrics.proposalFailures.increment()
      proposal.continuation.resume(throwing: error)
    }
  }

  /// Resumes the caller of a request the driver settled (outside an apply: a failure, a read, or a
  /// membership change).
  func settle(_ requestID: UInt64, _ outcome: RequestOutcome) {
    switch outcome {
    case .failed(let error):
      if waiters.fail(requestID, error) { metrics.proposalFailures.increment() }
    case .readable(let index):
      switch waiters.remove(requestID) {
      case .read(let continuation, let trace):
        trace?.read(at: index)
        continuation.resume()
      case .readIndex(let continuation, let trace):
        trace?.read(at: index)
        continuation.resume(returning: index)
      case let other?: other.fail(.proposalDropped(index: index))
      case nil: break
      }
    case .applied(let entry):
      switch waiters.remove(requestID) {
      case .membership(let continuation, let trace):
        trace?.applied(index: entry.index, term: entry.term)
        continuation.resume()
      case let other?:
        other.fail(.proposalDropped(index: entry.index))
      case nil:
        break
      }
    }
  }

  /// Does one action of the driver; false when the node halted.
  private func perform(_ action: DriverAction) async -> Bool {
    switch action {
    case .send(let messages, let range):
      for position in range { await send(messages[position]) }
      metrics.messagesSent.increment(by: range.count)
    case .persist(let hardState, let entries):
      let start = ContinuousClock.now
      do {
        try await storage.persist(hardState: hardState, entries: entries)
      } catch {
        halt(.storageFailed("\(error)"))
        return false
      }
      metrics.persistDuration.record(duration: ContinuousClock.now - start)
      driver.persisted()
    case .writeSnapshotChunk(let chunk):
      guard let accepted = await writeReceived(chunk) else { return false }
      driver.snapshotChunkWritten(accepted: accepted)
    case .installSnapshot(let metadata):
      guard await installReceived(metadata) else { return false }
    case .readSnapshotChunk(let request):
      await readChunk(request)
    case .apply(let entries, let first):
      return await handOutApply(ApplyJob(entries: entries, first: first))
    case .captureSnapshot(let metadata):
      await captureSnapshot(metadata)
    case .commitSnapshot(let metadata):
      guard await commitSnapshot(metadata) else { return false }
    case .discardSnapshot:
      if let written = writtenSnapshot {
        writtenSnapshot = nil
        await written.writer.abort()
      }
    case .publish(let events):
      for event in events { publish(event) }
    }
    return true
  }

  private func send(_ message: RaftMessage) async {
    if case .appendEntries(let append) = message.body, !append.entries.isEmpty {
      metrics.entryBytesSent.increment(by: append.entries.reduce(0) { $0 + $1.byteCount })
    }
    await peer(for: message.to).send(message)
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
      checkConditions()
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
    metrics.appliedIndex.record(driver.appliedIndex)
  }

  func halt(_ error: RaftError) {
    guard failure == nil else { return }
    failure = error
    logger.error("raft node halted", metadata: ["node": "\(id)", "error": "\(error)"])
    tickTask?.cancel()
    mailbox.close(because: error)
    applyQueue.close()
    failAll(error)
    stopSignal.fire(.halted)
  }

  func failAll(_ error: RaftError) {
    driver.failAll(error) { _, _ in }
    waiters.failAll(error)
  }

  // MARK: - Snapshots

  /// Writes a chunk received from the leader; returns whether it belonged to the snapshot under
  /// way (nil when the node halted).
  private func writeReceived(_ chunk: InstallSnapshot) async -> Bool? {
    do {
      if chunk.offset == 0 {
        if let previous = incomingWriter { await previous.writer.abort() }
        incomingWriter = (try await storage.beginSnapshot(chunk.metadata), chunk.metadata)
      }
      guard let incoming = incomingWriter, incoming.metadata == chunk.metadata else { return false }
      try await incoming.writer.write(chunk.data)
      return true
    } catch {
      halt(.storageFailed("writing a snapshot received from the leader failed: \(error)"))
      return nil
    }
  }

  /// Commits the snapshot received from the leader and restores the state machine from it.
  private func installReceived(_ metadata: SnapshotMetadata) async -> Bool {
    do {
      guard let incoming = incomingWriter, incoming.metadata == metadata else {
        halt(.storageFailed("the snapshot received from the leader has no writer to commit"))
        return false
      }
      try await incoming.writer.commit()
      incomingWriter = nil
    } catch {
      halt(.storageFailed("committing a snapshot received from the leader failed: \(error)"))
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
          index: metadata.index, reason: "restoring a snapshot from the leader failed: \(error)"))
      return false
    }
    outgoingReader = nil
    driver.snapshotInstalled(metadata, resolve: { settle($0, $1) })
    checkConditions()
    logger.info(
      "raft snapshot installed from the leader",
      metadata: ["node": "\(id)", "index": "\(metadata.index)", "term": "\(metadata.term)"])
    publish(.refresh(term: metadata.term, index: metadata.index))
    return true
  }

  /// Reads a chunk of the current snapshot for a follower and hands it to the driver.
  private func readChunk(_ request: SnapshotChunkRequest) async {
    do {
      if outgoingReader == nil || outgoingReader?.metadata.index != core.snapshotIndex {
        outgoingReader = try await storage.openSnapshot()
      }
      guard let reader = outgoingReader else {
        driver.snapshotChunkUnavailable()
        return
      }
      let data = try await reader.read(at: request.offset, maxLength: request.maxLength)
      driver.snapshotChunkRead(request, metadata: reader.metadata, totalSize: reader.size, data: data)
    } catch {
      outgoingReader = nil
      driver.snapshotChunkUnavailable()
      logger.warning(
        "raft could not read a snapshot chunk; it is asked for again at the next heartbeat",
        metadata: ["node": "\(id)", "peer": "\(request.peer)", "error": "\(error)"])
    }
  }

  /// Captures the state machine here, in the pump, so that nothing is applied between the
  /// snapshot's index and the capture; the capture is written out in the background.
  private func captureSnapshot(_ metadata: SnapshotMetadata) async {
    let captured: any RaftStateSnapshot
    do {
      captured = try await stateMachine.makeSnapshot()
    } catch {
      snapshotFailed(error)
      return
    }
    driver.snapshotCaptured(metadata)
    let storage = self.storage
    snapshotTask = Task {
      do {
        let writer = try await storage.beginSnapshot(metadata)
        let counting = CountingSnapshotWriter(writer)
        do {
          try await captured.write(to: counting)
          // Sync the file here, in the background; the node's loop only commits it.
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
    guard failure == nil else {
      Task { await writer.abort() }
      return
    }
    writtenSnapshot = (writer, metadata, size)
    driver.snapshotWritten(metadata)
    scheduleDrain()
  }

  private func snapshotFailed(_ error: any Error) {
    snapshotTask = nil
    let unsupported = (error as? RaftError) == .snapshotsUnsupported
    driver.snapshotFailed(unsupported: unsupported, now: nowMilliseconds)
    waiters.failSnapshotWaiters(error)
    if unsupported {
      logger.warning(
        "raft state machine does not implement snapshots; the log will not be compacted",
        metadata: ["node": "\(id)"])
      return
    }
    logger.error("raft snapshot failed; retrying later", metadata: ["node": "\(id)", "error": "\(error)"])
  }

  private func commitSnapshot(_ metadata: SnapshotMetadata) async -> Bool {
    guard let pending = writtenSnapshot, pending.metadata == metadata else {
      halt(.storageFailed("the snapshot at index \(metadata.index) has no writer to commit"))
      return false
    }
    writtenSnapshot = nil
    do {
      try await pending.writer.commit()
    } catch {
      halt(.storageFailed("committing a snapshot failed: \(error)"))
      return false
    }
    driver.snapshotCommitted(metadata)
    checkConditions()
    outgoingReader = nil
    metrics.snapshots.increment()
    metrics.snapshotBytes.record(pending.size)
    logger.info(
      "raft snapshot taken",
      metadata: [
        "node": "\(id)", "index": "\(metadata.index)", "bytes": "\(pending.size)",
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
