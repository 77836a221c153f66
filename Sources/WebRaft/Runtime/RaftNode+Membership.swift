extension RaftNode {
  /// Makes several membership changes as one: adds, removes, promotes and demotes members
  /// together. Returns once the change is applied on this node and, when it went through a joint
  /// configuration, once the cluster has left it.
  ///
  /// When more than one voter comes or goes, the cluster passes through a joint configuration
  /// (Raft dissertation §4.3) in which every election and every commit needs a majority of the old
  /// voters and a majority of the new ones; the leader leaves it on its own once it has committed.
  /// One change alone, or several that move at most one voter, take a single entry.
  ///
  /// New nodes named in ``MembershipChange/addVoter(_:attributes:)`` first join as learners; on
  /// the leader, this call then waits until they hold the log before they become voters, so that
  /// the new configuration never waits for a node that is still catching up. Called on a
  /// follower, it goes on once they are learners.
  ///
  /// ```swift
  /// // Replace n3 with n4, in one joint change.
  /// try await node.changeMembership([.addVoter("n4", attributes: ["raft": "10.0.0.4:7000"]), .remove("n3")])
  /// ```
  ///
  /// - Throws: ``RaftError/membershipChangeInProgress`` while another change is under way;
  ///   ``RaftError/membershipChangeRejected(_:)`` when a change does not apply (a member named
  ///   twice, a voter added twice, no voter left, …); ``RaftError/proposalTimedOut`` and the
  ///   errors of ``propose(_:)``.
  public func changeMembership(_ changes: [MembershipChange]) async throws {
    guard changes.count > 1 else {
      guard let change = changes.first else {
        throw RaftError.membershipChangeRejected("no change was given")
      }
      return try await changeMembership(change)
    }
    let newcomers = changes.compactMap { change -> (NodeID, [String: String]?)? in
      guard case .addVoter(let id, let attributes) = change, !core.membership.contains(id) else { return nil }
      return (id, attributes)
    }
    for (id, attributes) in newcomers {
      try await changeMembership(.addLearner(id, attributes: attributes))
    }
    if !newcomers.isEmpty, core.role == .leader {
      _ = try await waitFor(
        .caughtUp(Set(newcomers.map(\.0)), through: core.commitIndex),
        deadline: nowMilliseconds + proposalTimeout.wholeMilliseconds, timeoutError: .proposalTimedOut)
    }
    let added = Set(newcomers.map(\.0))
    let final = changes.map { change -> MembershipChange in
      if case .addVoter(let id, _) = change, added.contains(id) { return .promote(id) }
      return change
    }
    try await submitMembership(final, single: false)
    _ = try await waitFor(
      .notJoint, deadline: nowMilliseconds + proposalTimeout.wholeMilliseconds,
      timeoutError: .proposalTimedOut)
  }

  /// Replaces voter `member` with `newcomer` in one joint change: `newcomer` joins as a learner,
  /// catches up, then votes while `member` leaves.
  ///
  /// - Parameter attributes: `newcomer`'s attributes, replicated with the membership.
  public func replace(_ member: NodeID, with newcomer: NodeID, attributes: [String: String]? = nil)
    async throws
  {
    try await changeMembership([.addVoter(newcomer, attributes: attributes), .remove(member)])
  }

  /// Moves the cluster to exactly `voters` in one call: members not named leave, named nodes that
  /// are not voters yet join (new ones as learners first, to catch up), through a joint
  /// configuration when more than one voter changes. Learners not named stay learners.
  ///
  /// - Parameter voters: the voters wanted, with the attributes to record for new members.
  public func changeVoters(to voters: [NodeID: [String: String]]) async throws {
    let current = core.membership
    var changes: [MembershipChange] = []
    for (id, attributes) in voters.sorted(by: { $0.key < $1.key }) where !current.voters.contains(id) {
      changes.append(
        current.learners.contains(id)
          ? .promote(id) : .addVoter(id, attributes: attributes.isEmpty ? nil : attributes))
    }
    for id in current.voters.sorted() where voters[id] == nil {
      changes.append(.remove(id))
    }
    guard !changes.isEmpty else { return }
    try await changeMembership(changes)
  }

  /// Makes voter `member` a learner: it keeps receiving the log but no longer votes.
  public func demote(_ member: NodeID) async throws {
    try await changeMembership(.demote(member))
  }
}
