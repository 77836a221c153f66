import ArgumentParser
import RaftKV
import UnixSignals

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// `raftkv cluster`: starts N `serve` children on 127.0.0.1 and stops them on Ctrl-C.
struct Cluster: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a cluster of N nodes on this machine (127.0.0.1), until Ctrl-C.",
    discussion: """
      Node i (1-based) is n<i>, with its Raft transport on port raft-base+i and its HTTP API on
      http-base+i, its data in <data-dir>/n<i>, its log in <data-dir>/n<i>.log and its process ID
      in <data-dir>/n<i>.pid. A node that stops is not restarted: restart it with the command in
      <data-dir>/cluster.json. Ctrl-C or SIGTERM stops every node cleanly.
      """)

  @Option(help: "The number of nodes.")
  var nodes: Int = 3

  @Option(help: "Where the nodes keep their data (created if needed).")
  var dataDir: String = "./raftkv-data"

  @Option(help: "Node i's Raft port is raft-base + i.")
  var raftBase: Int = 7000

  @Option(help: "Node i's HTTP port is http-base + i.")
  var httpBase: Int = 8000

  @Flag(help: "Do not fsync the logs (faster; a process crash loses nothing, a power loss may).")
  var noFsync = false

  @Option(help: "The nodes' log level.")
  var logLevel: String = "info"

  func validate() throws {
    guard (1...99).contains(nodes) else { throw ValidationError("--nodes must be between 1 and 99") }
    guard raftBase >= 1, raftBase + nodes <= 65_535, httpBase >= 1, httpBase + nodes <= 65_535 else {
      throw ValidationError("the ports must lie between 1 and 65535")
    }
    let raftPorts = Set((1...nodes).map { raftBase + $0 })
    let httpPorts = Set((1...nodes).map { httpBase + $0 })
    guard raftPorts.isDisjoint(with: httpPorts) else {
      throw ValidationError("the Raft and HTTP port ranges overlap; move --raft-base or --http-base")
    }
  }

  struct NodeSpec: Codable, Sendable {
    var id: String
    var pid: Int32
    var raft: String
    var http: String
    var url: String
    var dataDir: String
    var log: String
    var command: [String]
  }

  func run() async throws {
    // Ports first, with a clear message: a second cluster or another program may hold them.
    for index in 1...nodes {
      for (port, what) in [(raftBase + index, "Raft"), (httpBase + index, "HTTP")] {
        if let problem = portProblem(port) {
          writeError(
            """
            raftkv cluster: cannot use 127.0.0.1:\(port) (the \(what) port of n\(index)): \(problem).
            Is another raftkv cluster running? Stop it, or pick other ports with --raft-base and --http-base.
            """)
          throw ExitCode(2)
        }
      }
    }
    let directory = absolutePath(dataDir)
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      writeError("raftkv cluster: cannot create the data directory \(directory): \(error)")
      throw ExitCode(2)
    }

    let executable = currentExecutable()
    let ids = (1...nodes).map { "n\($0)" }
    let peers = ids.enumerated().map { "\($0.element)=127.0.0.1:\(raftBase + $0.offset + 1)" }.joined(
      separator: ",")
    let peersHTTP = ids.enumerated().map { "\($0.element)=127.0.0.1:\(httpBase + $0.offset + 1)" }
      .joined(separator: ",")

    // Trap the signals before starting anything, so that none is lost.
    let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)

    var specs: [NodeSpec] = []
    for (offset, id) in ids.enumerated() {
      let raft = "127.0.0.1:\(raftBase + offset + 1)"
      let http = "127.0.0.1:\(httpBase + offset + 1)"
      let nodeDir = directory + "/" + id
      let logPath = directory + "/" + id + ".log"
      var arguments = [
        executable, "serve", "--id", id, "--raft", raft, "--http", http, "--peers", peers, "--peers-http",
        peersHTTP, "--data-dir", nodeDir, "--log-level", logLevel,
      ]
      if noFsync { arguments.append("--no-fsync") }
      let withParent = arguments + ["--parent-pid", String(getpid())]
      do {
        let pid = try spawn(withParent, logPath: logPath)
        specs.append(
          NodeSpec(
            id: id, pid: pid, raft: raft, http: http, url: "http://\(http)", dataDir: nodeDir, log: logPath,
            command: arguments))
      } catch {
        writeError("raftkv cluster: cannot start \(id): \(error)")
        stop(specs)
        throw ExitCode(1)
      }
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    if let data = try? encoder.encode(["nodes": specs]) {
      _ = FileManager.default.createFile(atPath: directory + "/cluster.json", contents: data)
    }
    for spec in specs {
      _ = FileManager.default.createFile(atPath: pidFile(spec), contents: Data("\(spec.pid)\n".utf8))
    }

    say("raftkv cluster: \(nodes) node\(nodes == 1 ? "" : "s") on 127.0.0.1, data in \(directory)")
    for spec in specs {
      say("  \(spec.id)  \(spec.url)  (raft \(spec.raft), pid \(spec.pid), log \(spec.log))")
    }
    say("dashboard: http://127.0.0.1:\(httpBase + 1)/")
    say(
      "try:  curl -X PUT --data-binary hello \(specs[0].url)/kv/greeting && curl \(specs[0].url)/kv/greeting")
    say("Ctrl-C stops every node.")

    let started = specs
    let watcher = Task { await Self.reportLeader(started) }
    defer { watcher.cancel() }

    // Wait for a signal, reporting children that exit meanwhile.
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        for await signal in signals {
          say("\nraftkv cluster: \(signal) received; stopping the nodes")
          return
        }
      }
      group.addTask {
        var running = Dictionary(uniqueKeysWithValues: started.map { ($0.pid, $0.id) })
        while !Task.isCancelled && !running.isEmpty {
          for (pid, id) in running {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
              running[pid] = nil
              say("raftkv cluster: \(id) (pid \(pid)) \(describe(status)); not restarted")
            }
          }
          try? await Task.sleep(for: .milliseconds(200))
        }
        if running.isEmpty { say("raftkv cluster: every node has stopped") }
      }
      await group.next()
      group.cancelAll()
    }
    let remaining = specs.filter { kill($0.pid, 0) == 0 }
    stop(remaining)
    for spec in specs { try? FileManager.default.removeItem(atPath: pidFile(spec)) }
    say("raftkv cluster: stopped")
  }

  /// The file that holds a node's process ID while the cluster runs (`<data-dir>/n1.pid`).
  private func pidFile(_ spec: NodeSpec) -> String {
    absolutePath(dataDir) + "/" + spec.id + ".pid"
  }

  /// Prints the leader once one is elected.
  private static func reportLeader(_ specs: [NodeSpec]) async {
    let clients = specs.compactMap { try? RaftKVClient(url: $0.url, timeout: .seconds(1)) }
    defer {
      for client in clients { Task { await client.close() } }
    }
    let start = ContinuousClock.now
    while !Task.isCancelled && ContinuousClock.now - start < .seconds(30) {
      for client in clients {
        if let status = try? await client.status(), let leader = status.leader {
          say("raftkv cluster: \(leader) leads (term \(status.term))")
          return
        }
      }
      try? await Task.sleep(for: .milliseconds(200))
    }
  }

  /// Sends SIGTERM to every node, waits up to 10 s, then SIGKILLs the ones left.
  private func stop(_ specs: [NodeSpec]) {
    for spec in specs { kill(spec.pid, SIGTERM) }
    var waiting = Set(specs.map(\.pid))
    let start = ContinuousClock.now
    while !waiting.isEmpty && ContinuousClock.now - start < .seconds(10) {
      for pid in waiting {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid || (result < 0 && errno == ECHILD) { waiting.remove(pid) }
      }
      if !waiting.isEmpty { usleep(50_000) }
    }
    for pid in waiting {
      writeError("raftkv cluster: pid \(pid) did not stop within 10 s; killing it")
      kill(pid, SIGKILL)
      var status: Int32 = 0
      waitpid(pid, &status, 0)
    }
  }
}

