// A three-node WebRaft cluster in one process, on the in-memory transport.
//
// It elects a leader, replicates commands to a small key-value state machine, cuts the leader
// off, shows the others electing a new one and carrying on, then lets the old leader back in and
// shows it catching up. Run it with `swift run webraft-example`.
import Foundation
import Logging
import Synchronization
import WebRaft

/// The replicated state machine: a dictionary set by commands of the form "key=value".
final class KeyValueMachine: RaftStateMachine {
  private let values = Mutex<[String: String]>([:])

  func apply(_ command: Data, index: UInt64, term: UInt64) async throws -> String {
    let text = String(decoding: command, as: UTF8.self)
    let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
    guard parts.count == 2 else { return "ignored \(text)" }
    values.withLock { $0[parts[0]] = parts[1] }
    return "\(parts[0]) is now \(parts[1])"
  }

  var contents: [String: String] { values.withLock { $0 } }
}

let start = ContinuousClock.now
func say(_ text: String) {
  let elapsed = ContinuousClock.now - start
  let milliseconds =
    elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
  print(String(format: "%6d ms  ", milliseconds) + text)
}

LoggingSystem.bootstrap { label in
  var handler = StreamLogHandler.standardError(label: label)
  handler.logLevel = .warning
  return handler
}
let logger = Logger(label: "webraft-example")
let network = InMemoryNetwork()
let members: [NodeID] = ["alpha", "bravo", "charlie"]
var nodes: [NodeID: RaftNode<KeyValueMachine>] = [:]
var machines: [NodeID: KeyValueMachine] = [:]

say("starting a 3-node cluster: \(members.map(\.rawValue).joined(separator: ", "))")
for member in members {
  let machine = KeyValueMachine()
  let node = try await RaftNode(
    id: member, bootstrap: Membership(voters: Set(members)), storage: InMemoryStorage(),
    stateMachine: machine, logger: logger, makePeer: network.makePeer(from: member))
  network.register(member, inbound: node.inbound)
  node.listen { event in
    switch event {
    case .stateChanged(let from, let to): say("\(member): \(from) -> \(to)")
    case .leader(let term): say("\(member): I lead term \(term)")
    case .startElection(let term, let preVote):
      say("\(member): starts \(preVote ? "a pre-vote" : "an election") for term \(term)")
    case .heartbeatTimeout: say("\(member): heartbeat timeout, no leader heard")
    default: break
    }
  }
  nodes[member] = node
  machines[member] = machine
}

@MainActor func currentLeader(excluding excluded: NodeID? = nil) async -> NodeID? {
  for _ in 0..<200 {
    for member in members where member != excluded {
      if let node = nodes[member], await node.status.role == .leader { return member }
    }
    try? await Task.sleep(for: .milliseconds(20))
  }
  return nil
}

guard let first = await currentLeader() else {
  say("no leader was elected; something is wrong")
  exit(1)
}
say("leader is \(first)")

for (index, command) in ["color=blue", "size=large", "shape=round"].enumerated() {
  let proposer = members[index % members.count]
  let result = try await nodes[proposer]!.propose(Data(command.utf8))
  say("proposed \(command) on \(proposer): \(result)")
}

say("cutting \(first) off from the others")
network.isolate(first)
guard let second = await currentLeader(excluding: first) else {
  say("the majority did not elect a new leader; something is wrong")
  exit(1)
}
say("new leader is \(second)")
let result = try await nodes[second]!.propose(Data("color=green".utf8))
say("proposed color=green on \(second) while \(first) is cut off: \(result)")

say("letting \(first) back in")
network.heal()
for _ in 0..<100 {
  if machines[first]!.contents["color"] == "green" { break }
  try await Task.sleep(for: .milliseconds(20))
}
for member in members {
  let status = await nodes[member]!.status
  let state = machines[member]!.contents.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
  say(
    "\(member): \(status.role) in term \(status.term), applied \(status.appliedIndex), state \(state.joined(separator: " "))"
  )
}
for node in nodes.values { await node.shutdown() }
say("done")
