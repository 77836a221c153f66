import Foundation
import NIOCore
import NIOPosix
import Synchronization
import Testing
import WebRaft
import WebRaftTesting

@testable import RaftKV

/// The multi-process fault test: a three-node `raftkv cluster` on 127.0.0.1, concurrent clients
/// doing put/get/cas/delete, the leader killed with SIGKILL and restarted again and again, a node
/// added, a follower removed and the leader removed; then every acknowledged write must be on
/// every remaining node and the history must be linearizable.
///
/// It runs only with `RAFTKV_MULTIPROCESS=1` (scripts/multiprocess-test.sh sets it), because it
/// takes about a minute and starts processes of its own.
@Suite(
  "Multi-process: SIGKILL the leader and change the membership under load",
  .serialized,
  .enabled(if: ProcessInfo.processInfo.environment["RAFTKV_MULTIPROCESS"] != nil))
struct MultiProcessTests {
  /// The settings, overridable through the environment.
  struct Settings {
    var clients = 6
    var duration: Duration = .seconds(40)
    /// The pause before each fault (a leader kill or a membership change).
    var faultEvery: Duration = .seconds(5)
    var downTime: Duration = .milliseconds(1500)
    var keys = ["a", "b", "c", "d"]
    var raftBase = 27_340
    var httpBase = 27_440

    init() {
      let environment = ProcessInfo.processInfo.environment
      if let value = environment["RAFTKV_MP_SECONDS"].flatMap(Int.init) { duration = .seconds(value) }
      if let value = environment["RAFTKV_MP_CLIENTS"].flatMap(Int.init) { clients = value }
      if let value = environment["RAFTKV_MP_RAFT_BASE"].flatMap(Int.init) { raftBase = value }
      if let value = environment["RAFTKV_MP_HTTP_BASE"].flatMap(Int.init) { httpBase = value }
    }
  }

  struct NodeSpec: Decodable {
    var id: String
    var pid: Int32
    var http: String
    var url: String
    var log: String
    var command: [String]
  }

  /// The processes the test is responsible for: the cluster and the nodes it restarted itself.
  final class Processes: Sendable {
    let state = Mutex<(cluster: Int32?, nodes: [String: Int32], restarted: Set<Int32>)>((nil, [:], []))

    func pid(of node: String) -> Int32? { state.withLock { $0.nodes[node] } }

    /// Stops everything: SIGTERM, up to 10 s, then SIGKILL.
    func stopAll() {
      let (cluster, restarted) = state.withLock { ($0.cluster, $0.restarted) }
      var targets = Array(restarted)
      if let cluster { targets.append(cluster) }
      for pid in targets { kill(pid, SIGTERM) }
      let deadline = ContinuousClock.now + .seconds(10)
      var waiting = Set(targets)
      while !waiting.isEmpty && ContinuousClock.now < deadline {
        for pid in waiting {
          var status: Int32 = 0
          let result = waitpid(pid, &status, WNOHANG)
          if result == pid || (result < 0 && errno == ECHILD) || kill(pid, 0) != 0 { waiting.remove(pid) }
        }
        usleep(50_000)
      }
      for pid in waiting {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
      }
      // Nodes the cluster started and that it may have left behind.
      for pid in state.withLock({ Array($0.nodes.values) }) where kill(pid, 0) == 0 {
        kill(pid, SIGKILL)
      }
    }
  }

  /// What the clients recorded.
  final class History: Sendable {
    let operations = Mutex<[LinearizabilityChecker.Operation]>([])
    let acknowledged = Mutex<[String: String]>([:])
    let counts = Mutex<[String: Int]>([:])

    func count(_ name: String) { counts.withLock { $0[name, default: 0] += 1 } }
  }

  static func raftkvBinary() throws -> String {
    if let path = ProcessInfo.processInfo.environment["RAFTKV_BINARY"] { return path }
    let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    var directory = executable.deletingLastPathComponent()
    // The test bundle may sit inside a .xctest directory.
    for _ in 0..<4 {
      let candidate = directory.appendingPathComponent("raftkv").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      directory = directory.deletingLastPathComponent()
    }
    throw MultiProcessFailure(
      "cannot find the raftkv executable next to \(executable.path); set RAFTKV_BINARY")
  }

  /// The settings, with unusual ports moved along if something else holds them.
  static func settingsWithFreePorts() -> Settings {
    var settings = Settings()
    for shift in stride(from: 0, to: 2000, by: 20) {
      // Three nodes and the one that joins.
      let raft = (1...4).map { settings.raftBase + shift + $0 }
      let http = (1...4).map { settings.httpBase + shift + $0 }
      if (raft + http).allSatisfy(isFree) {
        settings.raftBase += shift
        settings.httpBase += shift
        break
      }
    }
    return settings
  }

  /// Whether 127.0.0.1:`port` can be listened on.
  static func isFree(_ port: Int) -> Bool {
    guard
      let channel = try? ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .bind(host: "127.0.0.1", port: port).wait()
    else { return false }
    try? channel.close().wait()
    return true
  }

