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
