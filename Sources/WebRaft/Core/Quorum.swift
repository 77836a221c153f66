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
