import Foundation
import Synchronization
import Testing

@testable import RaftKV

/// The faults the multi-process test injects besides its clients' load: leader kills and
/// membership changes, one after another.
extension MultiProcessTests {
  /// A member of the cluster as the test knows it: how to reach it and how to restart it.
  struct Member: Sendable {
    var id: String
    var url: String
    var command: [String]
    var log: String
  }

  /// The current members, which the clients rotate over, and whether the clients should go on.
  final class Members: Sendable {
    private let state: Mutex<(members: [Member], running: Bool)>

    init(_ members: [Member]) {
      state = Mutex((members, true))
    }

    var all: [Member] { state.withLock { $0.members } }
    var urls: [String] { all.map(\.url) }
    var running: Bool { state.withLock { $0.running } }

    func add(_ member: Member) { state.withLock { $0.members.append(member) } }
    func remove(_ id: String) { state.withLock { $0.members.removeAll { $0.id == id } } }
    func stopClients() { state.withLock { $0.running = false } }
  }

  /// One fault.
  enum Fault: CustomStringConvertible {
    case killLeader
    case addNode
    case removeFollower
    case replaceFollower
    case removeLeader

    var description: String {
      switch self {
      case .killLeader: return "kill the leader"
      case .addNode: return "add a node"
      case .removeFollower: return "remove a follower"
      case .replaceFollower: return "replace a follower in one joint change"
      case .removeLeader: return "remove the leader"
      }
    }
  }

  /// What the faults did.
  struct FaultReport: Sendable {
    var kills = 0
    var added: [String] = []
    var removed: [String] = []
    /// Whether `DELETE /members/<leader>` answered 200 at the first attempt.
    var leaderRemovalAnswered = false
  }

  /// The leader as some member reports it.
  static func currentLeader(_ members: Members) async -> Member? {
    for member in members.all.shuffled() {
      if let found = try? await waitForLeader(member.url, timeout: .seconds(2)) {
        return members.all.first { $0.id == found }
      }
    }
    return nil
  }

