#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The simulator as the host of each node's ``RaftDriver``: it does what the driver asks with the
/// simulated storage, network and state machine, and reports completions when their events come.
extension ClusterSimulator {
  func deliver(_ message: RaftMessage, incarnation: UInt64) throws(SimulationFailure) {
    guard let position = positions[message.to] else { return }
    let node = nodes[position]
    guard node.isUp, node.incarnation == incarnation,
      network.canDeliver(from: message.from, to: message.to)
    else {
      note(.lost, position, "lost \(self.describe(message))")
      return
    }
    noteMessage(.deliver, message)
    node.driver!.tick(now: localTime(of: node))
    traceSpec(node, "tick")
    node.driver!.step(message)
    traceSpec(node, "deliver", message: message)
    try afterInput(node)
  }

  /// Carries out what the node's driver asks until it waits for an event or has nothing left, then
  /// reschedules the node's timer and checks it.
  func afterInput(_ node: SimulatedNode) throws(SimulationFailure) {
    try drive(node)
    guard let core = node.core else { return }
    scheduleTick(node)
    try checker.observe(core)
  }

  private func drive(_ node: SimulatedNode) throws(SimulationFailure) {
    while node.isUp {
      node.driver!.snapshotPolicy.entryInterval = snapshotInterval
      node.driver!.sendsEarlyMessages = sendsEarlyMessages
      let action = node.driver!.next { node.settled.append(($0, $1)) }
      try settleBuffered(on: node)
      guard let action else {
        if node.driver!.takeFinishedReady() { continue }
        return
      }
      try perform(action, on: node)
    }
  }

  private func perform(_ action: DriverAction, on node: SimulatedNode) throws(SimulationFailure) {
    switch action {
    case .send(let messages, let range):
      for position in range { try send(messages[position]) }
    case .persist(let hardState, let entries):
      node.pendingWrite = (hardState, entries)
      node.writeToken += 1
      let delay = UInt64.random(in: diskDelay, using: &diskRandom)
      queue.push(at: now + delay, .writeDone(node: node.position, token: node.writeToken))
      note(.write, node.position, "\(node.id) writes \(entries.count) entries, durable in \(delay) ms")
      trace.combine(delay)
    case .writeSnapshotChunk(let chunk):
      node.driver!.snapshotChunkWritten(accepted: receiveChunk(chunk, on: node))
    case .installSnapshot(let metadata):
      try install(metadata, on: node)
    case .readSnapshotChunk(let request):
      let metadata = node.storage.state.snapshot
      guard metadata.index > 0 else {
        node.driver!.snapshotChunkUnavailable()
        return
      }
      let data = node.storage.snapshotData
      let start = Int(min(request.offset, UInt64(data.count)))
      let end = min(start + request.maxLength, data.count)
      node.driver!.snapshotChunkRead(
        request, metadata: metadata, totalSize: UInt64(data.count), data: data.subdata(in: start..<end))
    case .apply(let batch, let first):
      let entries = batch[first...]
      // What the node knows committed is recorded before anything is applied.
      try checker.observe(node.core!)
      let delay = applyDelay.upperBound == 0 ? 0 : UInt64.random(in: applyDelay, using: &diskRandom)
      node.pendingApplies.append((entries, delay))
      // The state machine applies in runs, in order: batches handed out while a run is under way
      // wait for it to end, then go together into the next run, which takes the delay drawn for
      // the first of them. The driver goes on meanwhile.
      guard node.pendingApplies.count == 1 else {
        note(.applyStarted, node.position, "\(node.id) queues \(entries.count) entries to apply")
        trace.combine(delay)
        return
      }
      if delay == 0 {
        try applyPending(on: node)
        traceSpec(node, "applied")
      } else {
        startApplying(on: node)
      }
    case .captureSnapshot(let metadata):
      try capture(metadata, on: node)
    case .commitSnapshot(let metadata):
      try commitOwnSnapshot(metadata, on: node)
    case .discardSnapshot:
      node.writtenSnapshot = nil
    case .publish:
      break
    }
  }