  struct MultiProcessFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
  }

  @Test(
    "SIGKILL the leader, add a node, remove a follower and the leader, under load; no acknowledged write is lost; linearizable"
  )
  func killTheLeader() async throws {
    let settings = Self.settingsWithFreePorts()
    let binary = try Self.raftkvBinary()
    let directory = "/tmp/raftkv-multiprocess-\(getpid())"
    try? FileManager.default.removeItem(atPath: directory)
    let processes = Processes()
    let started = ContinuousClock.now
    defer {
      processes.stopAll()
      try? FileManager.default.removeItem(atPath: directory)
    }

    // The cluster, as a user starts it.
    let cluster = Process()
    cluster.executableURL = URL(fileURLWithPath: binary)
    cluster.arguments = [
      "cluster", "--nodes", "3", "--data-dir", directory, "--raft-base", String(settings.raftBase),
      "--http-base", String(settings.httpBase), "--log-level", "notice",
    ]
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    _ = FileManager.default.createFile(atPath: directory + "/cluster.log", contents: nil)
    let clusterLog = try #require(FileHandle(forWritingAtPath: directory + "/cluster.log"))
    cluster.standardOutput = clusterLog
    cluster.standardError = clusterLog
    try cluster.run()
    processes.state.withLock { $0.cluster = cluster.processIdentifier }

    let specFile = directory + "/cluster.json"
    guard
      try await eventually(timeout: .seconds(20), { FileManager.default.fileExists(atPath: specFile) })
    else {
      throw MultiProcessFailure("raftkv cluster wrote no \(specFile)")
    }
    try await Task.sleep(for: .milliseconds(200))
    let specs =
      try JSONDecoder().decode(
        [String: [NodeSpec]].self, from: Data(contentsOf: URL(fileURLWithPath: specFile)))["nodes"] ?? []
    #expect(specs.count == 3)
    processes.state.withLock { state in
      for spec in specs { state.nodes[spec.id] = spec.pid }
    }
    guard let firstLeader = try await waitForLeader(specs[0].url, timeout: .seconds(30)) else {
      throw MultiProcessFailure("no leader within 30 s")
    }
    print("multi-process: cluster up in \(ContinuousClock.now - started), leader \(firstLeader)")

    let clock = ContinuousClock()
    let origin = clock.now
    let now: @Sendable () -> UInt64 = { UInt64((clock.now - origin).nanosecondsClamped) }
    let history = History()

    // The faults, one after another: SIGKILL the leader (it is restarted with the same command),
    // add a node, remove a follower, replace a follower (a joint change), remove the leader.
    let members = Members(specs.map { Member(id: $0.id, url: $0.url, command: $0.command, log: $0.log) })
    let say: @Sendable (String) -> Void = { print("multi-process: [\(clock.now - origin)] \($0)") }
    let faults = Task { () throws -> FaultReport in
      var report = FaultReport()
      let plan: [Fault] = [
        .killLeader, .killLeader, .addNode, .killLeader, .removeFollower, .replaceFollower, .killLeader,
        .removeLeader,
      ]
      for fault in plan {
        try await Task.sleep(for: settings.faultEvery)
        switch fault {
        case .killLeader:
          if await Self.killLeader(members, processes: processes, downTime: settings.downTime, log: say) {
            report.kills += 1
          }
        case .addNode:
          try await Self.addNode(
            "n4", raftPort: settings.raftBase + 4, httpPort: settings.httpBase + 4, binary: binary,
            directory: directory, members: members, processes: processes)
          report.added.append("n4")
          say("n4 joined and votes")
        case .replaceFollower:
          let replaced = try await Self.replaceFollower(
            with: "n5", raftPort: settings.raftBase + 5, httpPort: settings.httpBase + 5, binary: binary,
            directory: directory, members: members, keeping: ["n4"], processes: processes)
          report.added.append("n5")
          report.removed.append(replaced)
          say("n5 replaced \(replaced) in one joint change")
        case .removeFollower, .removeLeader:
          let removal = try await Self.removeMember(
            leader: fault == .removeLeader, keeping: ["n4"], members: members, processes: processes)
          report.removed.append(removal.id)
          if fault == .removeLeader { report.leaderRemovalAnswered = removal.firstAnswered }
          say("\(fault): \(removal.id) removed (first answer 200: \(removal.firstAnswered))")
        }
      }
      return report
    }

    // The clients, until the faults are over and the run lasted its duration.
    let clients = Task {
      await withTaskGroup(of: Void.self) { group in
        for client in 0..<settings.clients {
          group.addTask {
            await Self.runClient(client, members: members, keys: settings.keys, now: now, history: history)
          }
        }
      }
    }
    let faultResult = await faults.result
    try? await Task.sleep(until: origin + settings.duration, clock: clock)
    try await Task.sleep(for: .seconds(3))
    members.stopClients()
    await clients.value
    let report = try faultResult.get()
    let remaining = members.all.map(\.id)

    let outcome = try await Self.verifyRun(members: members, history: history, keys: settings.keys, now: now)
    print(
      """
      multi-process: \(outcome.summary) by \(settings.clients) clients in \(settings.duration); \
      checked on \(remaining.sorted()); \(report.kills) leader kills, added \(report.added), \
      removed \(report.removed)
      """)
    let counts = outcome.counts
    #expect(report.kills >= 3, "the test killed the leader only \(report.kills) times")
    #expect(report.added == ["n4", "n5"] && report.removed.count == 3 && remaining.count == 2)
    #expect(report.leaderRemovalAnswered, "DELETE /members/<leader> did not answer 200 at once")
    #expect(counts["ok", default: 0] > 100, "too few operations succeeded: \(counts)")
    print("multi-process: done in \(ContinuousClock.now - started)")
  }

  /// One client: random operations on the contended keys, plus writes of keys of its own that
  /// are never overwritten; writes are retried with the same sequence number until their outcome
  /// is known (or 10 s pass: then the outcome stays unknown).
  static func runClient(
    _ client: Int, members: Members, keys: [String], now: @Sendable () -> UInt64, history: History
  ) async {
    var generator = SystemRandomNumberGenerator()
    var endpoint = client
    var connection: RaftKVClient? = nil
    let clientID = UInt64(1000 + client)
    var sequence: UInt64 = 0
    var counter = 0
    var lastSeen: [String: String] = [:]

    func current() -> RaftKVClient {
      if let connection { return connection }
      let urls = members.urls
      let fresh = try! RaftKVClient(
        url: urls[endpoint % urls.count], clientID: clientID, timeout: .seconds(3))
      connection = fresh
      return fresh
    }
    func rotate() async {
      await connection?.close()
      connection = nil
      endpoint += 1
    }

    while members.running {
      counter += 1
      let key = keys.randomElement(using: &generator)!
      let choice = Int.random(in: 0..<100, using: &generator)
      if choice < 35 {
        // Read: failed reads have no effect and are left out.
        let call = now()
        do {
          let value = try await current().get(key).map { String(decoding: $0, as: UTF8.self) }
          history.operations.withLock {
            $0.append(
              .init(client: client, key: key, call: call, returned: now(), kind: .read(observed: value)))
          }
          if let value { lastSeen[key] = value }
          history.count("ok")
        } catch {
          history.count("read failed")
          await rotate()
        }
        continue
      }
      // A write: put, compare-and-set, delete, or a unique key of this client's own.
      sequence += 1
      let value = "c\(client)-\(counter)"
      enum Write {
        case put
        case cas(from: String)
        case delete
        case unique(String)
      }
      let write: Write
      if choice < 60 {
        write = .put
      } else if choice < 85 {
        write = .cas(from: lastSeen[key] ?? "c0-0")
      } else if choice < 90 {
        write = .delete
      } else {
        write = .unique("u-\(client)-\(counter)")
      }
      let call = now()
      let giveUp = ContinuousClock.now + .seconds(10)
      var outcome: LinearizabilityChecker.Operation.Kind?
      while outcome == nil && ContinuousClock.now < giveUp {
        do {
          switch write {
          case .put:
            try await current().put(key, Array(value.utf8), sequence: sequence)
            outcome = .write(value)
          case .delete:
            try await current().delete(key, sequence: sequence)
            outcome = .write(nil)
          case .cas(let from):
            let result = try await current().compareAndSet(key, from: from, to: value, sequence: sequence)
            outcome = .compareAndSet(from: from, to: value, succeeded: result == .swapped)
          case .unique(let uniqueKey):
            try await current().put(uniqueKey, Array(value.utf8), sequence: sequence)
            history.acknowledged.withLock { $0[uniqueKey] = value }
            outcome = .write(value)
          }
        } catch let error as RaftKVError where error.status == 503 && error.message.contains("overloaded") {
          try? await Task.sleep(for: .milliseconds(20))
        } catch {
          // Unknown outcome: retry with the same sequence number, elsewhere if need be.
          history.count("retried")
          await rotate()
          try? await Task.sleep(for: .milliseconds(50))
        }
      }
      let operationKey: String
      if case .unique(let uniqueKey) = write { operationKey = uniqueKey } else { operationKey = key }
      if let outcome {
        history.count("ok")
        history.operations.withLock {
          $0.append(.init(client: client, key: operationKey, call: call, returned: now(), kind: outcome))
        }
      } else {
        history.count("unknown")
        let kind: LinearizabilityChecker.Operation.Kind
        switch write {
        case .put, .unique: kind = .write(value)
        case .delete: kind = .write(nil)
        case .cas(let from): kind = .compareAndSet(from: from, to: value, succeeded: nil)
        }
        history.operations.withLock {
          $0.append(.init(client: client, key: operationKey, call: call, returned: .max, kind: kind))
        }
      }
    }
    await connection?.close()
  }
}
