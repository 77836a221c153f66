import NIOCore
import Synchronization

/// A closed-loop load generator for `raftkv`: each client keeps one keep-alive connection and
/// sends its next request as soon as the previous one is answered.
public enum KVBenchmark {
  /// What to run.
  public struct Configuration: Sendable {
    /// The nodes to send to; client `i` starts with `endpoints[i % count]` and moves to the next
    /// one when its connection fails.
    public var endpoints: [KVEndpoint]
    /// The number of concurrent clients.
    public var clients: Int
    /// How long to run.
    public var duration: Duration
    /// The size of each written value, in bytes.
    public var valueSize: Int
    /// The share of requests that are reads (0 ... 1); the rest are puts.
    public var readFraction: Double
    /// How many distinct keys (8 bytes each: `k0000042`) are used, at random.
    public var keySpace: Int
    /// The read consistency (`nil`: linearizable, `lease`, `stale`).
    public var consistency: String?
    /// How long one request may take before it counts as an error.
    public var requestTimeout: Duration

    /// Creates a configuration.
    public init(
      endpoints: [KVEndpoint], clients: Int = 64, duration: Duration = .seconds(10), valueSize: Int = 256,
      readFraction: Double = 0, keySpace: Int = 100_000, consistency: String? = nil,
      requestTimeout: Duration = .seconds(10)
    ) {
      self.endpoints = endpoints
      self.clients = clients
      self.duration = duration
      self.valueSize = valueSize
      self.readFraction = readFraction
      self.keySpace = keySpace
      self.consistency = consistency
      self.requestTimeout = requestTimeout
    }
  }

  /// Counts so far, for the live progress line.
  public struct Progress: Sendable {
    /// Time since the start.
    public var elapsed: Duration
    /// Successful requests so far.
    public var operations: Int
    /// Failed requests so far.
    public var errors: Int
    /// Successful requests per second over the last interval.
    public var recentThroughput: Double
  }

  /// What a run measured.
  public struct Result: Sendable {
    /// Successful requests.
    public var operations: Int
    /// Successful writes among them.
    public var writes: Int
    /// Successful reads among them.
    public var reads: Int
    /// Failed requests (error answers, timeouts, broken connections).
    public var errors: Int
    /// How long the run took.
    public var elapsed: Duration
    /// Latencies of successful requests, sorted, in nanoseconds.
    public var latencies: [UInt64]

    /// Successful requests per second.
    public var throughput: Double {
      let seconds = elapsed.seconds
      return seconds > 0 ? Double(operations) / seconds : 0
    }

    /// The latency below which `fraction` of the requests finished, in milliseconds.
    public func percentile(_ fraction: Double) -> Double {
      guard !latencies.isEmpty else { return 0 }
      let position = min(
        latencies.count - 1, max(0, Int((Double(latencies.count) * fraction).rounded(.up)) - 1))
      return Double(latencies[position]) / 1e6
    }

    /// A few lines for a person: throughput and p50/p99/p99.9 latency.
    public var summary: String {
      func format(_ value: Double, _ digits: Int = 2) -> String {
        let scale = pow10(digits)
        let rounded = (value * scale).rounded() / scale
        return "\(rounded)"
      }
      return """
        operations: \(operations) (\(writes) writes, \(reads) reads), errors: \(errors), in \(format(elapsed.seconds)) s
        throughput: \(format(throughput, 1)) ops/s
        latency ms: p50 \(format(percentile(0.5), 3))  p99 \(format(percentile(0.99), 3))  p99.9 \(format(percentile(0.999), 3))  max \(format(Double(latencies.last ?? 0) / 1e6, 3))
        """
    }
  }

  /// Runs the benchmark and calls `progress` about once a second.
  public static func run(
    _ configuration: Configuration, progress: @escaping @Sendable (Progress) -> Void = { _ in }
  ) async throws -> Result {
    precondition(!configuration.endpoints.isEmpty, "the benchmark needs at least one endpoint")
    let counters = Counters()
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start + configuration.duration
    var value = ByteBuffer()
    var generator = SplitMix(seed: 0x5EED)
    for _ in 0..<configuration.valueSize {
      value.writeInteger(UInt8(ascii: "a") + UInt8(generator.next() % 26))
    }
    let payload = value
    let runID = UInt64.random(in: 1...UInt64.max)

    let results = try await withThrowingTaskGroup(of: ClientResult.self) { group in
      for index in 0..<max(1, configuration.clients) {
        group.addTask {
          await runClient(
            index: index, configuration: configuration, payload: payload, deadline: deadline,
            clientID: (runID &+ UInt64(index) &* 0x9E37_79B9) & ((1 << 62) - 1) | 1,
            counters: counters)
        }
      }
      group.addTask {
        var previous = 0
        var last = clock.now
        while clock.now < deadline {
          try? await Task.sleep(for: .seconds(1))
          let now = clock.now
          let done = counters.operations.load(ordering: .relaxed)
          let interval = (now - last).seconds
          progress(
            Progress(
              elapsed: now - start, operations: done, errors: counters.errors.load(ordering: .relaxed),
              recentThroughput: interval > 0 ? Double(done - previous) / interval : 0))
          previous = done
          last = now
        }
        return ClientResult()
      }
      var merged = ClientResult()
      for try await result in group {
        merged.latencies.append(contentsOf: result.latencies)
        merged.writes += result.writes
        merged.reads += result.reads
        merged.errors += result.errors
      }
      return merged
    }
    let elapsed = clock.now - start
    return Result(
      operations: results.writes + results.reads, writes: results.writes, reads: results.reads,
      errors: results.errors, elapsed: elapsed, latencies: results.latencies.sorted())
  }

