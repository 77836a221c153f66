#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Reads the environment variables that steer simulation tests:
///
/// - `WEBRAFT_SEED=N` replays one seed (a scenario's seed, or one fuzzer seed);
/// - `WEBRAFT_FUZZ_SEEDS=N` runs the fuzzer over N seeds (`WEBRAFT_FUZZ_FIRST=M` starts at M);
/// - `WEBRAFT_LINEARIZABILITY_SEEDS=N` runs the key-value linearizability check over N seeds per
///   read mode (`WEBRAFT_FUZZ_FIRST=M` starts at M);
/// - `WEBRAFT_SPEC_TRACES=DIR` writes each fuzzer run's specification trace to `DIR/seed-N.jsonl`;
/// - `WEBRAFT_TRACE=N` keeps the last N steps of a run and prints them with a failure.
public enum SimulationEnvironment {
  private static func number(_ name: String) -> UInt64? {
    guard let text = ProcessInfo.processInfo.environment[name] else { return nil }
    return UInt64(text.filter { !$0.isWhitespace })
  }

  /// The seed to replay, from `WEBRAFT_SEED`.
  public static var replaySeed: UInt64? { number("WEBRAFT_SEED") }

  /// `WEBRAFT_SEED` when set, otherwise `defaultSeed`.
  public static func seed(default defaultSeed: UInt64) -> UInt64 {
    replaySeed ?? defaultSeed
  }

  /// The seeds a scenario runs with: the one in `WEBRAFT_SEED`, or 1 to `count`.
  public static func scenarioSeeds(count: Int) -> [UInt64] {
    if let seed = replaySeed { return [seed] }
    return count > 0 ? Array(1...UInt64(count)) : []
  }

  /// The fuzzer's seeds: the one in `WEBRAFT_SEED`, or `WEBRAFT_FUZZ_SEEDS` seeds (default
  /// `defaultCount`) from `WEBRAFT_FUZZ_FIRST` (default 1) on.
  public static func fuzzSeeds(defaultCount: Int) -> [UInt64] {
    if let seed = replaySeed { return [seed] }
    let count = number("WEBRAFT_FUZZ_SEEDS") ?? UInt64(defaultCount)
    let first = number("WEBRAFT_FUZZ_FIRST") ?? 1
    guard count > 0 else { return [] }
    return Array(first..<(first + count))
  }

  /// The seeds of a seeded test: the one in `WEBRAFT_SEED`, or as many as the environment
  /// variable `countVariable` says (default `defaultCount`) from `WEBRAFT_FUZZ_FIRST` (default 1) on.
  public static func seeds(countVariable: String, defaultCount: Int) -> [UInt64] {
    if let seed = replaySeed { return [seed] }
    let count = number(countVariable) ?? UInt64(defaultCount)
    let first = number("WEBRAFT_FUZZ_FIRST") ?? 1
    guard count > 0 else { return [] }
    return Array(first..<(first + count))
  }

  /// The directory to write each fuzzer run's specification trace to, from
  /// `WEBRAFT_SPEC_TRACES` (none: no trace is written).
  public static var specTraceDirectory: String? {
    guard let path = ProcessInfo.processInfo.environment["WEBRAFT_SPEC_TRACES"], !path.isEmpty else {
      return nil
    }
    return path
  }

  /// How many recent steps to keep for failure reports, from `WEBRAFT_TRACE` (default 0).
  public static var traceCapacity: Int {
    number("WEBRAFT_TRACE").map { Int(clamping: $0) } ?? 0
  }
}