  /// SIGKILLs the leader, waits `downTime` and starts it again with the same command.
  static func killLeader(
    _ members: Members, processes: Processes, downTime: Duration, log: @Sendable (String) -> Void
  ) async -> Bool {
    guard let leader = await currentLeader(members), let pid = processes.pid(of: leader.id) else {
      return false
    }
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, WNOHANG)
    log("SIGKILL \(leader.id) (pid \(pid))")
    try? await Task.sleep(for: downTime)
    if let restarted = start(leader, processes: processes) {
      log("restarted \(leader.id) (pid \(restarted))")
    }
    return true
  }

  /// Starts a member's process with its command, its output appended to its log.
  static func start(_ member: Member, processes: Processes) -> Int32? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: member.command[0])
    process.arguments = Array(member.command.dropFirst())
    if !FileManager.default.fileExists(atPath: member.log) {
      _ = FileManager.default.createFile(atPath: member.log, contents: nil)
    }
    if let log = FileHandle(forWritingAtPath: member.log) {
      log.seekToEndOfFile()
      process.standardOutput = log
      process.standardError = log
    }
    do {
      try process.run()
    } catch {
      print("multi-process: cannot start \(member.id): \(error)")
      return nil
    }
    let pid = process.processIdentifier
    processes.state.withLock { state in
      state.nodes[member.id] = pid
      state.restarted.insert(pid)
    }
    return pid
  }

  /// Starts a new node that joins through a current member, and waits until it votes.
  static func addNode(
    _ id: String, raftPort: Int, httpPort: Int, binary: String, directory: String, members: Members,
    processes: Processes
  ) async throws {
    let through = try #require(members.all.first)
    let http = "127.0.0.1:\(httpPort)"
    let member = Member(
      id: id, url: "http://\(http)",
      command: [
        binary, "serve", "--id", id, "--raft", "127.0.0.1:\(raftPort)", "--http", http, "--data-dir",
        directory + "/" + id, "--join", through.url, "--no-fsync", "--log-level", "notice",
      ],
      log: directory + "/" + id + ".log")
    _ = try #require(start(member, processes: processes))
    let votes = try await eventually(timeout: .seconds(30)) {
      let client = try RaftKVClient(url: through.url, timeout: .seconds(2))
      defer { Task { await client.close() } }
      return try await client.status().members.contains { $0.id == id && $0.voter }
    }
    guard votes else { throw MultiProcessFailure("\(id) did not become a voter within 30 s") }
    members.add(member)
  }

  /// Starts a new node with `serve --join URL --replace <follower>`: it joins as a learner,
  /// catches up, and takes the follower's vote in one joint change. Waits until the cluster has
  /// left the joint configuration, then stops the replaced node; returns its id.
  static func replaceFollower(
    with id: String, raftPort: Int, httpPort: Int, binary: String, directory: String, members: Members,
    keeping: Set<String>, processes: Processes
  ) async throws -> String {
    guard let leader = await currentLeader(members),
      let target = members.all.map(\.id).filter({ $0 != leader.id && !keeping.contains($0) }).randomElement()
    else { throw MultiProcessFailure("no follower to replace") }
    let http = "127.0.0.1:\(httpPort)"
    let member = Member(
      id: id, url: "http://\(http)",
      command: [
        binary, "serve", "--id", id, "--raft", "127.0.0.1:\(raftPort)", "--http", http, "--data-dir",
        directory + "/" + id, "--join", leader.url, "--replace", target, "--no-fsync", "--log-level",
        "notice",
      ],
      log: directory + "/" + id + ".log")
    _ = try #require(start(member, processes: processes))
    let replaced = try await eventually(timeout: .seconds(40)) {
      guard let current = await currentLeader(members) else { return false }
      let client = try RaftKVClient(url: current.url, timeout: .seconds(2))
      defer { Task { await client.close() } }
      let status = try await client.status()
      return status.joint == nil && status.members.contains { $0.id == id && $0.voter }
        && !status.members.contains { $0.id == target }
    }
    guard replaced else { throw MultiProcessFailure("\(id) did not replace \(target) within 40 s") }
    members.add(member)
    members.remove(target)
    try await Task.sleep(for: .seconds(1))
    if let pid = processes.pid(of: target) { kill(pid, SIGTERM) }
    return target
  }

  /// Asks the leader to remove a follower (any but `keeping`) or itself, then stops the removed
  /// node; returns the removed member and whether the first request answered 200.
  static func removeMember(
    leader removingLeader: Bool, keeping: Set<String>, members: Members, processes: Processes
  ) async throws -> (id: String, firstAnswered: Bool) {
    var firstAnswered: Bool?
    var target: String?
    var removed: String?
    let deadline = ContinuousClock.now + .seconds(30)
    while removed == nil {
      guard ContinuousClock.now < deadline else { throw MultiProcessFailure("no member was removed in 30 s") }
      guard let leader = await currentLeader(members) else { continue }
      // The target is chosen once: a retry must not remove the next leader too.
      if target == nil {
        target =
          removingLeader
          ? leader.id
          : members.all.map(\.id).filter { $0 != leader.id && !keeping.contains($0) }.randomElement()
      }
      guard let target else { throw MultiProcessFailure("no follower to remove") }
      let client = try RaftKVClient(url: leader.url, timeout: .seconds(10))
      defer { Task { await client.close() } }
      do {
        try await client.removeMember(id: target)
        removed = target
        if firstAnswered == nil { firstAnswered = true }
      } catch let error as RaftKVError where error.status == 404 {
        // A retry after an answer that did not arrive: an earlier attempt went through.
        removed = target
      } catch {
        print("multi-process: removing \(target) failed: \(error); retrying")
        if firstAnswered == nil { firstAnswered = false }
        try await Task.sleep(for: .milliseconds(200))
      }
    }
    let id = try #require(removed)
    members.remove(id)
    // Give the removed node a moment to hand over what it still has to, then stop it.
    try await Task.sleep(for: .seconds(1))
    if let pid = processes.pid(of: id) { kill(pid, SIGTERM) }
    return (id, firstAnswered ?? false)
  }
}
