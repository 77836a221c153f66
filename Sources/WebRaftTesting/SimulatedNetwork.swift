/// The seeded network of a ``ClusterSimulator``: it drops, delays, duplicates and reorders
/// messages, and can cut links one way or both ways, isolate nodes and partition the cluster.
///
/// Every random choice comes from its own ``SplitMix64``, so a seed fixes what happens to every
/// message. Reordering comes from random delays; ``longDelayProbability`` adds the long delays of
/// the classic "long reordering" tests.
public struct SimulatedNetwork: Sendable {
  /// A directed link between two nodes.
  public struct Link: Hashable, Sendable {
    /// The sending end.
    public var from: NodeID
    /// The receiving end.
    public var to: NodeID

    /// Creates a link.
    public init(from: NodeID, to: NodeID) {
      self.from = from
      self.to = to
    }
  }

  /// The probability that a message is lost, from 0 to 1.
  public var dropProbability: Double = 0
  /// The probability that a message is delivered twice (each copy with its own delay).
  public var duplicateProbability: Double = 0
  /// The delay of a message in milliseconds, drawn uniformly from this range.
  public var delay: ClosedRange<UInt64> = 1...3
  /// The probability that a message takes a long delay from ``longDelay`` instead.
  public var longDelayProbability: Double = 0
  /// The long delays, in milliseconds.
  public var longDelay: ClosedRange<UInt64> = 200...2200

  /// Links cut with ``cut(from:to:)``.
  public private(set) var cutLinks: Set<Link> = []
  /// Nodes cut off from everyone with ``isolate(_:)``.
  public private(set) var isolated: Set<NodeID> = []
  /// The group of each node while the network is partitioned.
  public private(set) var groups: [NodeID: Int]?

  var random: SplitMix64

  /// Creates a reliable network (no loss, 1–3 ms delays) whose random choices follow `seed`.
  public init(seed: UInt64) {
    self.random = SplitMix64(seed: seed)
  }

  // MARK: Fault settings

  /// Makes the network reliable again: no loss, no duplicates, short delays. Cuts stay.
  public mutating func makeReliable() {
    dropProbability = 0
    duplicateProbability = 0
    delay = 1...3
    longDelayProbability = 0
  }

  /// Makes the network unreliable like the classic Raft lab tests: `drop` of the messages are
  /// lost in each direction and the others are delayed by 0–26 ms.
  public mutating func makeUnreliable(drop: Double = 0.1) {
    dropProbability = drop
    delay = 0...26
  }

  /// Cuts the link from `from` to `to` (one way).
  public mutating func cut(from: NodeID, to: NodeID) {
    cutLinks.insert(Link(from: from, to: to))
  }

  /// Cuts the links between `first` and `second`, both ways.
  public mutating func cut(between first: NodeID, and second: NodeID) {
    cut(from: first, to: second)
    cut(from: second, to: first)
  }

  /// Restores the link from `from` to `to`.
  public mutating func restore(from: NodeID, to: NodeID) {
    cutLinks.remove(Link(from: from, to: to))
  }

  /// Restores the links between `first` and `second`, both ways.
  public mutating func restore(between first: NodeID, and second: NodeID) {
    restore(from: first, to: second)
    restore(from: second, to: first)
  }

  /// Cuts `node` off from every other node, both ways.
  public mutating func isolate(_ node: NodeID) {
    isolated.insert(node)
  }

  /// Ends the isolation of `node` (cut links and partitions stay).
  public mutating func rejoin(_ node: NodeID) {
    isolated.remove(node)
  }

  /// Partitions the network: nodes reach only the nodes of their own group. A node in no group is
  /// alone.
  public mutating func partition(_ newGroups: [[NodeID]]) {
    var map: [NodeID: Int] = [:]
    for (number, group) in newGroups.enumerated() {
      for node in group { map[node] = number }
    }
    groups = map
  }

  /// Removes every cut, isolation and partition (loss and delays stay).
  public mutating func heal() {
    cutLinks.removeAll()
    isolated.removeAll()
    groups = nil
  }

  // MARK: Delivery

  /// Whether a message from `from` to `to` gets through the cuts, isolations and partitions.
  public func canDeliver(from: NodeID, to: NodeID) -> Bool {
    if isolated.contains(from) || isolated.contains(to) { return false }
    if !cutLinks.isEmpty, cutLinks.contains(Link(from: from, to: to)) { return false }
    if let groups {
      guard let fromGroup = groups[from], let toGroup = groups[to], fromGroup == toGroup else {
        return false
      }
    }
    return true
  }

  /// Decides the fate of one message sent now: the delays of the copies to deliver (none when it
  /// is lost or the link is cut).
  public mutating func delays(from: NodeID, to: NodeID) -> [UInt64] {
    guard canDeliver(from: from, to: to) else { return [] }
    if dropProbability > 0, Double.random(in: 0..<1, using: &random) < dropProbability {
      return []
    }
    var result = [drawDelay()]
    if duplicateProbability > 0, Double.random(in: 0..<1, using: &random) < duplicateProbability {
      result.append(drawDelay())
    }
    return result
  }

  private mutating func drawDelay() -> UInt64 {
    if longDelayProbability > 0, Double.random(in: 0..<1, using: &random) < longDelayProbability {
      return UInt64.random(in: longDelay, using: &random)
    }
    return UInt64.random(in: delay, using: &random)
  }
}
