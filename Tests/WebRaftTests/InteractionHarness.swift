import Foundation

@testable import WebRaft

/// Drives a few ``RaftCore``s step by step from a text script and describes what they do: the
/// `Ready`s they hand out (what they store, send, commit and apply) and the messages delivered.
///
/// The scripts under `testdata/` hold, for each command, the output it produced when a reviewer
/// last checked it (see ``InteractionTests``). The commands:
///
/// - `cluster voters=n1,n2,n3 [learners=n4] [prevote=off] [checkquorum=off] [max-append=1]
///   [chunk=16]`: new nodes with empty logs (`chunk` is the snapshot chunk size in bytes);
///   `add-node n4 [voters=...]` adds one more (empty membership by default: a newcomer).
/// - `campaign n1`: n1's election timer fires. `tick n1 ms` moves n1's clock on by `ms`
///   (`tick all ms` every node's).
/// - `propose n1 text` (the rest of the line), `change n1 add-voter:n4 remove:n3 …` (several: one
///   change set), `read n1 id`, `transfer n1 n2`.
/// - `process [n1 …]`: each node (all when none is named) hands out its `Ready`, which is carried
///   out in the order ``RaftDriver`` follows: stored; snapshot chunks received written, and the
///   snapshot installed after its last chunk (stored, the state machine restored from it, the core
///   told); snapshot chunks asked for read from the node's stored snapshot and handed to the core
///   (they leave with its next `Ready`); committed entries applied; the `Ready` acknowledged. Its
///   messages wait in the network. `stabilize [n1 …]` processes those nodes (all when none is
///   named) and delivers the messages between them until nothing moves; other messages wait.
/// - The network: `messages` lists the waiting messages. `deliver`, `duplicate` and `drop` take
///   the waiting messages that match `[from=n1] [to=n2] [type=installSnapshot] [nth=2]` (`type`
///   is the kind shown after the names, `nth` keeps only the n-th of those that match), and step
///   them into their recipients (naming each); step them in and keep a copy waiting (a duplicating
///   network, whose copy can be delivered later); or lose them. Messages not taken keep their
///   order.
/// - `isolate n1`, `cut n1 n2`, `heal`: messages to and from n1, or between n1 and n2, are lost;
///   `heal` ends every isolation and cut.
/// - `crash n2`: n2 loses everything not stored (and a snapshot it was receiving);
///   `restart n2`: n2 starts from what it stored, its state machine from its stored snapshot.
/// - `compact n1 [index]`: n1 takes a snapshot of its state machine at `index` (all it applied by
///   default), stores it and compacts its log through it, as its driver does when a snapshot is
///   due. A snapshot's bytes name the node that took it, its index and term, then one line per
///   entry applied, so two nodes' snapshots of the same state differ. An install that takes the
///   state machine back (fewer entries than it applied) is flagged in the output, where the
///   simulator's checker would fail.
/// - `status n1 …`, `log n1`, `state n1`: what a node knows, holds in its log, and has applied.
struct InteractionHarness {
  struct Node {
    var core: RaftCore?
    var stored: PersistentState
    /// The state machine: the entries applied, one per index from 1 (restored from snapshots).
    var applied: [String] = []
    var now: UInt64 = 0
    /// The bytes of the stored snapshot (`stored.snapshot`); empty while there is none.
    var snapshotData = Data()
    /// The snapshot being received from a leader: what its chunks wrote so far.
    var incoming: (metadata: SnapshotMetadata, data: Data)?
  }

