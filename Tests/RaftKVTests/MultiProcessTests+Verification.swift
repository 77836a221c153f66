import Foundation
import Testing
import WebRaftTesting

@testable import RaftKV

// What every fault test checks once its faults are over and its clients stopped: every node is
// back and caught up, every acknowledged write of a key nobody overwrites is on every node, and
// the recorded history is linearizable.
extension MultiProcessTests {
  /// What ``verifyRun(members:history:keys:now:)`` found.
  struct RunOutcome {
    var verdict: LinearizabilityChecker.Verdict
    var counts: [String: Int]
    var summary: String
  }

  /// Checks the members after a run; records an issue for each failure and returns the verdict.
  static func verifyRun(
    members: Members, history: History, keys: [String], now: @Sendable () -> UInt64
  ) async throws -> RunOutcome {
    let urls = members.urls
    let remaining = members.all.map(\.id)
    for (offset, url) in urls.enumerated() {
      let up = try await eventually(timeout: .seconds(30)) {
        let client = try RaftKVClient(url: url, timeout: .seconds(2))
        defer { Task { await client.close() } }
        return try await client.status().leader != nil
      }
      #expect(up, "node \(remaining[offset]) did not come back")
    }
    let leaderURL = try #require(
      try await waitForLeader(urls[0]).flatMap { id in members.all.first { $0.id == id }?.url })
    let target = try await RaftKVClient(url: leaderURL, timeout: .seconds(5)).status().commitIndex
    for url in urls {
      let caughtUp = try await eventually(timeout: .seconds(30)) {
        let client = try RaftKVClient(url: url, timeout: .seconds(2))
        defer { Task { await client.close() } }
        return try await client.status().appliedIndex >= target
      }
      #expect(caughtUp, "\(url) did not catch up to \(target)")
    }

    // Every acknowledged write of a key nobody overwrites is on every node.
    let acknowledged = history.acknowledged.withLock { $0 }
    var missing: [String] = []
    for url in urls {
      let client = try RaftKVClient(url: url, timeout: .seconds(5))
      for (key, value) in acknowledged {
        let stored = try await client.get(key, consistency: "stale").map {
          String(decoding: $0, as: UTF8.self)
        }
        if stored != value { missing.append("\(url) \(key): \(stored ?? "absent") instead of \(value)") }
      }
      await client.close()
    }
    #expect(missing.isEmpty, "acknowledged writes missing: \(missing.prefix(10))")

    // Final linearizable reads of the contended keys join the history.
    let reader = try RaftKVClient(url: leaderURL, timeout: .seconds(5))
    for key in keys {
      let call = now()
      let value = try await reader.get(key).map { String(decoding: $0, as: UTF8.self) }
      history.operations.withLock {
        $0.append(.init(client: 999, key: key, call: call, returned: now(), kind: .read(observed: value)))
      }
    }
    await reader.close()

    let operations = history.operations.withLock { $0 }
    let checkStart = ContinuousClock.now
    let verdict = LinearizabilityChecker().check(operations)
    let counts = history.counts.withLock { $0 }
    let unknown = operations.filter { $0.returned == .max }.count
    // The checker is not blind: the same history with one read that saw a value nobody wrote is
    // refused.
    if let index = operations.firstIndex(where: { operation in
      if case .read(let observed?) = operation.kind { return !observed.isEmpty }
      return false
    }) {
      var mutated = operations
      mutated[index].kind = .read(observed: "never-written")
      #expect(LinearizabilityChecker().check(mutated) != .linearizable)
    }
    switch verdict {
    case .linearizable: break
    case .violation(let key, let operations):
      Issue.record(
        "not linearizable on key \(key):\n\(operations.map(\.description).joined(separator: "\n"))")
    case .undecided(let key):
      Issue.record("the checker gave up on key \(key)")
    }
    let summary =
      "\(operations.count) operations on \(keys.count) keys "
      + "(\(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))), "
      + "\(unknown) with unknown outcome; \(acknowledged.count) acknowledged unique writes checked; "
      + "checked in \(ContinuousClock.now - checkStart): \(verdict)"
    return RunOutcome(verdict: verdict, counts: counts, summary: summary)
  }
}
