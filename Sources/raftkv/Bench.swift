import ArgumentParser
import Logging
import RaftKV

/// `raftkv bench`: closed-loop load against one or more nodes.
struct Bench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Closed-loop load: throughput and p50/p99/p99.9 latency.",
    discussion: """
      Each client keeps one keep-alive connection and sends its next request when the previous
      one is answered. Writes are puts of --value-size bytes to 8-byte keys (k0000042); --reads is
      the share of linearizable reads. Give several nodes with --url a,b,c to spread the clients.
      """)

  @Option(help: "The node(s) to load, comma-separated.")
  var url: String = ClientOptions.defaultURL

  @Option(help: "Concurrent clients.")
  var clients: Int = 64

  @Option(help: "How long to run: 10s, 500ms, 1m.")
  var duration: String = "10s"

  @Option(help: "Value size in bytes.")
  var valueSize: Int = 256

  @Option(help: "Share of requests that are reads, 0 to 1.")
  var reads: Double = 0

  @Option(help: "Number of distinct keys.")
  var keys: Int = 100_000

  @Option(help: "Read consistency: linearizable (default), lease or stale.")
  var consistency: String?

  @Flag(help: "Print the result as one JSON line as well.")
  var json = false

  func validate() throws {
    guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
    guard parseDuration(duration) != nil else {
      throw ValidationError("--duration must look like 10s, 500ms or 1m")
    }
    guard (0...1).contains(reads) else { throw ValidationError("--reads must be between 0 and 1") }
    guard valueSize >= 0, keys >= 1 else { throw ValidationError("--value-size and --keys must be positive") }
  }

  func run() async throws {
    var endpoints: [KVEndpoint] = []
    for item in url.split(separator: ",") {
      guard let endpoint = KVEndpoint(url: String(item)) else {
        writeError("raftkv bench: not an http://host:port URL: \(item)")
        throw ExitCode(2)
      }
      endpoints.append(endpoint)
    }
    let configuration = KVBenchmark.Configuration(
      endpoints: endpoints, clients: clients, duration: parseDuration(duration)!, valueSize: valueSize,
      readFraction: reads, keySpace: keys, consistency: consistency == "linearizable" ? nil : consistency)
    print(
      "raftkv bench: \(clients) client\(clients == 1 ? "" : "s") against \(endpoints.map(\.description).joined(separator: ", ")), "
        + "\(duration), \(valueSize)-byte values, \(Int(reads * 100))% reads")
    let result = try await KVBenchmark.run(configuration) { progress in
      let seconds = Int(progress.elapsed.components.seconds)
      writeOut(
        "\r  \(seconds)s  \(Int(progress.recentThroughput)) ops/s  total \(progress.operations)  errors \(progress.errors)   "
      )
    }
    writeOut("\n")
    print(result.summary)
    if json {
      print(
        "{\"clients\":\(clients),\"operations\":\(result.operations),\"errors\":\(result.errors),"
          + "\"throughput\":\(result.throughput),\"p50_ms\":\(result.percentile(0.5)),"
          + "\"p99_ms\":\(result.percentile(0.99)),\"p999_ms\":\(result.percentile(0.999))}")
    }
  }
}

/// `raftkv maelstrom`: the state machine on Jepsen Maelstrom's lin-kv protocol.
struct Maelstrom: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Speak Jepsen Maelstrom's lin-kv protocol on standard input and output.",
    discussion: """
      maelstrom test -w lin-kv --bin $(swift build --show-bin-path)/raftkv maelstrom \\
        --node-count 3 --time-limit 20 --rate 10 --concurrency 2n
      """)

  @Option(help: "Log level for standard error.")
  var logLevel: String = "warning"

  func run() async throws {
    let level = try bootstrapLogging(level: logLevel)
    var logger = Logger(label: "raftkv-maelstrom")
    logger.logLevel = level
    let node = MaelstromNode(output: MaelstromNode.lineWriter(fileDescriptor: 1), logger: logger)
    try await node.run(lines: MaelstromNode.lines(fromFileDescriptor: 0))
  }
}
