import Foundation

/// Runs `writers` tasks that each call `operation` `perWriter` times, one after another, and
/// returns every call's latency, sorted (the closed loop of the runtime and TCP benchmarks).
public func closedLoopLatencies(
  writers: Int, perWriter: Int, _ operation: @escaping @Sendable () async throws -> Void
) async throws -> [Duration] {
  try await withThrowingTaskGroup(of: [Duration].self) { group in
    for _ in 0..<writers {
      group.addTask {
        var own: [Duration] = []
        own.reserveCapacity(perWriter)
        for _ in 0..<perWriter {
          let began = ContinuousClock.now
          try await operation()
          own.append(ContinuousClock.now - began)
        }
        return own
      }
    }
    var all: [Duration] = []
    for try await own in group { all.append(contentsOf: own) }
    return all.sorted()
  }
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
