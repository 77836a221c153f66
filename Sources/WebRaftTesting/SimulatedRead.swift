/// A linearizable read asked through ``ClusterSimulator/read(on:)``, and what became of it.
public struct SimulatedRead: Hashable, Sendable {
  /// Identifies a read within one simulator.
  public struct ID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The read's position in the order reads were asked.
    public let rawValue: Int

    /// Creates an identifier.
    public init(_ rawValue: Int) {
      self.rawValue = rawValue
    }

    /// Orders identifiers by when their reads were asked.
    public static func < (lhs: ID, rhs: ID) -> Bool {
      lhs.rawValue < rhs.rawValue
    }

    /// The identifier as a number.
    public var description: String { "read #\(rawValue)" }
  }

  /// What became of a read.
  public enum Status: Hashable, Sendable {
    /// The read index is not known yet.
    case pending
    /// The read index is known: the read is served once the node has applied it.
    case indexKnown(UInt64)
    /// The node applied the read index: the read was served from a state that holds every write
    /// committed before it was asked.
    case served(index: UInt64)
    /// The read could not be served (no leader, leadership lost, …).
    case failed(RaftError)
    /// The node crashed before the read was served.
    case interrupted
  }

  /// The read's identifier.
  public let id: ID
  /// The node the read was asked on.
  public let node: NodeID
  /// The request identifier given to the core.
  public let requestID: UInt64
  /// The simulated time the read was asked, in milliseconds.
  public let time: UInt64
  /// The highest index any node knew committed when the read was asked: the read index must be at
  /// least this (linearizability).
  public let committedWhenAsked: UInt64
  /// What became of it.
  public internal(set) var status: Status
}
