import ArgumentParser
import RaftKV
import WebRaftNIO

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Runs a client call, turning its error into a message and exit code 1.
func runClient(_ body: () async throws -> Void) async throws {
  do {
    try await body()
  } catch let error as ExitCode {
    throw error
  } catch {
    writeError("raftkv: \(error)")
    throw ExitCode(1)
  }
}

/// Reads all of standard input.
func readStandardInput() -> [UInt8] {
  var result: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65_536)
  while true {
    let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
    if count <= 0 { break }
    result.append(contentsOf: buffer[0..<count])
  }
  return result
}

struct Put: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Set a key's value (once committed).")
  @OptionGroup var options: ClientOptions
  @Argument(help: "The key.") var key: String
  @Argument(help: "The value; - reads it from standard input.") var value: String

  func run() async throws {
    try await runClient {
      let client = try options.makeClient()
      defer { Task { await client.close() } }
      let bytes = value == "-" ? readStandardInput() : Array(value.utf8)
      try await client.put(key, bytes)
    }
  }
}

struct Get: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Print a key's value (exit 1 when absent).")
  @OptionGroup var options: ClientOptions
  @Argument(help: "The key.") var key: String
  @Option(help: "linearizable (default), lease or stale.") var consistency: String?

  func run() async throws {
    try await runClient {
      let client = try options.makeClient()
      defer { Task { await client.close() } }
      guard let value = try await client.get(key, consistency: consistency) else {
        writeError("raftkv: \(key) is absent")
        throw ExitCode(1)
      }
      writeOut(String(decoding: value, as: UTF8.self) + "\n")
    }
  }
}

struct Delete: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Remove a key (also when absent).")
  @OptionGroup var options: ClientOptions
  @Argument(help: "The key.") var key: String

  func run() async throws {
    try await runClient {
      let client = try options.makeClient()
      defer { Task { await client.close() } }
      try await client.delete(key)
    }
  }
}

struct CompareAndSet: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cas", abstract: "Set a key to TO if its value is FROM (exit 1 otherwise).")
  @OptionGroup var options: ClientOptions
  @Argument(help: "The key.") var key: String
  @Argument(help: "The expected value.") var from: String
  @Argument(help: "The new value.") var to: String

  func run() async throws {
    try await runClient {
      let client = try options.makeClient()
      defer { Task { await client.close() } }
      switch try await client.compareAndSet(key, from: from, to: to) {
      case .swapped:
        print("swapped")
      case .mismatch(let current):
        writeError("raftkv: not swapped; the value is \(String(decoding: current, as: UTF8.self))")
        throw ExitCode(1)
      case .absent:
        writeError("raftkv: not swapped; \(key) is absent")
        throw ExitCode(1)
      }
    }
  }
}

struct Status: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Show a node's view of the cluster.")
  @OptionGroup var options: ClientOptions
  @Flag(help: "Print the raw JSON.") var json = false

  func run() async throws {
    try await runClient {
      let client = try options.makeClient()
      defer { Task { await client.close() } }
      if json {
        let response = try await client.http.request(.GET, "/status")
        print(response.text)
        return
      }
      let status = try await client.status()
      print(
        "\(status.id): \(status.role), term \(status.term), leader \(status.leader ?? "none"), "
          + "commit \(status.commitIndex), applied \(status.appliedIndex), snapshot \(status.snapshotIndex), "
          + "last \(status.lastIndex), \(status.keys) keys")
      for member in status.members {
        var line =
          "  \(member.id)\(member.voter ? "" : " (learner)")  raft \(member.raft ?? "?")  http \(member.http ?? "?")"
        if let follower = status.followers?[member.id] {
          line += "  match \(follower.matchIndex) next \(follower.nextIndex)"
          if let state = follower.state { line += " \(state)" }
        }
        print(line)
      }
    }
  }
}

