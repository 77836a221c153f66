import Foundation

/// What a closed-loop run measured.
public struct ClosedLoopResult: Sendable {
  /// From the start of the first call until the last call returned; what throughput is computed
  /// from. Collecting and sorting the latencies afterwards is not part of it.
  public var elapsed: Duration
  /// Every call's latency, sorted.
  public var latencies: [Duration]
}

/// Runs `writers` tasks that each call `operation` `perWriter` times, one after another (the
/// closed loop of the runtime and TCP benchmarks, as hashicorp/raft's hcbench runs it).
public func closedLoop(
  writers: Int, perWriter: Int, _ operation: @escaping @Sendable () async throws -> Void
) async throws -> ClosedLoopResult {
  let start = ContinuousClock.now
  let perTask = try await withThrowingTaskGroup(of: (ContinuousClock.Instant, [Duration]).self) {
    group in
    for _ in 0..<writers {
      group.addTask {
        var own: [Duration] = []
        own.reserveCapacity(perWriter)
        for _ in 0..<perWriter {
          let began = ContinuousClock.now
          try await operation()
          own.append(ContinuousClock.now - began)
        }
        return (ContinuousClock.now, own)
      }
    }
    var all: [(ContinuousClock.Instant, [Duration])] = []
    for try await finished in group { all.append(finished) }
    return all
  }
  let end = perTask.map(\.0).max() ?? start
  return ClosedLoopResult(elapsed: end - start, latencies: perTask.flatMap(\.1).sorted())
}

/// A line about the slowest calls in `sorted` latencies: how many took over `threshold`, their
/// share of the total time, and the eight slowest (stalls that the median and p99 hide).
public func stallSummary(_ sorted: [Duration], over threshold: Duration = .microseconds(200)) -> String {
  let slow = sorted.filter { $0 > threshold }
  let slowTotal = slow.reduce(Duration.zero, +)
  let total = sorted.reduce(Duration.zero, +)
  let share = total > .zero ? slowTotal.seconds / total.seconds * 100 : 0
  let slowest = sorted.suffix(8).map { String(format: "%.0f", $0.microseconds) }
  let head = String(
    format: "  calls over %.0fus: %d, %.1f%% of the time; slowest (us):", threshold.microseconds,
    slow.count, share)
  return head + " " + slowest.joined(separator: " ")
}

extension Duration {
  /// The duration in seconds.
  public var seconds: Double {
    Double(components.seconds) + Double(components.attoseconds) / 1e18
  }

  /// The duration in microseconds.
  public var microseconds: Double {
    Double(components.seconds) * 1e6 + Double(components.attoseconds) / 1e12
  }
}
