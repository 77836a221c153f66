import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// What `GET /status` answers: one node's view of the cluster.
public struct KVStatusReport: Codable, Hashable, Sendable {
  /// One member of the cluster.
  public struct Member: Codable, Hashable, Sendable {
    /// The member's identity.
    public var id: String
    /// Its Raft (TCP transport) address, `host:port`, when known.
    public var raft: String?
    /// Its HTTP address, `host:port`, when known.
    public var http: String?
    /// Whether it votes (false: a learner).
    public var voter: Bool

    /// Creates a member entry.
    public init(id: String, raft: String?, http: String?, voter: Bool) {
      self.id = id
      self.raft = raft
      self.http = http
      self.voter = voter
    }

    enum CodingKeys: String, CodingKey {
      case id, raft, http, voter
    }

    /// Encodes every field, absent addresses as `null`.
    public func encode(to encoder: any Encoder) throws {
      var container = encoder.container(keyedBy: CodingKeys.self)
      try container.encode(id, forKey: .id)
      try container.encode(raft, forKey: .raft)
      try container.encode(http, forKey: .http)
      try container.encode(voter, forKey: .voter)
    }
  }

  /// What the leader knows of one follower's replication.
  public struct Follower: Codable, Hashable, Sendable {
    /// The highest index known to be stored on the follower.
    public var matchIndex: UInt64
    /// The next index the leader sends it.
    public var nextIndex: UInt64
    /// How the leader sends to it: `probe`, `replicate` or `snapshot`.
    public var state: String?
    /// Appends sent and not yet acknowledged.
    public var inflight: Int?

    /// Creates a follower entry.
    public init(matchIndex: UInt64, nextIndex: UInt64, state: String? = nil, inflight: Int? = nil) {
      self.matchIndex = matchIndex
      self.nextIndex = nextIndex
      self.state = state
      self.inflight = inflight
    }
  }

  /// The node's identity.
  public var id: String
  /// `leader`, `follower`, `candidate` or `learner`.
  public var role: String
  /// The node's current term.
  public var term: UInt64
  /// The leader the node knows, or nil.
  public var leader: String?
  /// The highest index known to be committed.
  public var commitIndex: UInt64
  /// The highest index applied to the key-value store.
  public var appliedIndex: UInt64
  /// The index the node's log starts after (its latest snapshot).
  public var snapshotIndex: UInt64
  /// The index of the node's last log entry.
  public var lastIndex: UInt64
  /// The number of keys in the node's store.
  public var keys: Int
  /// The members, sorted by identity.
  public var members: [Member]
  /// On the leader, each other member's replication progress; nil elsewhere.
  public var followers: [String: Follower]?
  /// While the cluster moves between two sets of voters (a joint configuration), both sets; nil
  /// otherwise.
  public var joint: Joint?

  /// The two voter sets of a joint configuration: every decision needs a majority of each.
  public struct Joint: Codable, Hashable, Sendable {
    /// The voters being left.
    public var old: [String]
    /// The voters being entered.
    public var new: [String]

    /// Creates the pair.
    public init(old: [String], new: [String]) {
      self.old = old
      self.new = new
    }
  }

  /// Creates a report.
  public init(
    id: String, role: String, term: UInt64, leader: String?, commitIndex: UInt64,
    appliedIndex: UInt64, snapshotIndex: UInt64, lastIndex: UInt64, keys: Int, members: [Member],
    followers: [String: Follower]?
  ) {
    self.id = id
    self.role = role
    self.term = term
    self.leader = leader
    self.commitIndex = commitIndex
    self.appliedIndex = appliedIndex
    self.snapshotIndex = snapshotIndex
    self.lastIndex = lastIndex
    self.keys = keys
    self.members = members
    self.followers = followers
  }

  enum CodingKeys: String, CodingKey {
    case id, role, term, leader, commitIndex, appliedIndex, snapshotIndex, lastIndex, keys, members
    case followers, joint
  }

  /// Encodes the report; `leader` is `null` when none is known, `followers` appears on the leader.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(id, forKey: .id)
    try container.encode(role, forKey: .role)
    try container.encode(term, forKey: .term)
    try container.encode(leader, forKey: .leader)
    try container.encode(commitIndex, forKey: .commitIndex)
    try container.encode(appliedIndex, forKey: .appliedIndex)
    try container.encode(snapshotIndex, forKey: .snapshotIndex)
    try container.encode(lastIndex, forKey: .lastIndex)
    try container.encode(keys, forKey: .keys)
    try container.encode(members, forKey: .members)
    try container.encodeIfPresent(followers, forKey: .followers)
    try container.encodeIfPresent(joint, forKey: .joint)
  }

  /// Builds the report from a node's ``WebRaft/RaftStatus``.
  public init(status: RaftStatus, keys: Int) {
    let membership = status.membership
    let isLearner = membership.learners.contains(status.id)
    let role: String
    switch status.role {
    case .leader: role = "leader"
    case .candidate, .preCandidate: role = isLearner ? "learner" : "candidate"
    case .follower: role = isLearner ? "learner" : "follower"
    }
    let members = membership.members.sorted().map { member in
      let attributes = membership.attributes[member] ?? [:]
      return Member(
        id: member.rawValue, raft: attributes[MemberAddresses.raftKey],
        http: attributes[MemberAddresses.httpKey], voter: membership.allVoters.contains(member))
    }
    var followers: [String: Follower]?
    if status.role == .leader {
      var progress: [String: Follower] = [:]
      for (member, follower) in status.followers where member != status.id {
        progress[member.rawValue] = Follower(
          matchIndex: follower.matchIndex, nextIndex: follower.nextIndex, state: follower.state,
          inflight: follower.inflight)
      }
      followers = progress
    }
    self.init(
      id: status.id.rawValue, role: role, term: status.term, leader: status.leader?.rawValue,
      commitIndex: status.commitIndex, appliedIndex: status.appliedIndex,
      snapshotIndex: status.snapshotIndex, lastIndex: status.lastIndex, keys: keys, members: members,
      followers: followers)
    if membership.isJoint {
      joint = Joint(
        old: membership.outgoingVoters.sorted().map(\.rawValue),
        new: membership.voters.sorted().map(\.rawValue))
    }
  }
}

/// The addresses a `raftkv` node publishes in its membership attributes, so that every node can
/// reach every other one: `{"raft": "host:port", "http": "host:port"}`.
public struct MemberAddresses: Hashable, Sendable, Codable {
  /// The attribute key of the Raft (TCP transport) address.
  public static let raftKey = "raft"
  /// The attribute key of the HTTP address.
  public static let httpKey = "http"

  /// The Raft address, `host:port`.
  public var raft: String
  /// The HTTP address, `host:port`, when known.
  public var http: String?

  /// Creates a pair of addresses.
  public init(raft: String, http: String?) {
    self.raft = raft
    self.http = http
  }

  /// The addresses as membership attributes.
  public var attributes: [String: String] {
    var attributes = [Self.raftKey: raft]
    if let http { attributes[Self.httpKey] = http }
    return attributes
  }
}

/// The body of an error answer: `{"error": "...", "leader": id-or-null}`.
public struct KVErrorBody: Codable, Hashable, Sendable {
  /// What went wrong and what to do.
  public var error: String
  /// The leader the answering node knows, or nil.
  public var leader: String?

  /// Creates an error body.
  public init(error: String, leader: String?) {
    self.error = error
    self.leader = leader
  }

  enum CodingKeys: String, CodingKey {
    case error, leader
  }

  /// Encodes both fields, `leader` as `null` when unknown.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(error, forKey: .error)
    try container.encode(leader, forKey: .leader)
  }
}
