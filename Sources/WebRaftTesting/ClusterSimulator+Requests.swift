#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension ClusterSimulator {
  // MARK: - Reads

  /// Asks `id` for a linearizable read (ReadIndex). The read is served once the node applied the
  /// read index; the checker verifies that index against what was committed when it was asked.
  ///
  /// - Throws: ``SimulationFailure`` on a violation (a refused read is not an error: its status
  ///   says why).
  @discardableResult
  public func read(on id: NodeID) throws(SimulationFailure) -> SimulatedRead.ID {
    let node = node(id)
    let position = reads.count
    let requestID = Self.readRequestBase + UInt64(position)
    reads.append(
      SimulatedRead(
        id: SimulatedRead.ID(position), node: id, requestID: requestID, time: now,
        committedWhenAsked: checker.highestCommitted, status: .pending))
    guard node.isUp else {
      reads[position].status = .failed(.shutdown)
      return reads[position].id
    }
    checker.time = now
    do {
      try node.driver!.readIndex(requestID: requestID, deadline: nil)
      traceSpec(node, "read", extra: ",\"read\":\(position)")
      note(.read, node.position, "read \(position) on \(id)")
    } catch {
      reads[position].status = .failed(error)
      note(.readRefused, node.position, "read \(position) on \(id) refused: \(error)")
    }
    do throws(SimulationFailure) {
      try afterInput(node)
      try checkLeaders()
    } catch {
      throw withRecentTrace(error)
    }
    return reads[position].id
  }

  /// Asks the leader `id` for a lease read: the commit index when its lease holds, checked against
  /// the highest index any node knows committed; nil when the lease does not hold.
  ///
  /// - Throws: ``SimulationFailure`` when the lease read index is stale.
  public func leaseRead(on id: NodeID) throws(SimulationFailure) -> UInt64? {
    let node = node(id)
    guard node.isUp else { return nil }
    checker.time = now
    // No tick first: the lease must hold at the moment of the read, however late the node's
    // timer is.
    let requestID = Self.readRequestBase - 1
    let index: UInt64?
    switch node.driver!.leaseRead(requestID: requestID, now: localTime(of: node), deadline: nil) {
    case .readable(let readable):
      index = readable
    case .waiting(let waiting):
      index = waiting
      _ = node.driver!.forget(requestID)
    case .noLease:
      index = nil
    }
    note(.leaseRead, node.position, "lease read on \(id): \(index.map { "\($0)" } ?? "no lease")")
    if let index, specTrace != nil {
      // Every node's clock at the read: the checker needs a quorum whose votes are held then.
      let clocks = nodes.filter(\.isUp).map { "\"\($0.id)\":\(localTime(of: $0))" }.joined(separator: ",")
      specTrace?.recordEvent(
        "leaseRead", node: id, time: now, extra: ",\"index\":\(index),\"clocks\":{\(clocks)}")
    }
    do throws(SimulationFailure) {
      if let index {
        try checker.readResolved(
          on: id, index: index, committedWhenAsked: checker.highestCommitted, lease: true)
      }
      try afterInput(node)
    } catch {
      throw withRecentTrace(error)
    }
    return index
  }

  // MARK: - Leadership transfer

  /// Asks the leader `id` to hand leadership to `target` (or to the most up-to-date voter); returns
  /// the core's refusal, if any.
  ///
  /// - Throws: ``SimulationFailure`` on a violation.
  @discardableResult
  public func transferLeadership(on id: NodeID, to target: NodeID?) throws(SimulationFailure) -> RaftError? {
    let node = node(id)
    guard node.isUp else { return .shutdown }
    checker.time = now
    node.driver!.tick(now: localTime(of: node))
    traceSpec(node, "tick")
    var refusal: RaftError?
    do {
      try node.driver!.transferLeadership(to: target)
    } catch {
      refusal = error
    }
    traceSpec(node, "transfer")
    note(
      .transfer, node.position,
      "transfer leadership from \(id) to \(target?.rawValue ?? "any"): \(refusal.map { "\($0)" } ?? "started")"
    )
    do throws(SimulationFailure) {
      try afterInput(node)
      try checkLeaders()
    } catch {
      throw withRecentTrace(error)
    }
    return refusal
  }

  /// Cuts `id` off from every other node, both ways (it keeps running).
  public func disconnect(_ id: NodeID) {
    network.isolate(id)
    note(.disconnect, positions[id] ?? 0, "disconnect \(id)")
  }

  /// Reconnects a node cut off with ``disconnect(_:)``.
  public func connect(_ id: NodeID) {
    network.rejoin(id)
    note(.connect, positions[id] ?? 0, "connect \(id)")
  }

  // MARK: - Proposals

  /// Proposes `command` on `id`, as a client of that node would.
  ///
  /// The proposal succeeds when the node applies its entry: at the (index, term) the core
  /// returned when the node leads, or the entry whose origin is this proposal when the node
  /// forwarded it. Follow it with ``proposal(_:)``.
  ///
  /// - Throws: ``SimulationFailure`` if the step violates an invariant (a refused proposal is
  ///   not an error: its status says why).
  @discardableResult
  public func propose(_ command: Data, on id: NodeID) throws(SimulationFailure) -> SimulatedProposal.ID {
    try makeProposal(command: command, change: nil, on: id)
  }

  /// Proposes a membership change on `id` (the seed's `join` and `leave`), followed like a command.
  ///
  /// - Throws: ``SimulationFailure`` if the step violates an invariant (a refused change is not an
  ///   error: its status says why).
  @discardableResult
  public func proposeMembershipChange(_ change: MembershipChange, on id: NodeID) throws(SimulationFailure)
    -> SimulatedProposal.ID
  {
    try makeProposal(command: Data(), change: change, on: id)
  }

  /// Proposes several membership changes made together on `id` (a joint change when more than
  /// one voter comes or goes), followed like a command.
  ///
  /// - Throws: ``SimulationFailure`` if the step violates an invariant (a refused change is not an
  ///   error: its status says why).
  @discardableResult
  public func proposeMembershipChanges(_ changes: [MembershipChange], on id: NodeID)
    throws(SimulationFailure) -> SimulatedProposal.ID
  {
    try makeProposal(command: Data(), changes: changes, on: id)
  }

  private func makeProposal(command: Data, change: MembershipChange?, on id: NodeID)
    throws(SimulationFailure) -> SimulatedProposal.ID
  {
    try makeProposal(command: command, changes: change.map { [$0] } ?? [], single: true, on: id)
  }

  private func makeProposal(command: Data, changes: [MembershipChange], single: Bool = false, on id: NodeID)
    throws(SimulationFailure) -> SimulatedProposal.ID
  {
    let node = node(id)
    let position = proposals.count
    let requestID = UInt64(position + 1)
    let proposalID = SimulatedProposal.ID(position)
    proposals.append(
      SimulatedProposal(
        id: proposalID, node: id, command: command, membershipChanges: changes, requestID: requestID,
        time: now, ticket: nil, status: .pending))
    guard node.isUp else {
      proposals[position].status = .failed(.shutdown)
      note(.proposeWhileDown, node.position, "propose \(proposalID) on \(id), which is down")
      return proposalID
    }
    checker.time = now
    node.driver!.tick(now: localTime(of: node))
    traceSpec(node, "tick")
    do {
      let ticket: ProposalTicket
      if single, let change = changes.first {
        ticket = try node.driver!.proposeMembershipChange(change, requestID: requestID, deadline: nil)
      } else if !changes.isEmpty {
        ticket = try node.driver!.proposeMembershipChanges(changes, requestID: requestID, deadline: nil)
      } else {
        ticket = try node.driver!.propose(command, requestID: requestID, deadline: nil)
      }
      proposals[position].ticket = ticket
      traceSpec(node, changes.isEmpty ? "propose" : "change")
      note(
        .propose, node.position,
        "propose \(proposalID) \(changes.isEmpty ? "" : "\(changes)") on \(id): \(ticket)")
    } catch {
      proposals[position].status = .failed(error)
      note(.proposeRefused, node.position, "propose \(proposalID) on \(id) refused: \(error)")
    }
    do throws(SimulationFailure) {
      try afterInput(node)
      try checkLeaders()
    } catch {
      throw withRecentTrace(error)
    }
    return proposalID
  }

  /// Proposes `command` on the current leader (the leader of the highest term), or returns nil
  /// when no running node leads.
  ///
  /// - Throws: ``SimulationFailure`` if the step violates an invariant.
  @discardableResult
  public func proposeOnLeader(_ command: Data) throws(SimulationFailure) -> SimulatedProposal.ID? {
    guard let leader = currentLeader() else { return nil }
    return try propose(command, on: leader)
  }

  // MARK: - Snapshots on demand

  /// Asks `id` for a snapshot now, as ``RaftNode/snapshot()`` does: taken at its next apply
  /// boundary whatever ``snapshotInterval`` says.
  ///
  /// - Throws: ``SimulationFailure`` on a violation.
  public func requestSnapshot(on id: NodeID) throws(SimulationFailure) {
    let node = node(id)
    guard node.isUp else { return }
    node.driver!.requestSnapshot()
    traceSpec(node, "internal")
    note(.snapshotRequested, node.position, "snapshot requested on \(id)")
    do throws(SimulationFailure) {
      try afterInput(node)
    } catch {
      throw withRecentTrace(error)
    }
  }
}