  private final class Counters: Sendable {
    let operations = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
  }

  private struct ClientResult: Sendable {
    var latencies: [UInt64] = []
    var writes = 0
    var reads = 0
    var errors = 0
  }

  private static func runClient(
    index: Int, configuration: Configuration, payload: ByteBuffer, deadline: ContinuousClock.Instant,
    clientID: UInt64, counters: Counters
  ) async -> ClientResult {
    var result = ClientResult()
    result.latencies.reserveCapacity(16_384)
    var generator = SplitMix(seed: clientID)
    var endpointIndex = index % configuration.endpoints.count
    var connection: KVHTTPConnection?
    var sequence: UInt64 = 0
    let clock = ContinuousClock()
    let clientHeader = String(clientID)
    let readSuffix = configuration.consistency.map { "?consistency=\($0)" } ?? ""
    while clock.now < deadline {
      if connection == nil || connection?.isActive == false {
        do {
          connection = try await KVHTTPConnection.connect(to: configuration.endpoints[endpointIndex])
        } catch {
          result.errors += 1
          counters.errors.wrappingAdd(1, ordering: .relaxed)
          endpointIndex = (endpointIndex + 1) % configuration.endpoints.count
          try? await Task.sleep(for: .milliseconds(50))
          continue
        }
      }
      guard let open = connection else { continue }
      let key = makeKey(Int(generator.next() % UInt64(max(1, configuration.keySpace))))
      let isRead = Double(generator.next() % 1_000_000) / 1_000_000 < configuration.readFraction
      let started = clock.now
      do {
        let response: KVHTTPResponse
        if isRead {
          response = try await open.request(
            .GET, "/kv/" + key + readSuffix, timeout: configuration.requestTimeout)
        } else {
          sequence += 1
          response = try await open.request(
            .PUT, "/kv/" + key,
            headers: [("X-Client-ID", clientHeader), ("X-Request-Seq", String(sequence))], body: payload,
            timeout: configuration.requestTimeout)
        }
        let ok = isRead ? (response.status == 200 || response.status == 404) : response.status == 204
        if ok {
          let elapsed = clock.now - started
          result.latencies.append(UInt64(elapsed.nanosecondsClamped))
          if isRead { result.reads += 1 } else { result.writes += 1 }
          counters.operations.wrappingAdd(1, ordering: .relaxed)
        } else {
          result.errors += 1
          counters.errors.wrappingAdd(1, ordering: .relaxed)
          if response.status == 503 { try? await Task.sleep(for: .milliseconds(10)) }
        }
      } catch {
        result.errors += 1
        counters.errors.wrappingAdd(1, ordering: .relaxed)
        await open.close()
        connection = nil
        endpointIndex = (endpointIndex + 1) % configuration.endpoints.count
      }
    }
    await connection?.close()
    return result
  }

  /// An 8-byte key: `k` and seven digits.
  static func makeKey(_ number: Int) -> String {
    var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 8)
    digits[0] = UInt8(ascii: "k")
    var rest = number % 10_000_000
    var position = 7
    while rest > 0 && position > 0 {
      digits[position] = UInt8(ascii: "0") + UInt8(rest % 10)
      rest /= 10
      position -= 1
    }
    return String(decoding: digits, as: UTF8.self)
  }
}

/// A small, fast, seeded generator (SplitMix64).
struct SplitMix: RandomNumberGenerator {
  private var state: UInt64

  init(seed: UInt64) {
    state = seed
  }

  /// The next value without advancing.
  var peek: UInt64 {
    var copy = self
    return copy.next()
  }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

extension Duration {
  /// The duration in seconds.
  var seconds: Double {
    let (whole, attoseconds) = components
    return Double(whole) + Double(attoseconds) / 1e18
  }
}

private func pow10(_ digits: Int) -> Double {
  var result = 1.0
  for _ in 0..<digits { result *= 10 }
  return result
}
