import Foundation
import Testing
import WebRaft
import WebRaftTesting

@testable import RaftKV

/// raftkv on a real faulty network: each node runs in a network namespace of its own, behind a
/// link shaped with `tc netem` (delay with jitter, loss, duplication, reordering), while clients
/// outside run reads, writes and compare-and-sets and the test cuts links, pauses nodes and kills
/// them. Afterwards every acknowledged write must be on every node and the history linearizable.
///
/// scripts/netns-test.sh makes the namespaces, the bridge and the links, sets `RAFTKV_NETNS` and
/// runs this suite; it removes everything it made afterwards, also when the test fails.
@Suite(
  "Network namespaces: raftkv under netem, cut links, pauses and kills",
  .serialized,
  .enabled(if: ProcessInfo.processInfo.environment["RAFTKV_NETNS"] != nil))
struct NetnsTests {
  /// One node as the script set it up: its namespace, the host side of its link, its address.
  struct Host {
    var id: String
    var namespace: String
    var link: String
    var address: String
  }

  static var environment: [String: String] { ProcessInfo.processInfo.environment }

  /// `RAFTKV_NETNS_HOSTS`: `id@namespace@link@address`, comma-separated.
  static func hosts() throws -> [Host] {
    let text = try #require(environment["RAFTKV_NETNS_HOSTS"], "RAFTKV_NETNS_HOSTS is not set")
    return text.split(separator: ",").map { item in
      let parts = item.split(separator: "@").map(String.init)
      return Host(id: parts[0], namespace: parts[1], link: parts[2], address: parts[3])
    }
  }

  /// Runs `ip` with `arguments` and waits for it.
  static func ip(_ arguments: [String]) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    process.arguments = arguments
    try? process.run()
    process.waitUntilExit()
  }

  @Test("every acknowledged write survives netem, cut links, pauses and kills; the history is linearizable")
  func faultyNetwork() async throws {
    let seconds = Int(Self.environment["RAFTKV_NETNS_SECONDS"] ?? "60") ?? 60
    let seed = UInt64(Self.environment["RAFTKV_NETNS_SEED"] ?? "1") ?? 1
    let work = try #require(Self.environment["RAFTKV_NETNS_WORK"], "RAFTKV_NETNS_WORK is not set")
    let hosts = try Self.hosts()
    let binary = try MultiProcessTests.raftkvBinary()
    let peers = hosts.map { "\($0.id)=\($0.address):7000" }.joined(separator: ",")
    let peersHTTP = hosts.map { "\($0.id)=\($0.address):8000" }.joined(separator: ",")
    let processes = MultiProcessTests.Processes()
    defer { processes.stopAll() }
    let members = MultiProcessTests.Members(
      hosts.map { host in
        MultiProcessTests.Member(
          id: host.id, url: "http://\(host.address):8000",
          command: [
            "/usr/sbin/ip", "netns", "exec", host.namespace, binary, "serve", "--id", host.id, "--raft",
            "\(host.address):7000", "--http", "\(host.address):8000", "--peers", peers, "--peers-http",
            peersHTTP, "--data-dir", "\(work)/\(host.id)", "--log-level", "notice",
          ],
          log: "\(work)/\(host.id).log")
      })
    for member in members.all {
      _ = try #require(MultiProcessTests.start(member, processes: processes), "cannot start \(member.id)")
    }
    let started = ContinuousClock.now
    guard let leader = try await waitForLeader(members.urls[0], timeout: .seconds(40)) else {
      throw MultiProcessTests.MultiProcessFailure("no leader within 40 s")
    }
    print(
      "netns: cluster up in \(ContinuousClock.now - started), leader \(leader); seed \(seed), \(seconds) s")

    let clock = ContinuousClock()
    let origin = clock.now
    let now: @Sendable () -> UInt64 = { UInt64((clock.now - origin).nanosecondsClamped) }
    let history = MultiProcessTests.History()
    let keys = ["a", "b", "c", "d"]
    let clients = Task {
      await withTaskGroup(of: Void.self) { group in
        for client in 0..<6 {
          group.addTask {
            await MultiProcessTests.runClient(
              client, members: members, keys: keys, now: now, history: history)
          }
        }
      }
    }

    // The faults, drawn from the seed, until the run's time is up; each one is undone before the
    // next.
    var random = SplitMix64(seed: seed)
    var counts: [String: Int] = [:]
    while clock.now - origin < .seconds(seconds) {
      try await Task.sleep(for: .milliseconds(1500 + Int.random(in: 0..<2000, using: &random)))
      let host = hosts[Int.random(in: 0..<hosts.count, using: &random)]
      switch Int.random(in: 0..<3, using: &random) {
      case 0:
        // A cut link: the node is alone, both ways.
        Self.ip(["link", "set", host.link, "down"])
        try await Task.sleep(for: .milliseconds(1000 + Int.random(in: 0..<2500, using: &random)))
        Self.ip(["link", "set", host.link, "up"])
        counts["cut", default: 0] += 1
      case 1:
        // A paused process (a long GC pause, a stopped VM).
        if let pid = processes.pid(of: host.id) {
          kill(pid, SIGSTOP)
          try await Task.sleep(for: .milliseconds(500 + Int.random(in: 0..<2500, using: &random)))
          kill(pid, SIGCONT)
          counts["pause", default: 0] += 1
        }
      default:
        if await MultiProcessTests.killLeader(
          members, processes: processes, downTime: .milliseconds(1500), log: { print("netns: \($0)") })
        {
          counts["kill", default: 0] += 1
        }
      }
    }
    for host in hosts { Self.ip(["link", "set", host.link, "up"]) }
    try await Task.sleep(for: .seconds(3))
    members.stopClients()
    await clients.value

    let outcome = try await MultiProcessTests.verifyRun(
      members: members, history: history, keys: keys, now: now)
    print("netns: \(outcome.summary); faults \(counts.sorted { $0.key < $1.key })")
    #expect(outcome.counts["ok", default: 0] > 100, "too few operations succeeded: \(outcome.counts)")
    #expect(counts.values.reduce(0, +) >= seconds / 6, "too few faults: \(counts)")
  }
}
