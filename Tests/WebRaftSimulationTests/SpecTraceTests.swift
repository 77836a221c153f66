import Foundation
import Testing
import WebRaft
import WebRaftTesting

/// The specification trace (``SpecTrace``) must describe a run without changing it, and each line
/// must be the JSON object spec/TRACES.md documents.
@Suite("Simulation: the specification trace")
struct SpecTraceTests {
  private static func run(seed: UInt64, recording: Bool) throws -> (hash: UInt64, trace: SpecTrace?) {
    let simulator = try ClusterSimulator(seed: seed, nodes: 3)
    simulator.snapshotInterval = 5
    let trace = recording ? simulator.startSpecTrace() : nil
    _ = try simulator.awaitLeader(within: 5_000)
    for index in 0..<12 {
      try simulator.propose(Data("c\(index)".utf8), on: simulator.currentLeader() ?? "n1")
      try simulator.run(for: 20)
    }
    try simulator.crash("n2")
    try simulator.run(for: 200)
    try simulator.restart("n2")
    try simulator.run(for: 1_000)
    return (simulator.traceHash, trace)
  }

  @Test("recording the trace leaves the run as it was")
  func recordingChangesNothing() throws {
    for seed: UInt64 in [1, 2, 3] {
      let plain = try Self.run(seed: seed, recording: false)
      let recorded = try Self.run(seed: seed, recording: true)
      #expect(plain.hash == recorded.hash, "seed \(seed)")
    }
  }

  @Test("every line is a JSON object with the documented fields")
  func linesAreDocumentedObjects() throws {
    let trace = try #require(try Self.run(seed: 4, recording: true).trace)
    let objects = try trace.lines.map { line in
      try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
    #expect(objects.first?["header"] as? Bool == true)
    var events: Set<String> = []
    for object in objects.dropFirst() {
      let event = try #require(object["event"] as? String)
      events.insert(event)
      #expect(object["node"] is String)
      switch event {
      case "send", "deliver":
        let message = try #require(object["msg"] as? [String: Any])
        #expect(message["type"] is String && message["term"] is Int)
      case "crash", "readServed", "leaseRead":
        break
      default:
        let state = try #require(object["state"] as? [String: Any], "\(event) line without a state")
        for field in ["term", "vote", "role", "leader", "commit", "last", "snap", "cfg"] {
          #expect(state.keys.contains(field), "\(event) line without \(field)")
        }
      }
    }
    #expect(
      events.isSuperset(of: [
        "init", "tick", "deliver", "send", "stored", "propose", "compact", "crash", "restart",
      ]))
  }
}
