#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension RaftDriver {
  /// The next thing to do, or nil when the driver waits for a completion, has nothing to do, or
  /// has just finished a `Ready` (``takeFinishedReady()`` tells which: give it what arrived
  /// meanwhile, then ask again).
  ///
  /// A `Ready` is carried out in this order (``Ready`` documents the same):
  /// 1. send the leader's early appends (``Ready/earlyMessageCount``), when
  ///    ``sendsEarlyMessages`` is set;
  /// 2. persist the hard state and entries, and wait until they are durable;
  /// 3. write the snapshot chunks received from the leader; after the last chunk of a snapshot,
  ///    install it (commit it, restore the state machine) and tell the core;
  /// 4. send the other messages;
  /// 5. settle refused proposals and reads whose read index is known or that failed;
  /// 6. publish the events;
  /// 7. read the snapshot chunks followers need and hand them to the core;
  /// 8. hand the committed entries not handed out yet to the state machine, without waiting for
  ///    them to be applied (the host reports each applied entry with ``applied(_:resolve:)``,
  ///    which settles the proposals it decides and serves the reads it makes possible);
  /// 9. confirm the `Ready` to the core (``RaftCore/advance()``), then capture a snapshot when one
  ///    is due and everything handed out is applied.
  ///
  /// Between two `Ready`s, a snapshot written in the background is committed first, and a due
  /// snapshot is captured once everything handed out is applied. Applying lags behind the rest:
  /// the next `Ready`s are carried out while entries handed out are still being applied, up to
  /// ``RaftConfiguration/maxApplyingEntries`` of them; past that, and while a due snapshot waits
  /// for the state machine to catch up (so that snapshots are taken under a steady load too), the
  /// `Ready`s carry no committed entries. A snapshot received from the leader is installed only
  /// once everything handed out is applied (step 3 waits for it). When the state machine applies
  /// a membership entry or restores a snapshot, the driver publishes
  /// ``RaftEvent/membershipCommitted(_:)`` before its next action: transports follow the committed
  /// membership, so that a removed member still hears that its removal committed.
  public mutating func next(resolve: (UInt64, RequestOutcome) -> Void) -> DriverAction? {
    guard awaiting == nil else { return nil }
    if !raisedEvents.isEmpty {
      defer { raisedEvents = [] }
      return .publish(raisedEvents)
    }
    while true {
      // The `Ready` is read in place (`ready!`): binding it to a local would copy its ten arrays
      // at every call.
      if ready == nil {
        if case .written(let metadata) = ownSnapshot {
          ownSnapshot = .idle
          guard metadata.index > core.snapshotIndex else { return .discardSnapshot(metadata) }
          awaiting = .commit
          return .commitSnapshot(metadata)
        }
        // Between two `Ready`s with everything handed out applied is an apply boundary.
        if let capture = captureIfDue() { return capture }
        guard let next = core.ready(maxCommittedEntries: applyCapacity) else { return nil }
        ready = next
        phase = .early
        position = 0
        continue
      }
      switch phase {
      case .early:
        phase = .persist
        let early = sendsEarlyMessages ? ready!.earlyMessageCount : 0
        if early > 0 { return .send(ready!.messages, 0..<early) }
      case .persist:
        phase = .chunks
        position = 0
        if ready!.hardState != nil || !ready!.entries.isEmpty {
          awaiting = .persist
          return .persist(hardState: ready!.hardState, entries: ready!.entries)
        }
      case .chunks:
        if let metadata = receivedSnapshot {
          // Restoring the state machine must not overtake the entries it is still applying.
          guard appliedIndex == handedOutIndex else {
            awaiting = .applies
            return nil
          }
          receivedSnapshot = nil
          awaiting = .install
          return .installSnapshot(metadata)
        }
        if position < ready!.snapshotChunks.count {
          let chunk = ready!.snapshotChunks[position]
          position += 1
          if chunk.done { receivedSnapshot = chunk.metadata }
          awaiting = .chunkWrite
          return .writeSnapshotChunk(chunk)
        }
        phase = .late
        position = sendsEarlyMessages ? ready!.earlyMessageCount : 0
      case .late:
        phase = .settle
        if position < ready!.messages.count {
          return .send(ready!.messages, position..<ready!.messages.count)
        }
      case .settle:
        if !ready!.rejectedProposals.isEmpty {
          for rejection in ready!.rejectedProposals where tracker.forget(rejection.requestID) {
            resolve(rejection.requestID, .failed(rejection.error))
          }
        }
        if !ready!.readStates.isEmpty {
          for state in ready!.readStates {
            switch state.result {
            case .success(let index):
              tracker.readIndexKnown(requestID: state.requestID, index: index, resolve: resolve)
            case .failure(let error):
              if tracker.forget(state.requestID) { resolve(state.requestID, .failed(error)) }
            }
          }
        }
        phase = .events
        position = 0
      case .events:
        phase = .chunkRequests
        position = 0
        if !ready!.events.isEmpty { return .publish(ready!.events) }
      case .chunkRequests:
        if position < ready!.snapshotChunkRequests.count {
          position += 1
          awaiting = .chunkRead
          return .readSnapshotChunk(ready!.snapshotChunkRequests[position - 1])
        }
        phase = .apply
      case .apply:
        phase = .finish
        if let last = ready!.committedEntries.last, last.index > handedOutIndex {
          let committed = ready!.committedEntries
          let first = committed.firstIndex { $0.index > handedOutIndex } ?? committed.endIndex
          handedOutIndex = last.index
          return .apply(committed, from: first)
        }
      case .finish:
        if !tracker.isEmpty { tracker.releaseReads(applied: appliedIndex, resolve: resolve) }
        ready = nil
        core.advance()
        if let capture = captureIfDue() { return capture }
        // Back to the host between two `Ready`s, so that what arrived meanwhile is stepped into
        // the next one (one write and one round of messages for all of it).
        finishedReady = true
        return nil
      }
    }
  }

  // MARK: - Completions

  /// The batch handed out with ``DriverAction/persist(hardState:entries:)`` is durable.
  public mutating func persisted() {
    guard awaiting == .persist else { return }
    awaiting = nil
    if let entries = ready?.entries, !entries.isEmpty { tracker.stored(entries, node: core.id) }
  }

  /// The chunk handed out with ``DriverAction/writeSnapshotChunk(_:)`` is written; `accepted`
  /// is false when the host had no snapshot under way that it belongs to (its first chunk was
  /// lost), so that a last chunk does not install an incomplete snapshot.
  public mutating func snapshotChunkWritten(accepted: Bool) {
    guard awaiting == .chunkWrite else { return }
    awaiting = nil
    if !accepted { receivedSnapshot = nil }
  }

  /// The snapshot handed out with ``DriverAction/installSnapshot(_:)`` is committed and the state
  /// machine restored from it.
  public mutating func snapshotInstalled(
    _ metadata: SnapshotMetadata, resolve: (UInt64, RequestOutcome) -> Void
  ) {
    guard awaiting == .install else { return }
    awaiting = nil
    if metadata.index > appliedIndex {
      appliedIndex = metadata.index
      handedOutIndex = max(handedOutIndex, metadata.index)
      appliedMembership = metadata.membership
      raisedEvents.append(.membershipCommitted(metadata.membership))
    }
    tracker.snapshotInstalled(metadata, resolve: resolve)
    core.snapshotInstalled(metadata)
    tracker.releaseReads(applied: appliedIndex, resolve: resolve)
  }

  /// The chunk asked for with ``DriverAction/readSnapshotChunk(_:)`` was read.
  public mutating func snapshotChunkRead(
    _ request: SnapshotChunkRequest, metadata: SnapshotMetadata, totalSize: UInt64, data: Data
  ) {
    guard awaiting == .chunkRead else { return }
    awaiting = nil
    core.sendSnapshotChunk(
      to: request.peer, metadata: metadata, totalSize: totalSize, offset: request.offset, data: data)
  }

  /// The chunk asked for could not be read; the follower asks again at the next heartbeat.
  public mutating func snapshotChunkUnavailable() {
    guard awaiting == .chunkRead else { return }
    awaiting = nil
  }

  /// The state machine applied `entry`, the next one handed out with
  /// ``DriverAction/apply(_:from:)`` (batches in the order they were handed out); settles the
  /// requests it decides and serves the reads that waited for it. It may be reported at any time,
  /// also while the driver carries out a later `Ready`.
  public mutating func applied(_ entry: LogEntry, resolve: (UInt64, RequestOutcome) -> Void) {
    guard entry.index == appliedIndex + 1, entry.index <= handedOutIndex else { return }
    appliedIndex = entry.index
    if case .membership(let membership) = entry.payload {
      appliedMembership = membership
      raisedEvents.append(.membershipCommitted(membership))
    }
    if !tracker.isEmpty {
      tracker.applied(entry, node: core.id, resolve: resolve)
      tracker.releaseReads(applied: appliedIndex, resolve: resolve)
    }
    if appliedIndex == handedOutIndex, awaiting == .applies { awaiting = nil }
  }

  /// The state machine's state was captured for the snapshot handed out with
  /// ``DriverAction/captureSnapshot(_:)``; it is now written in the background.
  public mutating func snapshotCaptured(_ metadata: SnapshotMetadata) {
    guard awaiting == .capture else { return }
    awaiting = nil
    snapshotRequested = false
    ownSnapshot = .writing(metadata)
  }

  /// The snapshot captured at `metadata` is written and ready to be committed.
  public mutating func snapshotWritten(_ metadata: SnapshotMetadata) {
    guard ownSnapshot == .writing(metadata) else { return }
    ownSnapshot = .written(metadata)
  }

  /// Capturing or writing the snapshot failed at `now`; `unsupported` when the state machine
  /// cannot take snapshots at all (the driver then stops asking).
  public mutating func snapshotFailed(unsupported: Bool, now: UInt64) {
    if awaiting == .capture { awaiting = nil }
    snapshotRequested = false
    ownSnapshot = .idle
    if unsupported {
      snapshotsSupported = false
    } else {
      lastSnapshotFailure = now
    }
  }

  /// The snapshot handed out with ``DriverAction/commitSnapshot(_:)`` is the storage's current
  /// one: the core compacts its log.
  public mutating func snapshotCommitted(_ metadata: SnapshotMetadata) {
    guard awaiting == .commit else { return }
    awaiting = nil
    core.snapshotCommitted(metadata)
  }

  /// How many committed entries the next `Ready` may hand out: none while the pipeline of
  /// entries being applied is full, or while a due snapshot waits for it to drain.
  private var applyCapacity: Int {
    let applying = handedOutIndex - appliedIndex
    let limit = UInt64(core.configuration.maxApplyingEntries)
    guard applying < limit else { return 0 }
    if applying > 0, snapshotDue(at: handedOutIndex) { return 0 }
    return Int(limit - applying)
  }

  /// The capture of a due snapshot, when everything handed out is applied (the state machine then
  /// holds exactly the state at ``appliedIndex``).
  private mutating func captureIfDue() -> DriverAction? {
    guard appliedIndex == handedOutIndex, snapshotDue(at: appliedIndex),
      let metadata = core.snapshotMetadata(at: appliedIndex)
    else { return nil }
    awaiting = .capture
    return .captureSnapshot(metadata)
  }

  /// Whether the policy (or a request) wants a snapshot once the state machine reaches `index`.
  private func snapshotDue(at index: UInt64) -> Bool {
    guard snapshotsSupported, ownSnapshot == .idle, index > core.snapshotIndex else { return false }
    if snapshotRequested { return true }
    var due = false
    if let interval = snapshotPolicy.entryInterval, index - core.snapshotIndex >= interval { due = true }
    if let bytes = snapshotPolicy.logBytes, core.logByteCount >= bytes { due = true }
    guard due else { return false }
    if let failed = lastSnapshotFailure, core.now < failed + snapshotPolicy.retryDelay { return false }
    return true
  }
}
