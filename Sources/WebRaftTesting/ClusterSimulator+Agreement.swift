#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Helpers in the style of the classic Raft lab tests: wait for a leader, count how many nodes
/// applied an index, reach agreement on a command.
extension ClusterSimulator {
  /// The leader that a quorum of the nodes it can reach follows in its term, if there is one.
  ///
  /// A node that merely believes it leads (a stale leader cut off from the others by
  /// ``disconnect(_:)``, a partition or cut links) is not returned: a majority of the voters,
  /// running and reachable both ways, must be in its term and name it.
  public func establishedLeader() -> NodeID? {
    var best: (id: NodeID, term: UInt64)?
    for node in nodes {
      guard let core = node.core, core.role == .leader, !network.isolated.contains(node.id) else {
        continue
      }
      let followers = nodes.filter { other in
        guard let otherCore = other.core, core.membership.allVoters.contains(other.id),
          other.id == node.id || canReach(node.id, other.id)
        else { return false }
        return otherCore.term == core.term && otherCore.leader == node.id
      }.map(\.id)
      guard core.membership.isQuorum(Set(followers)) else { continue }
      if best == nil || core.term > best!.term { best = (node.id, core.term) }
    }
    return best?.id
  }

  /// Whether messages pass between `a` and `b` both ways (no isolation, partition or cut link
  /// between them; loss aside).
  public func canReach(_ a: NodeID, _ b: NodeID) -> Bool {
    network.canDeliver(from: a, to: b) && network.canDeliver(from: b, to: a)
  }

  /// Whether `id` can reach a quorum of the voters it knows, itself included, both ways.
  func reachesQuorum(_ id: NodeID) -> Bool {
    guard let membership = core(of: id)?.membership else { return false }
    let reachable = membership.allVoters.filter { $0 == id || (isUp($0) && canReach(id, $0)) }
    return membership.isQuorum(reachable)
  }

  /// The running, connected nodes that believe they lead.
  public func connectedLeaders() -> [NodeID] {
    nodes.filter { $0.core?.role == .leader && !network.isolated.contains($0.id) }.map(\.id)
  }

  /// The membership committed on `id` (in force at its commit index), nil while it is down.
  public func committedMembership(of id: NodeID) -> Membership? {
    node(id).core?.committedMembership
  }

  /// The membership `id` last applied (or restored from a snapshot), nil while it is down.
  public func appliedMembership(of id: NodeID) -> Membership? {
    node(id).driver?.appliedMembership
  }

  /// Runs until a quorum of connected nodes follows one leader (see ``establishedLeader()``) and
  /// returns it.
  ///
  /// - Throws: ``SimulationFailure`` when no leader is established within `timeout` milliseconds,
  ///   or on an invariant violation.
  public func awaitLeader(within timeout: UInt64 = 5000) throws(SimulationFailure) -> NodeID {
    try run(for: timeout) { $0.establishedLeader() != nil }
    guard let leader = establishedLeader() else {
      throw failure(
        "no leader was established among the connected nodes within \(timeout) ms; \(summary())")
    }
    return leader
  }

  /// Throws unless no running, connected node believes it leads.
  ///
  /// - Throws: ``SimulationFailure`` naming the leaders.
  public func requireNoLeader() throws(SimulationFailure) {
    let leaders = connectedLeaders()
    try require(leaders.isEmpty, "expected no leader among the connected nodes, found \(leaders)")
  }

  /// The entry that running node `id` applied at `index`, if it did since it last started.
  public func appliedEntry(of id: NodeID, at index: UInt64) -> LogEntry? {
    let applied = appliedEntries(of: id)
    guard let first = applied.first, index >= first.index else { return nil }
    let offset = Int(index - first.index)
    return offset < applied.count ? applied[offset] : nil
  }

  /// How many running nodes applied `index`, and the command applied there (nil for a no-op or
  /// membership entry, or when none applied it).
  public func committedCount(at index: UInt64) -> (count: Int, command: Data?) {
    var count = 0
    var command: Data?
    for id in nodeIDs where isUp(id) {
      guard let entry = appliedEntry(of: id, at: index) else { continue }
      count += 1
      if case .command(let data) = entry.payload { command = data }
    }
    return (count, command)
  }

  /// Reaches agreement on `command` like the classic labs' `one()`: proposes it on a connected
  /// leader, then waits up to two seconds for `expectedNodes` running nodes to apply it at the
  /// index it was appended at; tries again (when `retry`) until `timeout` milliseconds have passed.
  ///
  /// - Returns: the index the command was applied at.
  /// - Throws: ``SimulationFailure`` when agreement is not reached, or on a violation.
  @discardableResult
  public func agree(
    _ command: Data, expectedNodes: Int, retry: Bool = true, timeout: UInt64 = 10_000
  ) throws(SimulationFailure) -> UInt64 {
    let start = now
    var rotation = 0
    while now - start < timeout {
      var appendedAt: UInt64?
      for _ in nodeIDs {
        rotation = (rotation + 1) % nodeIDs.count
        let id = nodeIDs[rotation]
        guard isConnected(id), let core = core(of: id), core.role == .leader, reachesQuorum(id) else {
          continue
        }
        let proposalID = try propose(command, on: id)
        if case .appended(let index, _)? = proposal(proposalID).ticket {
          appendedAt = index
          break
        }
      }
      if let index = appendedAt {
        let agreed = try run(for: 2000) { simulator in
          let (count, applied) = simulator.committedCount(at: index)
          return count >= expectedNodes && applied == command
        }
        if agreed { return index }
        if !retry {
          throw failure(
            "no agreement on \(String(decoding: command, as: UTF8.self)) at index \(index): "
              + "\(committedCount(at: index).count) of \(expectedNodes) nodes applied it")
        }
      } else {
        try run(for: 50)
      }
    }
    throw failure(
      "no agreement on \(String(decoding: command, as: UTF8.self)) among \(expectedNodes) nodes "
        + "within \(timeout) ms; \(summary())")
  }

  /// One line per node: role, term, vote, known leader, last log entry, commit and apply indexes,
  /// and whether it is down or disconnected.
  public func summary() -> String {
    nodeIDs.map { id -> String in
      guard let core = core(of: id) else { return "\(id): down" }
      return "\(id): \(core.role) term \(core.term) vote \(core.votedFor?.rawValue ?? "-") "
        + "leader \(core.leader?.rawValue ?? "-") last \(core.lastIndex)/\(core.lastTerm) "
        + "commit \(core.commitIndex) applied \(core.appliedIndex) "
        + "voters \(core.membership.voters.map(\.rawValue).sorted().joined(separator: ","))"
        + (isConnected(id) ? "" : " disconnected")
    }.joined(separator: "; ")
  }

  /// Crashes every running node.
  ///
  /// - Throws: ``SimulationFailure`` on a violation.
  public func crashAll() throws(SimulationFailure) {
    for id in nodeIDs { try crash(id) }
  }

  /// Restarts every crashed node.
  ///
  /// - Throws: ``SimulationFailure`` on a violation.
  public func restartAll() throws(SimulationFailure) {
    for id in nodeIDs { try restart(id) }
  }

  /// Reconnects every node: removes every cut, isolation and partition.
  public func reconnectAll() {
    network.heal()
  }
}
