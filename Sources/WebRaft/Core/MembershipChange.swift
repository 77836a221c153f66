/// One change of the cluster membership.
///
/// A single change is carried out by one configuration entry (dissertation §4.1). Several changes
/// proposed together (``RaftCore/proposeMembershipChanges(_:requestID:)``) that add or remove more
/// than one voter go through a joint configuration (§4.3).
public enum MembershipChange: Hashable, Sendable, Codable {
  /// Adds a voting member (the original WebRaft's `join(address)`). Alone, a new node joins as a
  /// learner and the leader promotes it once it has caught up; so does a learner. Among several
  /// changes, the node is a voter of the new configuration at once: add it as a learner first and
  /// let it catch up (``RaftNode/changeMembership(_:)`` does that for you).
  case addVoter(NodeID, attributes: [String: String]? = nil)
  /// Adds a non-voting member that receives the log.
  case addLearner(NodeID, attributes: [String: String]? = nil)
  /// Removes a member, voter or learner (the original WebRaft's `leave(address)`).
  case remove(NodeID)
  /// Makes a learner a voter. Alone, the leader does so once the learner has caught up.
  case promote(NodeID)
  /// Makes a voter a learner: it keeps receiving the log but no longer votes.
  case demote(NodeID)

  /// The member the change is about.
  public var member: NodeID {
    switch self {
    case .addVoter(let id, _), .addLearner(let id, _), .remove(let id), .promote(let id), .demote(let id):
      return id
    }
  }
}

extension Membership {
  /// The membership after the single change `change` (one configuration entry, §4.1), or an error
  /// saying why the change does not apply.
  public func applying(_ change: MembershipChange) throws(RaftError) -> Membership {
    var next = self
    switch change {
    case .addVoter(let id, let attributes):
      if voters.contains(id) { throw .membershipChangeRejected("\(id) is already a voter") }
      // A new node starts as a learner; a learner stays one. The leader promotes either once it
      // has caught up: a voter that lags behind would count in quorums it cannot help form.
      next.learners.insert(id)
      next.learnersToPromote.insert(id)
      if let attributes { next.attributes[id] = attributes }
    case .addLearner(let id, let attributes):
      if contains(id) { throw .membershipChangeRejected("\(id) is already a member") }
      next.learners.insert(id)
      if let attributes { next.attributes[id] = attributes }
    case .remove(let id):
      try next.remove(id)
      next.attributes[id] = nil
    case .promote(let id):
      guard learners.contains(id) else { throw .membershipChangeRejected("\(id) is not a learner") }
      next.learnersToPromote.insert(id)
    case .demote(let id):
      try next.demote(id)
    }
    return next
  }

  /// The configuration entry that carries out `changes`: the single change's entry for one
  /// change; for several, the new configuration itself when at most one voter comes or goes, and
  /// otherwise the joint configuration that leads to it (§4.3).
  ///
  /// Among several changes, additions and promotions make voters at once; each member may be
  /// named once.
  public func transition(for changes: [MembershipChange]) throws(RaftError) -> Membership {
    guard !isJoint else {
      throw .membershipChangeRejected("the configuration is joint; wait until the cluster has left it")
    }
    guard let first = changes.first else { throw .membershipChangeRejected("no change was given") }
    if changes.count == 1 { return try applying(first) }
    var named: Set<NodeID> = []
    var next = self
    for change in changes {
      guard named.insert(change.member).inserted else {
        throw .membershipChangeRejected("\(change.member) is named in more than one change")
      }
      try next.applyDirectly(change)
    }
    if next.voters.isEmpty {
      throw .membershipChangeRejected("the change leaves no voter; a cluster cannot be emptied")
    }
    if next.voters.symmetricDifference(voters).count <= 1 {
      next.attributes = next.attributes.filter { next.contains($0.key) }
      return next
    }
    // Removed members keep their attributes until the cluster leaves the joint configuration:
    // outgoing voters must stay reachable while their majority is needed.
    next.outgoingVoters = voters
    return next
  }

  /// Applies one of several changes: voters are made at once.
  private mutating func applyDirectly(_ change: MembershipChange) throws(RaftError) {
    switch change {
    case .addVoter(let id, let attributes):
      if voters.contains(id) { throw .membershipChangeRejected("\(id) is already a voter") }
      learners.remove(id)
      learnersToPromote.remove(id)
      voters.insert(id)
      if let attributes { self.attributes[id] = attributes }
    case .addLearner(let id, let attributes):
      if contains(id) { throw .membershipChangeRejected("\(id) is already a member") }
      learners.insert(id)
      if let attributes { self.attributes[id] = attributes }
    case .remove(let id):
      guard contains(id) else { throw .membershipChangeRejected("\(id) is not a member") }
      voters.remove(id)
      learners.remove(id)
      learnersToPromote.remove(id)
    case .promote(let id):
      guard learners.remove(id) != nil else { throw .membershipChangeRejected("\(id) is not a learner") }
      learnersToPromote.remove(id)
      voters.insert(id)
    case .demote(let id):
      guard voters.remove(id) != nil else { throw .membershipChangeRejected("\(id) is not a voter") }
      learners.insert(id)
    }
  }

  private mutating func remove(_ id: NodeID) throws(RaftError) {
    if !contains(id) { throw .membershipChangeRejected("\(id) is not a member") }
    if voters == [id] {
      throw .membershipChangeRejected("\(id) is the last voter; a cluster cannot be emptied")
    }
    voters.remove(id)
    learners.remove(id)
    learnersToPromote.remove(id)
  }

  private mutating func demote(_ id: NodeID) throws(RaftError) {
    guard voters.contains(id) else { throw .membershipChangeRejected("\(id) is not a voter") }
    if voters == [id] {
      throw .membershipChangeRejected("\(id) is the last voter; a cluster cannot be emptied")
    }
    voters.remove(id)
    learners.insert(id)
  }
}