  // MARK: - Completions

  /// The write under way on `node` is durable.
  func persisted(on node: SimulatedNode) throws(SimulationFailure) {
    guard let write = node.pendingWrite else { return }
    node.pendingWrite = nil
    if let problem = node.storage.write(hardState: write.hardState, entries: write.entries) {
      throw failure("\(node.id) broke the storage contract: \(problem)")
    }
    storageObserver?(node.id, .persisted(hardState: write.hardState, entries: write.entries), node.storage)
    if let first = write.entries.first {
      let previousTerm =
        first.index - 1 == node.storage.state.snapshot.index
        ? node.storage.state.snapshot.term
        : node.storage.state.entries[Int(first.index - node.storage.state.snapshot.index) - 2].term
      try checker.stored(write.entries, after: previousTerm, on: node.id)
    }
    if let hardState = write.hardState {
      try checker.stored(hardState, on: node.id)
      trace.combine(hardState.term)
      trace.combine(hardState.commitIndex)
    }
    note(
      .stored, node.position,
      "\(node.id) stored \(write.hardState.map { "\($0)" } ?? "") \(write.entries.count) entries")
    trace.combine(UInt64(write.entries.count))
    node.driver!.persisted()
    if specTrace != nil {
      traceSpec(node, "stored", extra: SpecTrace.durable(node.storage.state, written: write.entries))
    }
  }

  /// The state machine of `node` applies the run under way, then starts the next one with the
  /// batches queued meanwhile.
  func applyPending(on node: SimulatedNode) throws(SimulationFailure) {
    let run = max(node.applyingBatches, 1)
    guard node.pendingApplies.count >= run else { return }
    let batches = node.pendingApplies.prefix(run)
    node.pendingApplies.removeFirst(run)
    node.applyingBatches = 0
    for (entries, _) in batches {
      for entry in entries {
        try checker.applied(entry, on: node.id)
        node.stateMachine.append(entry)
        trace.combine(TraceKind.apply.rawValue)
        trace.combine(entry.index)
        trace.combine(entry.term)
        node.driver!.applied(entry) { node.settled.append(($0, $1)) }
        try settleBuffered(on: node)
      }
    }
    if !node.pendingApplies.isEmpty { startApplying(on: node) }
  }

  /// Schedules the end of a run of every batch queued on `node`, the first one's delay from now.
  private func startApplying(on node: SimulatedNode) {
    let delay = node.pendingApplies[0].delay
    node.applyingBatches = node.pendingApplies.count
    node.applyToken += 1
    queue.push(at: now + delay, .applyDone(node: node.position, token: node.applyToken))
    note(
      .applyStarted, node.position,
      "\(node.id) applies \(node.pendingApplies.reduce(0) { $0 + $1.entries.count }) entries in \(delay) ms")
    trace.combine(delay)
  }

  // MARK: - Messages

  func send(_ message: RaftMessage) throws(SimulationFailure) {
    if specTrace != nil, let sender = positions[message.from] {
      traceSpec(nodes[sender], "internal")
    }
    try checker.sent(message)
    messagesSent += 1
    guard let from = positions[message.from], let to = positions[message.to] else { return }
    messageCounts[MessageCountKey(from: from, to: to, kind: message.kindName), default: 0] += 1
    let recipient = nodes[to]
    let delays = network.delays(from: message.from, to: message.to)
    specTrace?.recordSend(message, copies: delays.count, time: now)
    for delay in delays {
      queue.push(at: now + delay, .deliver(message, incarnation: recipient.incarnation))
    }
    noteMessage(.send, message)
    trace.combine(UInt64(delays.count))
  }

