import Foundation

@testable import WebRaft

/// Drives a few ``RaftCore``s step by step from a text script and describes what they do: the
/// `Ready`s they hand out (what they store, send, commit and apply) and the messages delivered.
///
/// The scripts under `testdata/` hold, for each command, the output it produced when a reviewer
/// last checked it (see ``InteractionTests``). The commands:
///
/// - `cluster voters=n1,n2,n3 [learners=n4] [prevote=off] [checkquorum=off] [max-append=1]`: new
///   nodes with empty logs; `add-node n4 [voters=...]` adds one more (empty membership by default: a newcomer).
/// - `campaign n1`: n1's election timer fires. `tick n1 ms` moves n1's clock on by `ms`
///   (`tick all ms` every node's).
/// - `propose n1 text`, `change n1 add-voter:n4 remove:n3 …` (several: one change set),
///   `read n1 id`, `transfer n1 n2`.
/// - `process [n1 …]`: each node (all when none is named) hands out its `Ready`, which is stored,
///   applied and acknowledged; its messages wait in the network. `deliver [from=n1] [to=n2]`
///   steps the waiting messages into their recipients; `drop [from=…] [to=…]` loses them.
///   `stabilize` does both until nothing moves.
/// - `isolate n1`, `heal`: messages to and from n1 are lost, or not any more.
/// - `crash n2`: n2 loses everything not stored; `restart n2`: n2 starts from what it stored.
/// - `status n1 …`, `log n1`: what a node knows.
struct InteractionHarness {
  private struct Node {
    var core: RaftCore?
    var stored: PersistentState
    var applied: [String] = []
    var now: UInt64 = 0
  }

  private var nodes: [NodeID: Node] = [:]
  private var order: [NodeID] = []
  private var queue: [RaftMessage] = []
  private var isolated: Set<NodeID> = []
  private var configuration = RaftConfiguration()
  private var nextRequestID: UInt64 = 1

  /// The running core of `id`, nil while it is down.
  func core(of id: NodeID) -> RaftCore? { nodes[id]?.core }

  /// Runs one command and returns its output lines.
  mutating func run(_ line: String) throws -> [String] {
    var words = line.split(separator: " ").map(String.init)
    guard !words.isEmpty else { return [] }
    let command = words.removeFirst()
    var options: [String: String] = [:]
    var arguments: [String] = []
    for word in words {
      if let equals = word.firstIndex(of: "=") {
        options[String(word[..<equals])] = String(word[word.index(after: equals)...])
      } else {
        arguments.append(word)
      }
    }
    switch command {
    case "cluster": return try cluster(options)
    case "add-node": return try addNode(NodeID(arguments[0]), voters: list(options["voters"]))
    case "campaign": return try withNode(arguments[0]) { $0.campaign() }
    case "tick": return try tick(arguments[0], by: UInt64(arguments[1]) ?? 0)
    case "propose": return try propose(on: arguments[0], text: arguments.dropFirst().joined(separator: " "))
    case "change": return try change(on: arguments[0], Array(arguments.dropFirst()))
    case "read": return try read(on: arguments[0], id: UInt64(arguments[1]) ?? 0)
    case "transfer": return try transfer(on: arguments[0], to: arguments[1])
    case "process": return try process(arguments.isEmpty ? order : arguments.map { NodeID($0) })
    case "deliver": return deliver(from: options["from"], to: options["to"])
    case "drop": return drop(from: options["from"], to: options["to"])
    case "stabilize": return try stabilize()
    case "isolate":
      isolated.insert(NodeID(arguments[0]))
      return ["ok"]
    case "heal":
      isolated.removeAll()
      return ["ok"]
    case "crash": return crash(NodeID(arguments[0]))
    case "restart": return try restart(NodeID(arguments[0]))
    case "status": return (arguments.isEmpty ? order : arguments.map { NodeID($0) }).map(describeStatus)
    case "log": return describeLog(NodeID(arguments[0]))
    default: throw HarnessError("unknown command \(command)")
    }
  }

  // MARK: - Commands

  private func list(_ text: String?) -> [NodeID] {
    (text ?? "").split(separator: ",").map { NodeID(String($0)) }
  }

  private mutating func cluster(_ options: [String: String]) throws -> [String] {
    configuration = RaftConfiguration()
    configuration.preVote = options["prevote"] != "off"
    configuration.checkQuorum = options["checkquorum"] != "off"
    configuration.snapshotEntryInterval = nil
    configuration.snapshotLogBytes = nil
    // Followers hear of a new commit index with the next message, not after a delay.
    configuration.commitNotificationDelay = .zero
    if let limit = options["max-append"].flatMap(Int.init) { configuration.maxEntriesPerAppend = limit }
    // Elections happen when a script says so (`campaign`, or a tick of 2 s): timers fire after
    // 1 to 2 s, heartbeats go every 100 ms.
    configuration.electionTimeout = .seconds(1)...(.seconds(2))
    let voters = list(options["voters"])
    let learners = list(options["learners"])
    for id in voters + learners {
      _ = try addNode(id, voters: voters, learners: learners)
    }
    return (voters + learners).map(describeStatus)
  }

  @discardableResult
  private mutating func addNode(_ id: NodeID, voters: [NodeID], learners: [NodeID] = []) throws -> [String] {
    let membership = Membership(voters: Set(voters), learners: Set(learners))
    let state = PersistentState(
      hardState: HardState(term: 0, votedFor: nil, commitIndex: 0),
      snapshot: SnapshotMetadata(index: 0, term: 0, membership: membership), entries: [])
    // The seed only draws election timeouts; scripts fire timers with `campaign` or long ticks.
    var core = try RaftCore(id: id, configuration: configuration, state: state, seed: UInt64(order.count + 1))
    // A node that has just started grants no vote for a heartbeat timeout (it may have
    // acknowledged a leader before a restart); scripts begin once that has passed.
    let start = UInt64(configuration.heartbeatTimeout.wholeMilliseconds)
    core.tick(now: start)
    nodes[id] = Node(core: core, stored: state, now: start)
    order.append(id)
    return [describeStatus(id)]
  }

