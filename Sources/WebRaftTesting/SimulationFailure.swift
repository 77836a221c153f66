/// A failed simulation: an invariant was violated, or a scenario's expectation was not met.
///
/// Its description names the seed, the simulated time and how to replay the run, for example
/// `seed 1234 at 5321 ms: two leaders in term 3 (n1 and n2); replay with WEBRAFT_SEED=1234`.
public struct SimulationFailure: Error, CustomStringConvertible, Sendable {
  /// The seed of the failed run.
  public var seed: UInt64
  /// The simulated time of the failure, in milliseconds.
  public var time: UInt64
  /// What went wrong.
  public var message: String
  /// The last steps before the failure, when the simulator was asked to keep them
  /// (``ClusterSimulator/recentTraceCapacity``).
  public var recentTrace: [String]

  /// Creates a failure.
  public init(seed: UInt64, time: UInt64, message: String, recentTrace: [String] = []) {
    self.seed = seed
    self.time = time
    self.message = message
    self.recentTrace = recentTrace
  }

  /// The failure in one sentence with the seed and the way to replay it, then the recent trace.
  public var description: String {
    var text = "seed \(seed) at \(time) ms: \(message); replay with WEBRAFT_SEED=\(seed)"
    if !recentTrace.isEmpty {
      text += "\nlast steps:\n" + recentTrace.joined(separator: "\n")
    }
    return text
  }
}
