import ArgumentParser
import Logging
import RaftKV

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `raftkv`: a replicated key-value service on WebRaft (started by `main.swift`).
struct RaftKVCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "raftkv",
    abstract: "A replicated key-value service on WebRaft: run it, watch it, break it.",
    discussion: """
      Start a three-node cluster on this machine with `raftkv cluster`, then talk to any node:
        raftkv put greeting hello
        raftkv get greeting
      The dashboard is at http://127.0.0.1:8001/ (any node's HTTP address).
      """,
    subcommands: [
      Cluster.self, Serve.self, Put.self, Get.self, Delete.self, CompareAndSet.self, Status.self,
      Members.self, Transfer.self, Snapshot.self, Recover.self, Bench.self, Maelstrom.self,
    ]
  )
}

/// Options shared by the client commands.
struct ClientOptions: ParsableArguments {
  @Option(help: "The node to talk to (any node: followers forward to the leader).")
  var url: String = defaultURL

  @Option(help: "Seconds a request may take.")
  var timeout: Double = 10

  static var defaultURL: String {
    if let value = getenv("RAFTKV_URL") { return String(cString: value) }
    return "http://127.0.0.1:8001"
  }

  func makeClient() throws -> RaftKVClient {
    try RaftKVClient(url: url, timeout: .milliseconds(Int64(timeout * 1000)))
  }
}

/// Sets up logging to standard error at `level`.
func bootstrapLogging(level: String) throws -> Logger.Level {
  guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
    throw ValidationError(
      "unknown log level \(level); use trace, debug, info, notice, warning, error or critical")
  }
  LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = parsed
    return handler
  }
  return parsed
}

/// Writes `text` to standard output at once (no buffering), for progress lines.
func writeOut(_ text: String) {
  var bytes = Array(text.utf8)
  var offset = 0
  while offset < bytes.count {
    let written = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
    if written <= 0 { return }
    offset += written
  }
}

/// Writes `text` and a newline to standard error.
func writeError(_ text: String) {
  let bytes = Array((text + "\n").utf8)
  _ = bytes.withUnsafeBytes { write(2, $0.baseAddress!, $0.count) }
}

/// Parses a duration such as `10s`, `500ms`, `2m` or `1.5` (seconds).
func parseDuration(_ text: String) -> Duration? {
  let trimmed = text.lowercased()
  let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
  for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
    guard let value = Double(trimmed.dropLast(suffix.count)), value >= 0 else { return nil }
    return .milliseconds(Int64(value * scale * 1000))
  }
  guard let seconds = Double(trimmed), seconds >= 0 else { return nil }
  return .milliseconds(Int64(seconds * 1000))
}
