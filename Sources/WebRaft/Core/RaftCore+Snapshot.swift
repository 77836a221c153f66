#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension RaftCore {
  /// The payload bytes of the entries held in the log (for a snapshot policy).
  public var logByteCount: Int { log.byteCount }

  /// The metadata of a snapshot of the state machine at `index`, which must be applied and still
  /// held in the log; nil otherwise.
  public func snapshotMetadata(at index: UInt64) -> SnapshotMetadata? {
    guard index <= log.appliedIndex, index >= log.snapshotIndex, let term = log.term(at: index) else {
      return nil
    }
    return SnapshotMetadata(index: index, term: term, membership: membership(at: index))
  }

  /// Tells the core that storage committed a snapshot of this node's state machine: the log is
  /// compacted through its index.
  public mutating func snapshotCommitted(_ metadata: SnapshotMetadata) {
    guard metadata.index > log.snapshotIndex, log.term(at: metadata.index) == metadata.term,
      metadata.index <= log.appliedIndex
    else { return }
    log.compact(through: metadata.index)
    membershipCompacted()
  }

  /// Tells the core that a snapshot received from the leader is stored and the state machine
  /// restored from it: the log now starts after it, and the leader is told.
  public mutating func snapshotInstalled(_ metadata: SnapshotMetadata) {
    if metadata.index > log.snapshotIndex {
      log.restore(metadata)
      membershipRestored(metadata)
    }
    if let incoming = incomingSnapshot, incoming.metadata == metadata {
      incomingSnapshot = nil
      send(
        to: incoming.leader,
        .installSnapshotResponse(
          InstallSnapshotResponse(
            snapshotIndex: metadata.index, nextOffset: incoming.totalSize, done: true)))
    }
  }

  /// Sends a chunk of the current snapshot that the driver read from storage for a
  /// ``Ready/snapshotChunkRequests`` entry.
  public mutating func sendSnapshotChunk(
    to peer: NodeID, metadata: SnapshotMetadata, totalSize: UInt64, offset: UInt64, data: Data
  ) {
    guard var entry = leading?.progress[peer], entry.state == .snapshot,
      offset == entry.snapshotOffset
    else { return }
    if metadata.index != entry.snapshotIndex {
      // Storage holds a newer snapshot than the one being sent: send that one from its start.
      entry.snapshotIndex = metadata.index
      if offset != 0 {
        entry.snapshotOffset = 0
        leading!.progress[peer] = entry
        requestSnapshotChunk(for: peer)
        return
      }
    }
    leading!.progress[peer] = entry
    let done = offset + UInt64(data.count) >= totalSize
    send(
      to: peer,
      .installSnapshot(
        InstallSnapshot(metadata: metadata, totalSize: totalSize, offset: offset, data: data, done: done)))
  }

  mutating func requestSnapshotChunk(for peer: NodeID) {
    guard var entry = leading?.progress[peer], entry.state == .snapshot else { return }
    entry.snapshotRequestedAt = now
    leading!.progress[peer] = entry
    snapshotChunkRequests.append(
      SnapshotChunkRequest(
        peer: peer, offset: entry.snapshotOffset, maxLength: configuration.snapshotChunkSize))
  }

  mutating func handleSnapshotResponse(_ response: InstallSnapshotResponse, from peer: NodeID) {
    guard var entry = leading?.progress[peer] else { return }
    entry.recentActive = true
    if response.done {
      guard response.snapshotIndex <= log.lastIndex else { return }
      _ = entry.acknowledge(response.snapshotIndex)
      if entry.state == .snapshot { entry.becomeProbe() }
      leading!.progress[peer] = entry
      maybeCommit()
      sendAppend(to: peer, allowEmpty: true)
      return
    }
    // Only an answer that moves the transfer on (or a follower that starts over from 0) asks for
    // a chunk: answers to duplicated or late chunks would otherwise each start an exchange of
    // their own, and a duplicating network would multiply them without end (simulator fuzzer
    // seed 497). A lost chunk is asked for again at a heartbeat; the answer to that resend is
    // believed even when it goes back: a late answer from an earlier attempt of the transfer
    // (before the follower restarted it) can have moved the leader past where the follower stands
    // (fuzzer seed 1367), and the follower's answers to chunks past its offset would otherwise be
    // ignored for ever.
    guard entry.state == .snapshot, response.snapshotIndex == entry.snapshotIndex,
      response.nextOffset > entry.snapshotOffset
        || (response.nextOffset == 0 && entry.snapshotOffset > 0)
        || (entry.snapshotResent && response.nextOffset != entry.snapshotOffset)
    else {
      leading!.progress[peer] = entry
      return
    }
    entry.snapshotResent = false
    entry.snapshotOffset = response.nextOffset
    leading!.progress[peer] = entry
    requestSnapshotChunk(for: peer)
  }

  /// InstallSnapshot receiver: chunks are accepted in order and handed to the driver to write;
  /// the last one is answered once the driver installed the snapshot.
  mutating func handleSnapshotChunk(_ chunk: InstallSnapshot, from sender: NodeID) {
    func answer(_ nextOffset: UInt64, done: Bool) {
      send(
        to: sender,
        .installSnapshotResponse(
          InstallSnapshotResponse(
            snapshotIndex: chunk.metadata.index, nextOffset: nextOffset, done: done)))
    }
    if chunk.metadata.index <= log.commitIndex {
      // Everything the snapshot covers is already committed here.
      answer(chunk.totalSize, done: true)
      return
    }
    if let pending = incomingSnapshot, pending.nextOffset == pending.totalSize,
      chunk.metadata.index <= pending.metadata.index,
      !(pending.metadata == chunk.metadata && pending.leader == sender)
    {
      // A snapshot at least as new is complete and being installed: starting this one would have
      // the driver restore an older state over it (simulator fuzzer seed 535). Its leader asks
      // again and is answered once the installation is done.
      return
    }
    // A transfer is one leader's copy of one snapshot: two nodes' snapshots with the same metadata
    // hold the same state but not necessarily the same bytes, so a transfer never resumes with
    // another leader's chunks (simulator fuzzer seed 497).
    let current = incomingSnapshot.flatMap {
      $0.metadata == chunk.metadata && $0.totalSize == chunk.totalSize && $0.leader == sender ? $0 : nil
    }
    if let incoming = current, chunk.offset < incoming.nextOffset {
      // A late copy, or a resend after a lost answer, of a chunk already written: it must not
      // restart the transfer (a copy of the first chunk did). Say where the transfer stands,
      // unless everything arrived and the answer comes with the installation.
      if incoming.nextOffset < incoming.totalSize { answer(incoming.nextOffset, done: false) }
      return
    }
    if chunk.offset == 0 {
      incomingSnapshot = IncomingSnapshot(
        metadata: chunk.metadata, leader: sender, nextOffset: 0, totalSize: chunk.totalSize)
    }
    guard var incoming = incomingSnapshot, incoming.metadata == chunk.metadata,
      incoming.totalSize == chunk.totalSize, incoming.leader == sender,
      chunk.offset == incoming.nextOffset
    else {
      answer(current?.nextOffset ?? 0, done: false)
      return
    }
    incoming.nextOffset += UInt64(chunk.data.count)
    incomingSnapshot = incoming
    snapshotChunks.append(chunk)
    if !chunk.done {
      answer(incoming.nextOffset, done: false)
    }
  }
}