  func scheduleTick(_ node: SimulatedNode) {
    guard let core = node.core else { return }
    // Deadlines are on the node's clock. Every deadline at or before its time now has fired: a
    // later one is the next tick.
    let local = localTime(of: node)
    var localDeadline = core.nextDeadline > local ? core.nextDeadline : local + 1
    if let expiry = node.driver!.nextExpiry, expiry < localDeadline {
      localDeadline = max(expiry, local + 1)
    }
    let deadline = max(simulatedTime(of: node, at: localDeadline), now + 1, node.timerStalledUntil)
    if let scheduled = node.scheduledTick, scheduled <= deadline + tickDelay.upperBound { return }
    let lateness = tickDelay.upperBound == 0 ? 0 : UInt64.random(in: tickDelay, using: &diskRandom)
    node.tickGeneration += 1
    node.scheduledTick = deadline + lateness
    queue.push(at: deadline + lateness, .tick(node: node.position, generation: node.tickGeneration))
  }

  // MARK: - Clocks

  /// The time on `node`'s clock now: simulated time run faster or slower by its clock rate.
  func localTime(of node: SimulatedNode) -> UInt64 {
    guard node.clockRate != 0 else { return now }
    return UInt64(Double(now) * (1 + node.clockRate))
  }

  /// The simulated time at which `node`'s clock reads `local` (rounded up).
  func simulatedTime(of node: SimulatedNode, at local: UInt64) -> UInt64 {
    guard node.clockRate != 0 else { return local }
    return UInt64((Double(local) / (1 + node.clockRate)).rounded(.up))
  }

  // MARK: - Snapshots

  /// Captures the node's state machine for the snapshot the driver asked for. The capture must be
  /// the state at exactly the snapshot's index: anything else is a snapshot that replays entries
  /// (or misses some) on restart and on the followers that install it.
  private func capture(_ metadata: SnapshotMetadata, on node: SimulatedNode) throws(SimulationFailure) {
    guard UInt64(node.stateMachine.count) == metadata.index else {
      throw failure(
        "\(node.id) captured a snapshot labelled index \(metadata.index) holding the state after index "
          + "\(node.stateMachine.count)")
    }
    let id = nextSnapshotID
    nextSnapshotID += 1
    snapshotContents[id] = node.stateMachine
    try checker.snapshot(metadata, contents: node.stateMachine, restoredOn: nil)
    let data = SnapshotImage.encode(id: id, metadata: metadata, fillerLength: snapshotFillerBytes)
    node.driver!.snapshotCaptured(metadata)
    node.writtenSnapshot = (metadata, data)
    node.snapshotBeingWritten = metadata
    node.snapshotToken += 1
    let delay = UInt64.random(in: diskDelay, using: &diskRandom)
    queue.push(at: now + delay, .snapshotWritten(node: node.position, token: node.snapshotToken))
    note(.snapshotCaptured, node.position, "\(node.id) captured a snapshot at \(metadata.index)")
  }

  /// Makes the node's own written snapshot durable and current.
  private func commitOwnSnapshot(_ metadata: SnapshotMetadata, on node: SimulatedNode)
    throws(SimulationFailure)
  {
    guard let written = node.writtenSnapshot, written.metadata == metadata else {
      throw failure("\(node.id) was asked to commit a snapshot at \(metadata.index) it never wrote")
    }
    node.writtenSnapshot = nil
    node.storage.commitSnapshot(metadata, data: written.data)
    storageObserver?(node.id, .snapshotCommitted(metadata, data: written.data), node.storage)
    node.driver!.snapshotCommitted(metadata)
    traceSpec(node, "compact")
    snapshotsTaken += 1
    note(.snapshotTaken, node.position, "\(node.id) took a snapshot at \(metadata.index)/\(metadata.term)")
    trace.combine(metadata.index)
  }

  /// Writes a snapshot chunk received from the leader; returns whether it belongs to the snapshot
  /// under way.
  private func receiveChunk(_ chunk: InstallSnapshot, on node: SimulatedNode) -> Bool {
    if chunk.offset == 0 {
      node.incomingSnapshot = (chunk.metadata, Data())
    }
    guard var incoming = node.incomingSnapshot, incoming.metadata == chunk.metadata else { return false }
    incoming.data.append(chunk.data)
    node.incomingSnapshot = incoming
    note(
      .snapshotChunk, node.position, "\(node.id) writes snapshot chunk at \(chunk.offset), done \(chunk.done)"
    )
    return true
  }

