import Foundation
import WebRaft
import WebRaftTesting

/// A command with a readable text, so that failures show which value went missing.
func command(_ text: String) -> Data {
  Data(text.utf8)
}

/// How many seeds each scenario runs with (`WEBRAFT_SEED=N` runs just N).
let scenarioSeeds = SimulationEnvironment.scenarioSeeds(count: 3)

extension ClusterSimulator {
  /// A random integer from the scenario's own seeded generator.
  func randomInt(_ range: Range<Int>) -> Int {
    Int.random(in: range, using: &random)
  }

  /// The node at `position` modulo the cluster size (like the labs' `(leader + 1) % servers`).
  func node(_ position: Int) -> NodeID {
    nodeIDs[position % nodeIDs.count]
  }

  /// The position of `id` in the node list.
  func position(of id: NodeID) -> Int {
    nodeIDs.firstIndex(of: id)!
  }

  /// The current term of running node `id`.
  func term(of id: NodeID) -> UInt64 {
    core(of: id)?.term ?? 0
  }

  /// Runs until every proposal in `ids` has settled (succeeded, dropped or failed).
  @discardableResult
  func awaitSettled(_ ids: [SimulatedProposal.ID], within timeout: UInt64) throws -> Bool {
    try run(for: timeout) { simulator in
      ids.allSatisfy { simulator.proposal($0).status != .pending }
    }
  }

  /// Checks that every acknowledged proposal's command was applied by every running node.
  func requireAcknowledgedEverywhere(among members: Set<NodeID>? = nil) throws {
    let acknowledged = acknowledgedProposals.map { proposal($0) }.filter { !$0.isMembershipChange }
    for id in nodeIDs where isUp(id) && members?.contains(id) != false {
      let applied = Set(appliedCommands(of: id))
      for record in acknowledged where !applied.contains(record.command) {
        throw failure(
          "acknowledged proposal \(record.id) (\(String(decoding: record.command, as: UTF8.self))) "
            + "is missing from the state machine of \(id)")
      }
    }
  }

  /// The Figure 8 crash scenario on 5 nodes: 1000 rounds in which every leader proposes a command
  /// labelled `label`, time passes (sometimes long), each leader crashes, and a crashed node is
  /// restarted while fewer than 3 are up; then everyone restarts, agrees and must hold every
  /// acknowledged command.
  func crashLeadersRepeatedly(label: String) throws {
    try agree(command("first"), expectedNodes: 1)
    var up = 5
    for round in 0..<1000 {
      var leader: NodeID?
      for id in nodeIDs where core(of: id)?.role == .leader {
        try propose(command("\(label) \(round) \(id)"), on: id)
        leader = id
      }
      if randomInt(0..<1000) < 100 {
        try run(for: UInt64(randomInt(0..<500)))
      } else {
        try run(for: UInt64(randomInt(0..<13)))
      }
      if let leader {
        try crash(leader)
        up -= 1
      }
      if up < 3 {
        let candidate = node(randomInt(0..<5))
        if !isUp(candidate) {
          try restart(candidate)
          up += 1
        }
      }
    }
    try restartAll()
    try agree(command("last"), expectedNodes: 5)
    try requireAcknowledgedEverywhere()
  }
}
