/// The members of a cluster: who votes, who only follows, and what the user attached to each.
///
/// Membership changes travel through the replicated log as entries (Raft dissertation §4). A node
/// uses the latest membership in its log, committed or not. A change of one voter takes one entry
/// (§4.1); a change of several voters at once goes through a *joint* configuration (§4.3), in which
/// ``outgoingVoters`` holds the voters being left and every decision needs a majority of both
/// sets.
public struct Membership: Hashable, Sendable {
  /// The members whose acknowledgement counts towards a quorum and who may become leader. While
  /// the configuration is joint, these are the voters of the configuration being entered.
  public var voters: Set<NodeID>
  /// The voters of the configuration being left, while the configuration is joint (§4.3); empty
  /// otherwise. A member may be both an outgoing voter and a learner: a voter being demoted.
  public var outgoingVoters: Set<NodeID>
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
    learnersToPromote: Set<NodeID> = [],
    outgoingVoters: Set<NodeID> = []
  ) {
    self.voters = voters
    self.outgoingVoters = outgoingVoters
    self.learners = learners.subtracting(voters)
    self.attributes = attributes
    self.learnersToPromote = learnersToPromote.intersection(self.learners)
  }

  /// An empty membership: a node that knows no cluster yet (it waits to be added).
  public static let empty = Membership(voters: [])

  /// Whether this is a joint configuration: the cluster is moving from ``outgoingVoters`` to
  /// ``voters``, and needs a majority of each.
  public var isJoint: Bool { !outgoingVoters.isEmpty }

  /// Every node that votes in this configuration: the voters, and the outgoing voters while joint.
  public var allVoters: Set<NodeID> { outgoingVoters.isEmpty ? voters : voters.union(outgoingVoters) }

  /// Every member: voters, outgoing voters and learners.
  public var members: Set<NodeID> { allVoters.union(learners) }

  /// Whether `id` is a member of any kind.
  public func contains(_ id: NodeID) -> Bool {
    voters.contains(id) || learners.contains(id) || outgoingVoters.contains(id)
  }

  /// Whether `nodes` hold a majority of the voters, and of the outgoing voters while joint: enough
  /// to elect a leader or commit an entry.
  public func isQuorum(_ nodes: Set<NodeID>) -> Bool {
    func majority(of set: Set<NodeID>) -> Bool { set.intersection(nodes).count >= set.count / 2 + 1 }
    return majority(of: voters) && (outgoingVoters.isEmpty || majority(of: outgoingVoters))
  }

  /// The configuration this joint one leads to: the same members with the outgoing voters gone.
  /// The leader appends it once the joint entry has committed.
  public var leavingJoint: Membership {
    var next = self
    next.outgoingVoters = []
    next.attributes = next.attributes.filter { next.contains($0.key) }
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

extension Membership: Codable {
  private enum CodingKeys: String, CodingKey {
    case voters, outgoingVoters, learners, attributes, learnersToPromote
  }

  /// Decodes a membership; fields added after the first version may be missing.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    self.init(
      voters: try container.decode(Set<NodeID>.self, forKey: .voters),
      learners: try container.decodeIfPresent(Set<NodeID>.self, forKey: .learners) ?? [],
      attributes: try container.decodeIfPresent([NodeID: [String: String]].self, forKey: .attributes) ?? [:],
      learnersToPromote: try container.decodeIfPresent(Set<NodeID>.self, forKey: .learnersToPromote) ?? [],
      outgoingVoters: try container.decodeIfPresent(Set<NodeID>.self, forKey: .outgoingVoters) ?? [])
  }

  /// Encodes a membership.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(voters, forKey: .voters)
    if !outgoingVoters.isEmpty { try container.encode(outgoingVoters, forKey: .outgoingVoters) }
    try container.encode(learners, forKey: .learners)
    try container.encode(attributes, forKey: .attributes)
    try container.encode(learnersToPromote, forKey: .learnersToPromote)
  }
}

extension Membership: ExpressibleByArrayLiteral {
  /// A membership of voters written as a list: `["a", "b", "c"]`.
  public init(arrayLiteral voters: NodeID...) {
    self.init(voters: Set(voters))
  }
}