  private mutating func withNode(_ name: String, _ body: (inout RaftCore) throws -> Void) throws -> [String] {
    let id = NodeID(name)
    guard var core = nodes[id]?.core else { throw HarnessError("\(name) is not running") }
    try body(&core)
    nodes[id]!.core = core
    return ["ok"]
  }

  private mutating func tick(_ name: String, by milliseconds: UInt64) throws -> [String] {
    let ids = name == "all" ? order : [NodeID(name)]
    for id in ids where nodes[id]?.core != nil {
      nodes[id]!.now += milliseconds
      let now = nodes[id]!.now
      nodes[id]!.core!.tick(now: now)
    }
    return ["ok"]
  }

  private mutating func propose(on name: String, text: String) throws -> [String] {
    var output: [String] = []
    let requestID = nextRequestID
    nextRequestID += 1
    _ = try withNode(name) { core in
      do {
        output.append("\(try core.propose(Data(text.utf8), requestID: requestID))")
      } catch {
        output.append("refused: \(error)")
      }
    }
    return output
  }

  private mutating func change(on name: String, _ words: [String]) throws -> [String] {
    let changes = try words.map { word -> MembershipChange in
      let parts = word.split(separator: ":").map(String.init)
      guard parts.count == 2 else { throw HarnessError("a change is kind:node, got \(word)") }
      let id = NodeID(parts[1])
      switch parts[0] {
      case "add-voter": return .addVoter(id)
      case "add-learner": return .addLearner(id)
      case "remove": return .remove(id)
      case "promote": return .promote(id)
      case "demote": return .demote(id)
      default: throw HarnessError("unknown change \(parts[0])")
      }
    }
    var output: [String] = []
    let requestID = nextRequestID
    nextRequestID += 1
    _ = try withNode(name) { core in
      do {
        let ticket =
          changes.count == 1
          ? try core.proposeMembershipChange(changes[0], requestID: requestID)
          : try core.proposeMembershipChanges(changes, requestID: requestID)
        output.append("\(ticket)")
      } catch {
        output.append("refused: \(error)")
      }
    }
    return output
  }

  private mutating func read(on name: String, id: UInt64) throws -> [String] {
    var output = ["ok"]
    _ = try withNode(name) { core in
      do { try core.readIndex(requestID: id) } catch { output = ["refused: \(error)"] }
    }
    return output
  }

  private mutating func transfer(on name: String, to target: String) throws -> [String] {
    var output = ["ok"]
    _ = try withNode(name) { core in
      do { try core.transferLeadership(to: NodeID(target)) } catch { output = ["refused: \(error)"] }
    }
    return output
  }

  /// Hands out each node's `Ready`, stores it, applies it and acknowledges it.
  private mutating func process(_ ids: [NodeID]) throws -> [String] {
    var output: [String] = []
    for id in ids {
      guard var core = nodes[id]?.core, let ready = core.ready() else { continue }
      output.append("> \(id) ready")
      output += describe(ready).map { "  " + $0 }
      var stored = nodes[id]!.stored
      if let hardState = ready.hardState { stored.hardState = hardState }
      if let first = ready.entries.first {
        stored.entries.removeAll { $0.index >= first.index }
        stored.entries += ready.entries
      }
      nodes[id]!.stored = stored
      for entry in ready.committedEntries where entry.index > core.appliedIndex {
        nodes[id]!.applied.append(describe(entry))
      }
      core.advance()
      nodes[id]!.core = core
      queue += ready.messages
    }
    return output
  }

  private func matches(_ message: RaftMessage, from: String?, to: String?) -> Bool {
    (from == nil || message.from.rawValue == from) && (to == nil || message.to.rawValue == to)
  }

  private mutating func deliver(from: String?, to: String?) -> [String] {
    var output: [String] = []
    var kept: [RaftMessage] = []
    let waiting = queue
    queue = []
    for message in waiting {
      guard matches(message, from: from, to: to) else {
        kept.append(message)
        continue
      }
      guard nodes[message.to]?.core != nil, !isolated.contains(message.from), !isolated.contains(message.to)
      else {
        output.append("lost " + describe(message))
        continue
      }
      nodes[message.to]!.core!.step(message)
    }
    queue = kept + queue
    return output
  }

  private mutating func drop(from: String?, to: String?) -> [String] {
    let dropped = queue.filter { matches($0, from: from, to: to) }
    queue = queue.filter { !matches($0, from: from, to: to) }
    return dropped.map { "dropped " + describe($0) }
  }

  private mutating func stabilize() throws -> [String] {
    var output: [String] = []
    for _ in 0..<100 {
      let processed = try process(order)
      if processed.isEmpty && queue.isEmpty { return output }
      output += processed
      output += deliver(from: nil, to: nil)
    }
    throw HarnessError("the cluster did not settle in 100 rounds")
  }

  private mutating func crash(_ id: NodeID) -> [String] {
    nodes[id]?.core = nil
    queue.removeAll { $0.to == id }
    return ["ok"]
  }

  private mutating func restart(_ id: NodeID) throws -> [String] {
    guard let node = nodes[id] else { throw HarnessError("no node \(id)") }
    let core = try RaftCore(
      id: id, configuration: configuration, state: node.stored, seed: UInt64(order.count + 7), now: node.now)
    nodes[id]!.core = core
    nodes[id]!.applied = []
    return [describeStatus(id)]
  }
}

struct HarnessError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
