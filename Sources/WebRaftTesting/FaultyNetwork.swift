import Synchronization
import WebRaft

/// An in-process network for ``RaftNode`` tests that loses, duplicates, delays and reorders
/// messages and partitions the cluster, in real time, with seeded choices.
///
/// Use it where ``InMemoryNetwork`` would be too kind: register each node's ``RaftInbound`` and
/// hand ``makePeer(from:)`` to the node, then change ``faults`` and the partitions while the test
/// runs.
///
/// ```swift
/// let network = FaultyNetwork(seed: 7, faults: .init(dropProbability: 0.1, delay: .zero ... .milliseconds(5)))
/// let node = try await RaftNode(id: "a", bootstrap: members, storage: InMemoryStorage(),
///   stateMachine: machine, logger: logger, makePeer: network.makePeer(from: "a"))
/// network.register("a", inbound: node.inbound)
/// network.partition([["a"], ["b", "c"]])
/// ```
///
/// Delayed messages are delivered by tasks of their own, so two messages on one link may arrive
/// in either order when their delays differ. The seed fixes the choices made, not the order in
/// which concurrent nodes ask for them: runs are not replayable step by step (use
/// ``ClusterSimulator`` for that).
public final class FaultyNetwork: Sendable {
  /// How the network mistreats messages.
  public struct Faults: Hashable, Sendable {
    /// The chance that a message is lost.
    public var dropProbability: Double
    /// The chance that a delivered message is delivered a second time.
    public var duplicateProbability: Double
    /// How long a message takes; a range longer than zero reorders messages.
    public var delay: ClosedRange<Duration>

    /// Creates a set of faults.
    public init(
      dropProbability: Double = 0, duplicateProbability: Double = 0,
      delay: ClosedRange<Duration> = .zero ... .zero
    ) {
      self.dropProbability = dropProbability
      self.duplicateProbability = duplicateProbability
      self.delay = delay
    }

    /// A reliable network without delays.
    public static let none = Faults()
  }

  private struct Link: Hashable {
    var from: NodeID
    var to: NodeID
  }

  private struct State {
    var inbounds: [NodeID: RaftInbound] = [:]
    var faults: Faults
    var random: SplitMix64
    var cut: Set<Link> = []
    var isolated: Set<NodeID> = []
    var groups: [NodeID: Int] = [:]
    var delivered: UInt64 = 0
    var dropped: UInt64 = 0
    var duplicated: UInt64 = 0
  }

  private let state: Mutex<State>

  /// Creates a network whose random choices follow `seed`.
  public init(seed: UInt64, faults: Faults = .none) {
    state = Mutex(State(faults: faults, random: SplitMix64(seed: seed)))
  }

  /// The faults in force; changing them affects messages sent from then on.
  public var faults: Faults {
    get { state.withLock { $0.faults } }
    set { state.withLock { $0.faults = newValue } }
  }

  /// Connects a node: messages to `id` go to `inbound`.
  public func register(_ id: NodeID, inbound: RaftInbound) {
    state.withLock { $0.inbounds[id] = inbound }
  }

  /// Disconnects a node for good (it stopped); messages to it are dropped.
  public func unregister(_ id: NodeID) {
    state.withLock { _ = $0.inbounds.removeValue(forKey: id) }
  }

  /// The peer factory to give the node `sender` (``RaftNode``'s `makePeer`).
  public func makePeer(from sender: NodeID) -> @Sendable (NodeID, RaftInbound) -> any RaftPeer {
    { [self] target, _ in FaultyPeer(id: target, network: self) }
  }

  /// Cuts `id` off from every other node, both ways.
  public func isolate(_ id: NodeID) {
    state.withLock { _ = $0.isolated.insert(id) }
  }

  /// Ends the isolation of `id` (cut links and partitions stay).
  public func rejoin(_ id: NodeID) {
    state.withLock { _ = $0.isolated.remove(id) }
  }

  /// Drops messages from `from` to `to` (one way).
  public func cut(from: NodeID, to: NodeID) {
    state.withLock { _ = $0.cut.insert(Link(from: from, to: to)) }
  }

  /// Lets messages from `from` to `to` through again.
  public func restore(from: NodeID, to: NodeID) {
    state.withLock { _ = $0.cut.remove(Link(from: from, to: to)) }
  }

  /// Splits the cluster: messages pass only between nodes of the same group. A node in no group
  /// reaches nobody.
  public func partition(_ groups: [[NodeID]]) {
    state.withLock { state in
      state.groups = [:]
      for (number, group) in groups.enumerated() {
        for id in group { state.groups[id] = number }
      }
    }
  }

  /// Removes every cut, isolation and partition (the faults stay).
  public func heal() {
    state.withLock { state in
      state.cut = []
      state.isolated = []
      state.groups = [:]
    }
  }

  /// How many messages were delivered (duplicates included), dropped and duplicated so far.
  public var counts: (delivered: UInt64, dropped: UInt64, duplicated: UInt64) {
    state.withLock { ($0.delivered, $0.dropped, $0.duplicated) }
  }

  /// Decides the fate of `message`: where it goes and after which delays (one per copy).
  private func route(_ message: RaftMessage) -> (RaftInbound, [Duration])? {
    state.withLock { state in
      let link = Link(from: message.from, to: message.to)
      let partitioned =
        !state.groups.isEmpty && state.groups[message.from] != state.groups[message.to]
      guard let inbound = state.inbounds[message.to], !state.isolated.contains(message.from),
        !state.isolated.contains(message.to), !state.cut.contains(link), !partitioned,
        Double.random(in: 0..<1, using: &state.random) >= state.faults.dropProbability
      else {
        state.dropped += 1
        return nil
      }
      var copies = 1
      if Double.random(in: 0..<1, using: &state.random) < state.faults.duplicateProbability {
        copies = 2
        state.duplicated += 1
      }
      state.delivered += UInt64(copies)
      let range = state.faults.delay
      let delays = (0..<copies).map { _ in Self.randomDuration(in: range, using: &state.random) }
      return (inbound, delays)
    }
  }

  private static func randomDuration(in range: ClosedRange<Duration>, using random: inout SplitMix64)
    -> Duration
  {
    guard range.lowerBound < range.upperBound else { return range.lowerBound }
    let span = (range.upperBound - range.lowerBound) / .nanoseconds(1)
    let offset = Double.random(in: 0...1, using: &random) * span
    return range.lowerBound + .nanoseconds(Int64(offset))
  }

  fileprivate func send(_ message: RaftMessage) {
    guard let (inbound, delays) = route(message) else { return }
    for delay in delays {
      if delay <= .zero {
        inbound.gotData(message)
      } else {
        Task {
          try? await Task.sleep(for: delay)
          inbound.gotData(message)
        }
      }
    }
  }
}

/// A peer on a ``FaultyNetwork``.
private struct FaultyPeer: RaftPeer {
  let id: NodeID
  let network: FaultyNetwork

  func write(_ message: RaftMessage) {
    network.send(message)
  }
}
