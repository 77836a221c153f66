import Testing
import WebRaft
import WebRaftTesting

/// The simulator is deterministic: a seed fixes the whole run, and failures name their seed.
@Suite("Simulation: determinism")
struct DeterminismTests {
  /// A short run with every kind of fault, returning its trace hash.
  private func faultyRun(seed: UInt64) throws -> UInt64 {
    let simulator = try ClusterSimulator(seed: seed, nodes: 5)
    simulator.network.makeUnreliable(drop: 0.1)
    simulator.network.duplicateProbability = 0.05
    simulator.network.longDelayProbability = 0.05
    for round in 0..<40 {
      try simulator.propose(command("d\(round)"), on: simulator.node(simulator.randomInt(0..<5)))
      switch simulator.randomInt(0..<6) {
      case 0: try simulator.crash(simulator.node(simulator.randomInt(0..<5)))
      case 1: try simulator.restartAll()
      case 2: simulator.disconnect(simulator.node(simulator.randomInt(0..<5)))
      case 3: simulator.reconnectAll()
      default: break
      }
      try simulator.run(for: UInt64(simulator.randomInt(0..<200)))
    }
    return simulator.traceHash
  }

  @Test("the same seed gives the same trace hash")
  func sameSeedSameTrace() throws {
    for seed in [1, 2, 77] as [UInt64] {
      let first = try faultyRun(seed: seed)
      let second = try faultyRun(seed: seed)
      #expect(first == second, "seed \(seed) gave two different traces")
    }
  }

  @Test("different seeds give different trace hashes")
  func differentSeedsDifferentTraces() throws {
    var hashes: Set<UInt64> = []
    for seed in 1...20 as ClosedRange<UInt64> {
      hashes.insert(try faultyRun(seed: seed))
    }
    #expect(hashes.count == 20)
  }

  @Test("a failure names its seed and how to replay it")
  func failureNamesSeed() throws {
    let simulator = try ClusterSimulator(seed: 1234, nodes: 3)
    let failure = simulator.failure("something went wrong")
    #expect(failure.description.hasPrefix("seed 1234 at 0 ms: something went wrong"))
    #expect(failure.description.contains("replay with WEBRAFT_SEED=1234"))
  }
}