  var nodes: [NodeID: Node] = [:]
  var order: [NodeID] = []
  /// The network: messages sent and not yet delivered or lost, in the order they were sent.
  var queue: [RaftMessage] = []
  var isolated: Set<NodeID> = []
  /// Links cut both ways, each as its two ends in order.
  var cuts: Set<[NodeID]> = []
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
    case "propose":
      // The text is the rest of the line as written, `=` and all.
      return try propose(on: arguments[0], text: words.dropFirst().joined(separator: " "))
    case "change": return try change(on: arguments[0], Array(arguments.dropFirst()))
    case "read": return try read(on: arguments[0], id: UInt64(arguments[1]) ?? 0)
    case "transfer": return try transfer(on: arguments[0], to: arguments[1])
    case "process": return try process(arguments.isEmpty ? order : arguments.map { NodeID($0) })
    case "deliver": return deliver(MessageFilter(options))
    case "duplicate": return deliver(MessageFilter(options), keepingCopies: true)
    case "drop": return drop(MessageFilter(options))
    case "messages":
      return queue.isEmpty ? ["(none)"] : queue.enumerated().map { "\($0 + 1). " + describe($1) }
    case "stabilize": return try stabilize(arguments.isEmpty ? order : arguments.map { NodeID($0) })
    case "isolate":
      isolated.insert(NodeID(arguments[0]))
      return ["ok"]
    case "cut":
      cuts.insert([NodeID(arguments[0]), NodeID(arguments[1])].sorted())
      return ["ok"]
    case "heal":
      isolated.removeAll()
      cuts.removeAll()
      return ["ok"]
    case "compact":
      return try compact(NodeID(arguments[0]), through: arguments.count > 1 ? UInt64(arguments[1]) : nil)
    case "state": return describeState(NodeID(arguments[0]))
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
    if let size = options["chunk"].flatMap(Int.init) { configuration.snapshotChunkSize = size }
    // Elections happen when a script says so (`campaign`, or a long tick): a follower's timer fires
    // 200 ms to 1.2 s after it last heard from a leader (its lease ends after 200 ms), a
    // candidate's after 1 to 2 s; heartbeats go every 100 ms.
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

  /// Hands out each node's `Ready` and carries it out (see the type's documentation).
  private mutating func process(_ ids: [NodeID]) throws -> [String] {
    var output: [String] = []
    for id in ids {
      guard var core = nodes[id]?.core, let ready = core.ready() else { continue }
      var stored = nodes[id]!.stored
      if let hardState = ready.hardState { stored.hardState = hardState }
      if let first = ready.entries.first {
        stored.entries.removeAll { $0.index >= first.index }
        stored.entries += ready.entries
      }
      nodes[id]!.stored = stored
      let written = try receiveChunks(ready.snapshotChunks, on: id, core: &core)
      queue += ready.messages
      let read = readChunks(ready.snapshotChunkRequests, on: id, core: &core)
      // Shown in the order they happen: stores, chunks written, the rest, chunks read.
      let lines = describe(ready)
      let stores = lines.prefix { $0.hasPrefix("store") }
      output.append("> \(id) ready")
      output += (stores + written + lines.dropFirst(stores.count) + read).map { "  " + $0 }
      for entry in ready.committedEntries where entry.index > core.appliedIndex {
        nodes[id]!.applied.append(describe(entry))
      }
      core.advance()
      nodes[id]!.core = core
    }
    return output
  }

  /// Processes `ids` and delivers the messages between them until nothing moves; messages to or
  /// from other nodes keep waiting.
  private mutating func stabilize(_ ids: [NodeID]) throws -> [String] {
    let members = Set(ids)
    var output: [String] = []
    for _ in 0..<100 {
      let processed = try process(ids)
      var between = MessageFilter([:])
      between.among = members
      if processed.isEmpty && !queue.contains(where: between.matches) { return output }
      output += processed
      output += deliver(between, quietly: true)
    }
    throw HarnessError("the cluster did not settle in 100 rounds")
  }

  private mutating func crash(_ id: NodeID) -> [String] {
    nodes[id]?.core = nil
    nodes[id]?.incoming = nil
    queue.removeAll { $0.to == id }
    return ["ok"]
  }

  private mutating func restart(_ id: NodeID) throws -> [String] {
    guard let node = nodes[id] else { throw HarnessError("no node \(id)") }
    let core = try RaftCore(
      id: id, configuration: configuration, state: node.stored, seed: UInt64(order.count + 7), now: node.now)
    nodes[id]!.core = core
    nodes[id]!.applied = try restoredState(of: id)
    return [describeStatus(id)]
  }
}

struct HarnessError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