/// Prints a line at once (standard output may be a pipe or a file).
func say(_ text: String) {
  writeOut(text + "\n")
}

/// Why a process ended, in words.
func describe(_ status: Int32) -> String {
  let signal = status & 0x7f
  if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
  return "was killed by signal \(signal)"
}

/// Why 127.0.0.1:`port` cannot be listened on, or nil when it can.
func portProblem(_ port: Int) -> String? {
  #if os(Linux)
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  #else
    let descriptor = socket(AF_INET, SOCK_STREAM, 0)
  #endif
  guard descriptor >= 0 else { return "cannot open a socket (errno \(errno))" }
  defer { close(descriptor) }
  var reuse: Int32 = 1
  setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = in_port_t(UInt16(port).bigEndian)
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  let result = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
    }
  }
  if result == 0 { return nil }
  return errno == EADDRINUSE ? "the port is already in use" : "bind failed (errno \(errno))"
}

/// The running executable's absolute path.
func currentExecutable() -> String {
  #if os(Linux)
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    if length > 0 {
      return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
  #endif
  return absolutePath(CommandLine.arguments[0])
}

/// `path` made absolute against the working directory.
func absolutePath(_ path: String) -> String {
  if path.hasPrefix("/") { return path }
  let base = FileManager.default.currentDirectoryPath
  var trimmed = Substring(path)
  while trimmed.hasPrefix("./") { trimmed = trimmed.dropFirst(2) }
  return trimmed.isEmpty ? base : base + "/" + trimmed
}

/// Starts `arguments[0]` with `arguments`, its output appended to `logPath`, in a process group
/// of its own (so that Ctrl-C reaches only the parent, which stops it in order).
func spawn(_ arguments: [String], logPath: String) throws -> Int32 {
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  defer { posix_spawn_file_actions_destroy(&actions) }
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
  posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
  posix_spawn_file_actions_adddup2(&actions, 1, 2)
  var attributes = posix_spawnattr_t()
  posix_spawnattr_init(&attributes)
  defer { posix_spawnattr_destroy(&attributes) }
  posix_spawnattr_setpgroup(&attributes, 0)
  var flags = Int16(POSIX_SPAWN_SETPGROUP)
  // Children start with default signal handling whatever the parent traps.
  var defaults = sigset_t()
  sigemptyset(&defaults)
  sigaddset(&defaults, SIGINT)
  sigaddset(&defaults, SIGTERM)
  posix_spawnattr_setsigdefault(&attributes, &defaults)
  var empty = sigset_t()
  sigemptyset(&empty)
  posix_spawnattr_setsigmask(&attributes, &empty)
  flags |= Int16(POSIX_SPAWN_SETSIGDEF) | Int16(POSIX_SPAWN_SETSIGMASK)
  posix_spawnattr_setflags(&attributes, flags)

  let cArguments = arguments.map { strdup($0) } + [nil]
  defer { for pointer in cArguments { free(pointer) } }
  var pid: pid_t = 0
  let result = cArguments.withUnsafeBufferPointer { argv in
    posix_spawn(&pid, arguments[0], &actions, &attributes, argv.baseAddress!, environ)
  }
  guard result == 0 else {
    throw RaftKVError(status: 0, message: "posix_spawn failed with error \(result)", leader: nil)
  }
  return pid
}