  /// Makes the snapshot received from the leader durable and restores the state machine from it.
  private func install(_ metadata: SnapshotMetadata, on node: SimulatedNode) throws(SimulationFailure) {
    guard let incoming = node.incomingSnapshot, incoming.metadata == metadata else {
      throw failure("\(node.id) was asked to install a snapshot at \(metadata.index) it never received")
    }
    node.incomingSnapshot = nil
    let contents = try snapshotContents(incoming.data, metadata: metadata, on: node)
    if UInt64(node.stateMachine.count) > metadata.index {
      throw failure(
        "\(node.id) was sent a snapshot at index \(metadata.index) but has applied "
          + "\(node.stateMachine.count) entries")
    }
    node.storage.commitSnapshot(metadata, data: incoming.data)
    storageObserver?(node.id, .snapshotCommitted(metadata, data: incoming.data), node.storage)
    node.stateMachine = contents
    try checker.snapshot(metadata, contents: contents, restoredOn: node.id)
    node.driver!.snapshotInstalled(metadata) { node.settled.append(($0, $1)) }
    traceSpec(node, "install")
    try settleBuffered(on: node)
    snapshotsInstalled += 1
    note(
      .snapshotInstalled, node.position,
      "\(node.id) installed a snapshot at \(metadata.index)/\(metadata.term)")
    trace.combine(metadata.index)
  }

  /// The contents of the snapshot whose bytes are `data`.
  func snapshotContents(_ data: Data, metadata: SnapshotMetadata, on node: SimulatedNode)
    throws(SimulationFailure) -> [LogEntry]
  {
    switch SnapshotImage.decode(data, metadata: metadata) {
    case .success(let id):
      guard let contents = snapshotContents[id] else {
        throw failure("\(node.id) holds snapshot \(id), which was never taken")
      }
      return contents
    case .failure(let problem):
      throw failure(
        "\(node.id) holds a corrupt snapshot at index \(metadata.index): \(problem.description)")
    }
  }

  // MARK: - Settling requests

  /// Settles the requests the node's driver decided since the last call.
  func settleBuffered(on node: SimulatedNode) throws(SimulationFailure) {
    guard !node.settled.isEmpty else { return }
    let settled = node.settled
    node.settled = []
    for (requestID, outcome) in settled {
      try settle(requestID, outcome, on: node)
    }
  }

  private func settle(_ requestID: UInt64, _ outcome: RequestOutcome, on node: SimulatedNode)
    throws(SimulationFailure)
  {
    if requestID >= Self.readRequestBase {
      let position = Int(requestID - Self.readRequestBase)
      guard reads.indices.contains(position) else { return }
      switch outcome {
      case .readable(let index):
        specTrace?.recordEvent(
          "readServed", node: node.id, time: now, extra: ",\"read\":\(position),\"index\":\(index)")
        try checker.readResolved(
          on: node.id, index: index, committedWhenAsked: reads[position].committedWhenAsked, lease: false)
        reads[position].status = .served(index: index)
      case .failed(let error):
        reads[position].status = .failed(error)
      case .applied:
        break
      }
      return
    }
    let position = Int(requestID) - 1
    guard proposals.indices.contains(position), proposals[position].status == .pending else { return }
    switch outcome {
    case .applied(let entry):
      proposals[position].status = .succeeded(index: entry.index, term: entry.term)
      acknowledgedProposals.append(proposals[position].id)
      checker.acknowledged(index: entry.index, term: entry.term, nodeTerm: node.core!.term)
    case .failed(.proposalDropped(let index)):
      proposals[position].status = .dropped(index: index)
    case .failed(let error):
      proposals[position].status = .failed(error)
    case .readable:
      break
    }
  }
}
