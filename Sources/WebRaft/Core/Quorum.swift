/// The majority arithmetic of Raft: which index a quorum holds, and how an election stands.
enum Quorum {
  /// The outcome of counting votes.
  enum VoteResult: Equatable {
    /// A majority granted.
    case won
    /// A majority refused: the election cannot be won.
    case lost
    /// Neither yet.
    case pending
  }

  /// The highest index that a majority of `voters` hold, given each voter's match index.
  ///
  /// With no voters the result is `UInt64.max`, so that an empty configuration never blocks; the
  /// core never asks with an empty set.
  static func committedIndex(voters: Set<NodeID>, match: (NodeID) -> UInt64) -> UInt64 {
    if voters.isEmpty { return .max }
    // A small buffer on the stack and an insertion sort: clusters have a handful of voters, and
    // this runs on every acknowledgement.
    return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: voters.count) { buffer in
      var count = 0
      for voter in voters {
        let value = match(voter)
        var position = count
        while position > 0, buffer[position - 1] < value {
          buffer[position] = buffer[position - 1]
          position -= 1
        }
        buffer[position] = value
        count += 1
      }
      return buffer[voters.count / 2]
    }
  }

  /// Counts the votes of `voters`; votes from non-voters do not count.
  static func voteResult(voters: Set<NodeID>, votes: [NodeID: Bool]) -> VoteResult {
    var granted = 0
    var refused = 0
    for voter in voters {
      switch votes[voter] {
      case true?: granted += 1
      case false?: refused += 1
      case nil: break
      }
    }
    let majority = voters.count / 2 + 1
    if granted >= majority { return .won }
    if refused >= majority || voters.count - refused < majority { return .lost }
    return .pending
  }

  /// Whether the members in `active` (plus `me`) form a majority of `voters`.
  static func isActive(voters: Set<NodeID>, me: NodeID, active: (NodeID) -> Bool) -> Bool {
    let count = voters.reduce(0) { $0 + (($1 == me || active($1)) ? 1 : 0) }
    return count >= voters.count / 2 + 1
  }
}

// A joint configuration (dissertation §4.3) decides with a majority of each of its two voter
// sets: an index is committed when both majorities hold it, an election is won when both
// majorities granted and lost when either refused, a leader is active when both answered.
extension Quorum {
  /// The highest index that a majority of `voters` holds and, while joint, a majority of the
  /// `outgoing` voters too (`outgoing` is empty otherwise). The leader's commit path passes the two
  /// sets rather than its whole membership, which it would have to copy.
  @inline(__always)
  static func committedIndex(voters: Set<NodeID>, outgoing: Set<NodeID>, match: (NodeID) -> UInt64)
    -> UInt64
  {
    let incoming = committedIndex(voters: voters, match: match)
    guard !outgoing.isEmpty else { return incoming }
    return min(incoming, committedIndex(voters: outgoing, match: match))
  }

  /// Counts the votes in `membership`, joint or not.
  static func voteResult(in membership: Membership, votes: [NodeID: Bool]) -> VoteResult {
    let incoming = voteResult(voters: membership.voters, votes: votes)
    guard membership.isJoint else { return incoming }
    let outgoing = voteResult(voters: membership.outgoingVoters, votes: votes)
    if incoming == .lost || outgoing == .lost { return .lost }
    if incoming == .won && outgoing == .won { return .won }
    return .pending
  }

  /// Whether the members in `active` (plus `me`) form a majority of each voter set.
  static func isActive(in membership: Membership, me: NodeID, active: (NodeID) -> Bool) -> Bool {
    guard isActive(voters: membership.voters, me: me, active: active) else { return false }
    return !membership.isJoint || isActive(voters: membership.outgoingVoters, me: me, active: active)
  }

  /// The latest time by which a majority of `voters` had answered, given each voter's last
  /// answer time (nil: never answered); nil when no majority has answered.
  static func majorityTime(voters: Set<NodeID>, time: (NodeID) -> UInt64?) -> UInt64? {
    var times: [UInt64] = []
    times.reserveCapacity(voters.count)
    for voter in voters { if let value = time(voter) { times.append(value) } }
    let majority = voters.count / 2 + 1
    guard !voters.isEmpty, times.count >= majority else { return nil }
    times.sort(by: >)
    return times[majority - 1]
  }

  /// ``majorityTime(voters:time:)`` for `membership`: the earlier of its two voter sets' while
  /// joint.
  static func majorityTime(in membership: Membership, time: (NodeID) -> UInt64?) -> UInt64? {
    guard let incoming = majorityTime(voters: membership.voters, time: time) else { return nil }
    guard membership.isJoint else { return incoming }
    guard let outgoing = majorityTime(voters: membership.outgoingVoters, time: time) else { return nil }
    return min(incoming, outgoing)
  }
}
