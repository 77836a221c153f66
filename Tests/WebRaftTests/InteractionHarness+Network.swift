import Foundation

@testable import WebRaft

/// Which waiting messages a `deliver`, `duplicate` or `drop` command takes: those from and to the
/// nodes named, of the kind named, and of those only the n-th when `nth` is given.
struct MessageFilter {
  var from: String?
  var to: String?
  var type: String?
  var nth: Int?
  /// When set, only messages between these nodes.
  var among: Set<NodeID>?

  init(_ options: [String: String]) {
    from = options["from"]
    to = options["to"]
    type = options["type"]
    nth = options["nth"].flatMap(Int.init)
  }

  func matches(_ message: RaftMessage) -> Bool {
    (from == nil || message.from.rawValue == from) && (to == nil || message.to.rawValue == to)
      && (type == nil || message.kindName == type)
      && (among == nil || (among!.contains(message.from) && among!.contains(message.to)))
  }

  /// The positions in `queue` of the messages taken.
  func positions(in queue: [RaftMessage]) -> [Int] {
    let matching = queue.indices.filter { matches(queue[$0]) }
    guard let nth else { return matching }
    return nth >= 1 && nth <= matching.count ? [matching[nth - 1]] : []
  }
}

// The network between the nodes: messages wait in `queue`, in the order they were sent, until a
// script delivers, duplicates or drops them.
extension InteractionHarness {
  /// Whether a message from `sender` reaches `recipient`: it is running, and neither is isolated
  /// nor is the link between them cut.
  func reaches(_ sender: NodeID, _ recipient: NodeID) -> Bool {
    nodes[recipient]?.core != nil && !isolated.contains(sender) && !isolated.contains(recipient)
      && !cuts.contains([sender, recipient].sorted())
  }

  /// Steps the messages `filter` takes into their recipients, in order, and names each (unless
  /// `quietly`); with `keepingCopies`, a copy of each stays waiting where it was.
  mutating func deliver(_ filter: MessageFilter, keepingCopies: Bool = false, quietly: Bool = false)
    -> [String]
  {
    let taken = Set(filter.positions(in: queue))
    let waiting = queue
    queue = waiting.indices.filter { keepingCopies || !taken.contains($0) }.map { waiting[$0] }
    var output: [String] = []
    for position in waiting.indices where taken.contains(position) {
      let message = waiting[position]
      guard reaches(message.from, message.to) else {
        output.append("lost " + describe(message))
        continue
      }
      if keepingCopies {
        output.append("delivered, a copy waits: " + describe(message))
      } else if !quietly {
        output.append("delivered " + describe(message))
      }
      nodes[message.to]!.core!.step(message)
    }
    return output
  }

  /// Loses the messages `filter` takes.
  mutating func drop(_ filter: MessageFilter) -> [String] {
    let taken = Set(filter.positions(in: queue))
    let waiting = queue
    queue = waiting.indices.filter { !taken.contains($0) }.map { waiting[$0] }
    return waiting.indices.filter { taken.contains($0) }.map { "dropped " + describe(waiting[$0]) }
  }
}
