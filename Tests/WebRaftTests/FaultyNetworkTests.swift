import Logging
import Testing
import WebRaft
import WebRaftTesting

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

@Suite("Runtime on a faulty network (WebRaftTesting.FaultyNetwork)")
struct FaultyNetworkTests {
  /// Three runtime nodes on a faulty network.
  private static func cluster(_ network: FaultyNetwork) async throws -> (
    nodes: [NodeID: RaftNode<RecordingMachine>], machines: [NodeID: RecordingMachine]
  ) {
    let members: [NodeID] = ["a", "b", "c"]
    var nodes: [NodeID: RaftNode<RecordingMachine>] = [:]
    var machines: [NodeID: RecordingMachine] = [:]
    for member in members {
      let machine = RecordingMachine()
      let node = try await RaftNode(
        id: member, configuration: fastConfiguration(), bootstrap: Membership(voters: Set(members)),
        storage: InMemoryStorage(), stateMachine: machine, proposalTimeout: .seconds(5),
        logger: Logger(label: "test"), makePeer: network.makePeer(from: member))
      network.register(member, inbound: node.inbound)
      nodes[member] = node
      machines[member] = machine
    }
    return (nodes, machines)
  }

  private static func leader(of nodes: [NodeID: RaftNode<RecordingMachine>], among: Set<NodeID>) async throws
    -> NodeID
  {
    for _ in 0..<500 {
      for (id, node) in nodes where among.contains(id) {
        if await node.status.role == .leader { return id }
      }
      try await Task.sleep(for: .milliseconds(10))
    }
    throw RaftError.noLeader(leaderHint: nil)
  }

  /// Proposes `text` until it succeeds (a lost leader or a dropped proposal is retried).
  private static func write(
    _ text: String, to nodes: [NodeID: RaftNode<RecordingMachine>], among: Set<NodeID>
  )
    async throws
  {
    for _ in 0..<50 {
      let leader = try await leader(of: nodes, among: among)
      do {
        _ = try await nodes[leader]!.propose(Data(text.utf8))
        return
      } catch let error as RaftError {
        switch error {
        case .proposalDropped, .noLeader, .notLeader, .leadershipTransferInProgress: continue
        default: throw error
        }
      }
    }
    throw RaftError.proposalTimedOut
  }

  @Test("loss, duplicates and reordering: every write commits once, on every node")
  func lossyNetwork() async throws {
    let network = FaultyNetwork(
      seed: 11,
      faults: .init(dropProbability: 0.1, duplicateProbability: 0.1, delay: .zero ... .milliseconds(4)))
    let (nodes, machines) = try await Self.cluster(network)
    let all: Set<NodeID> = ["a", "b", "c"]
    for number in 0..<40 {
      try await Self.write("w\(number)", to: nodes, among: all)
    }
    let expected = (0..<40).map { "w\($0)" }
    for _ in 0..<300
    where machines.values.contains(where: { $0.commands.filter { $0.hasPrefix("w") }.count < 40 }) {
      try await Task.sleep(for: .milliseconds(10))
    }
    for (id, machine) in machines {
      #expect(machine.commands == expected, "\(id) applied \(machine.commands)")
    }
    let counts = network.counts
    #expect(counts.dropped > 0 && counts.duplicated > 0)
    for node in nodes.values { await node.shutdown() }
  }

  @Test("a partitioned leader is replaced; after healing it holds what the majority wrote")
  func partitionedLeader() async throws {
    let network = FaultyNetwork(seed: 12)
    let (nodes, machines) = try await Self.cluster(network)
    let all: Set<NodeID> = ["a", "b", "c"]
    try await Self.write("before", to: nodes, among: all)
    let old = try await Self.leader(of: nodes, among: all)
    let majority = all.subtracting([old])
    network.partition([[old], Array(majority)])
    try await Self.write("during", to: nodes, among: majority)
    network.heal()
    for _ in 0..<300 where !machines[old]!.commands.contains("during") {
      try await Task.sleep(for: .milliseconds(10))
    }
    #expect(machines[old]!.commands.contains("during"))
    #expect(await nodes[old]!.status.role != .leader)
    for node in nodes.values { await node.shutdown() }
  }
}
