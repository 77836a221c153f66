/// The members of a cluster: who votes, who only follows, and what the user attached to each.
///
/// Membership changes travel through the replicated log as entries, one server at a time (Raft
/// dissertation §4.1). A node uses the latest membership in its log, committed or not.
public struct Membership: Hashable, Sendable, Codable {
  /// The members whose acknowledgement counts towards a quorum and who may become leader.
  public var voters: Set<NodeID>
  /// Members that receive the log but do not vote (read replicas, or nodes catching up).
  public var learners: Set<NodeID>
  /// Free-form attributes per member, replicated with the membership (for example the addresses a
  /// transport or a service needs to reach the member). The library never reads them.
  public var attributes: [NodeID: [String: String]]
  /// Learners that joined to become voters: the leader promotes each one once it has caught up,
  /// so that a new, empty node never counts in a quorum before it holds the log.
  public var learnersToPromote: Set<NodeID>

  /// Creates a membership.
  public init(
    voters: Set<NodeID>,
    learners: Set<NodeID> = [],
    attributes: [NodeID: [String: String]] = [:],
    learnersToPromote: Set<NodeID> = []
  ) {
    self.voters = voters
    self.learners = learners.subtracting(voters)
    self.attributes = attributes
    self.learnersToPromote = learnersToPromote.intersection(self.learners)
  }

  /// An empty membership: a node that knows no cluster yet (it waits to be added).
  public static let empty = Membership(voters: [])

  /// Every member, voter or learner.
  public var members: Set<NodeID> { voters.union(learners) }

  /// Whether `id` is a voter or a learner.
  public func contains(_ id: NodeID) -> Bool {
    voters.contains(id) || learners.contains(id)
  }

  /// The number of voters that form a majority.
  public var quorum: Int { voters.count / 2 + 1 }

  /// The membership after applying `change`, or an error saying why the change does not apply.
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
      if !contains(id) { throw .membershipChangeRejected("\(id) is not a member") }
      if voters == [id] {
        throw .membershipChangeRejected("\(id) is the last voter; a cluster cannot be emptied")
      }
      next.voters.remove(id)
      next.learners.remove(id)
      next.learnersToPromote.remove(id)
      next.attributes[id] = nil
    }
    return next
  }

  /// The membership with learner `id` made a voter: the step the leader takes for a learner in
  /// ``learnersToPromote`` once it has caught up.
  func promoting(_ id: NodeID) -> Membership {
    var next = self
    guard next.learners.remove(id) != nil else { return self }
    next.learnersToPromote.remove(id)
    next.voters.insert(id)
    return next
  }
}

/// A single-server change of the cluster membership.
public enum MembershipChange: Hashable, Sendable, Codable {
  /// Adds a voting member (the seed's `join(address)`): a new node joins as a learner, and the
  /// leader promotes it once it has caught up; so does a learner, which is promoted once it has
  /// caught up too.
  case addVoter(NodeID, attributes: [String: String]? = nil)
  /// Adds a non-voting member that receives the log.
  case addLearner(NodeID, attributes: [String: String]? = nil)
  /// Removes a member, voter or learner (the seed's `leave(address)`).
  case remove(NodeID)
}

extension Membership: ExpressibleByArrayLiteral {
  /// A membership of voters written as a list: `["a", "b", "c"]`.
  public init(arrayLiteral voters: NodeID...) {
    self.init(voters: Set(voters))
  }
}
