#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A client proposal made through ``ClusterSimulator/propose(_:on:)``, and what became of it.
public struct SimulatedProposal: Hashable, Sendable {
  /// Identifies a proposal within one simulator.
  public struct ID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The proposal's position in the order proposals were made.
    public let rawValue: Int

    /// Creates an identifier.
    public init(_ rawValue: Int) {
      self.rawValue = rawValue
    }

    /// Orders identifiers by when their proposals were made.
    public static func < (lhs: ID, rhs: ID) -> Bool {
      lhs.rawValue < rhs.rawValue
    }

    /// The identifier as a number.
    public var description: String { "#\(rawValue)" }
  }

  /// What became of a proposal.
  public enum Status: Hashable, Sendable {
    /// Not settled yet: its entry has not been applied on the proposing node (it may never be).
    case pending
    /// The proposing node applied the proposal's entry at (`index`, `term`): it is acknowledged.
    case succeeded(index: UInt64, term: UInt64)
    /// Another entry was applied at the proposal's index: it was lost.
    case dropped(index: UInt64)
    /// The node refused it at once, or the leader refused the forwarded proposal.
    case failed(RaftError)
    /// The proposing node crashed before the proposal settled: its client lost track of it, and it
    /// may or may not be applied.
    case interrupted
  }

  /// The proposal's identifier.
  public let id: ID
  /// The node the proposal was made on.
  public let node: NodeID
  /// The command (empty for a membership change).
  public let command: Data
  /// The membership changes, when the proposal is a change (several: proposed together).
  public let membershipChanges: [MembershipChange]
  /// The membership change, when the proposal is a single one.
  public var membershipChange: MembershipChange? {
    membershipChanges.count == 1 ? membershipChanges[0] : nil
  }
  /// Whether the proposal is a membership change rather than a command.
  public var isMembershipChange: Bool { !membershipChanges.isEmpty }
  /// The request identifier given to the core (unique in the simulator).
  public let requestID: UInt64
  /// The simulated time of the proposal, in milliseconds.
  public let time: UInt64
  /// How the core took it, when it did.
  public internal(set) var ticket: ProposalTicket?
  /// What became of it.
  public internal(set) var status: Status

  /// Whether the proposal succeeded: its client would have been told so.
  public var isAcknowledged: Bool {
    if case .succeeded = status { return true }
    return false
  }
}