struct Members: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List, add, remove or change members.",
    subcommands: [List.self, Add.self, Remove.self, Change.self],
    defaultSubcommand: List.self)

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the members.")
    @OptionGroup var options: ClientOptions

    func run() async throws {
      try await runClient {
        let client = try options.makeClient()
        defer { Task { await client.close() } }
        let status = try await client.status()
        for member in status.members {
          let role = member.id == status.leader ? "leader" : (member.voter ? "voter" : "learner")
          print("\(member.id)\t\(role)\traft \(member.raft ?? "?")\thttp \(member.http ?? "?")")
        }
      }
    }
  }

  struct Add: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Add a member; it joins as a learner and votes once caught up.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The new member's id.") var id: String
    @Option(help: "Its Raft address, host:port.") var raft: String
    @Option(help: "Its HTTP address, host:port.") var http: String?

    func run() async throws {
      try await runClient {
        let client = try options.makeClient()
        defer { Task { await client.close() } }
        try await client.addMember(id: id, raft: raft, http: http)
        print("\(id) added")
      }
    }
  }

  struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a member.")
    @OptionGroup var options: ClientOptions
    @Argument(help: "The member's id.") var id: String

    func run() async throws {
      try await runClient {
        let client = try options.makeClient()
        defer { Task { await client.close() } }
        try await client.removeMember(id: id)
        print("\(id) removed")
      }
    }
  }
}

extension Members {
  struct Change: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Add, remove, promote and demote members in one change.",
      discussion: """
        When more than one voter comes or goes, the cluster passes through a joint configuration
        in which every decision needs a majority of the old voters and of the new ones; the
        command returns once the cluster has left it. New members join as learners and catch up
        before they vote. Example, replacing n3 with n4:
          raftkv members change --add n4=127.0.0.1:7004,127.0.0.1:8004 --remove n3
        """)
    @OptionGroup var options: ClientOptions
    @Option(help: "A member to add as a voter: ID=RAFT_ADDR[,HTTP_ADDR] (repeatable).")
    var add: [String] = []
    @Option(help: "A member to remove (repeatable).") var remove: [String] = []
    @Option(help: "A learner to make a voter (repeatable).") var promote: [String] = []
    @Option(help: "A voter to make a learner (repeatable).") var demote: [String] = []

    func validate() throws {
      if add.isEmpty && remove.isEmpty && promote.isEmpty && demote.isEmpty {
        throw ValidationError("nothing to change: give --add, --remove, --promote or --demote")
      }
      _ = try newMembers()
    }

    func newMembers() throws -> [RaftKVClient.NewMember] {
      try add.map { text in
        let parts = text.split(separator: "=", maxSplits: 1)
        let addresses = parts.count == 2 ? parts[1].split(separator: ",") : []
        guard parts.count == 2, !parts[0].isEmpty, (1...2).contains(addresses.count),
          TCPTransport.PeerAddress(String(addresses[0])) != nil
        else {
          throw ValidationError("--add takes ID=RAFT_ADDR[,HTTP_ADDR], got \"\(text)\"")
        }
        return RaftKVClient.NewMember(
          id: String(parts[0]), raft: String(addresses[0]),
          http: addresses.count == 2 ? String(addresses[1]) : nil)
      }
    }

    func run() async throws {
      let members = try newMembers()
      try await runClient {
        let client = try options.makeClient()
        defer { Task { await client.close() } }
        try await client.changeMembers(add: members, remove: remove, promote: promote, demote: demote)
        let status = try await client.status()
        let voters = status.members.filter(\.voter).map(\.id)
        print("changed; voters: \(voters.joined(separator: ", "))")
      }
    }
  }
}

struct Snapshot: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Take a snapshot of a node's state now and compact its log; prints the snapshot's index.")
  @OptionGroup var options: ClientOptions

  func run() async throws {
    try await runClient {
      let client = try options.makeClient()
      defer { Task { await client.close() } }
      print(try await client.snapshot())
    }
  }
}

struct Transfer: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Hand leadership to a member.")
  @OptionGroup var options: ClientOptions
  @Option(help: "The member to lead (default: the most up-to-date voter).") var to: String?

  func run() async throws {
    try await runClient {
      let client = try options.makeClient()
      defer { Task { await client.close() } }
      let leader = try await client.transferLeadership(to: to)
      print("\(leader) leads")
    }
  }
}
