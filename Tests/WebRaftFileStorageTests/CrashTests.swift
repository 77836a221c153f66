import Testing
import WebRaftFileStorage

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#endif

/// Real processes killed with SIGKILL while they append: after every kill, every acknowledged
/// batch and snapshot is there, intact, and the term and vote never went back.
///
/// The child is the `StorageCrashChild` executable, built next to the test bundle by
/// `swift build --build-tests`.
@Suite("Crash tests")
struct CrashTests {
  /// The child executable, if it was built.
  static let childPath: String? = {
    var buffer = [CChar](repeating: 0, count: 4_096)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    let executable = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var directory = executable
    while let last = directory.last, last != "/" { directory.removeLast() }
    // Test bundles on Linux are executables in the build directory; on macOS they are bundles
    // whose executable is three levels below it.
    for candidate in [directory, directory + "../../../"]
    where access(candidate + "StorageCrashChild", X_OK) == 0 {
      return candidate + "StorageCrashChild"
    }
    return nil
  }()

  /// What the child said it was doing.
  enum Operation: Equatable {
    case persist(first: UInt64, count: UInt64, term: UInt64, hardState: HardState?)
    case snapshot(index: UInt64, term: UInt64, size: Int)
  }

  /// What the storage must hold: the acknowledged operations applied in order.
  struct Model: Equatable {
    var hardState = HardState()
    var baseIndex: UInt64 = 0
    var baseTerm: UInt64 = 0
    var snapshotSize = 0
    var terms: [UInt64] = []

    var lastIndex: UInt64 { baseIndex + UInt64(terms.count) }

    func applying(_ operation: Operation) -> Model {
      var next = self
      switch operation {
      case .persist(let first, let count, let term, let hardState):
        if let hardState { next.hardState = hardState }
        if count > 0 {
          next.terms.removeLast(terms.count - Int(first - baseIndex - 1))
          next.terms.append(contentsOf: repeatElement(term, count: Int(count)))
        }
      case .snapshot(let index, let term, let size):
        next.terms.removeFirst(Int(index - baseIndex))
        next.baseIndex = index
        next.baseTerm = term
        next.snapshotSize = size
      }
      return next
    }

    var state: PersistentState {
      var hardState = hardState
      hardState.commitIndex = max(hardState.commitIndex, baseIndex)
      return PersistentState(
        hardState: hardState,
        snapshot: SnapshotMetadata(index: baseIndex, term: baseTerm, membership: ["a", "b", "c"]),
        entries: terms.enumerated().map { offset, term in
          let index = baseIndex + UInt64(offset) + 1
          return LogEntry(index: index, term: term, payload: .command(command(index: index, term: term)))
        })
    }
  }

  /// The child's command for an entry (a copy of `command` in StorageCrashChild/main.swift).
  static func command(index: UInt64, term: UInt64) -> Data {
    var state = index &* 0x9E37_79B9_7F4A_7C15 ^ term &* 0xC2B2_AE3D_27D4_EB4F
    let count = 8 + Int(index % 24)
    var bytes = [UInt8](repeating: 0, count: count)
    for position in 0..<count {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      bytes[position] = UInt8(truncatingIfNeeded: state >> 57)
    }
    return Data(bytes)
  }

  /// The child's snapshot byte (a copy of `snapshotByte` in StorageCrashChild/main.swift).
  static func snapshotByte(index: UInt64, position: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: (index &* 31 &+ UInt64(position) &* 7) ^ (UInt64(position) >> 8))
  }

  /// A running child with its standard output.
  struct Child {
    let pid: pid_t
    let output: Int32
    var buffer: [UInt8] = []

    static func spawn(_ path: String, directory: String, seed: UInt64, log: String) throws -> Child {
      var pipeEnds: [Int32] = [0, 0]
      guard pipe(&pipeEnds) == 0 else { throw CrashTestError("pipe failed: \(errno)") }
      var actions = posix_spawn_file_actions_t()
      posix_spawn_file_actions_init(&actions)
      defer { posix_spawn_file_actions_destroy(&actions) }
      posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
      posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
      posix_spawn_file_actions_addclose(&actions, pipeEnds[1])
      posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
      let arguments = [path, directory, String(seed)]
      var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
      defer { for argument in argv { free(argument) } }
      var pid: pid_t = 0
      let result = posix_spawn(&pid, path, &actions, nil, &argv, environ)
      close(pipeEnds[1])
      guard result == 0 else {
        close(pipeEnds[0])
        throw CrashTestError("posix_spawn failed: \(result)")
      }
      return Child(pid: pid, output: pipeEnds[0])
    }

    /// Reads until a whole line that starts with `prefix` arrived, or the child ended. It waits
    /// with `Task.sleep`, never blocking one of the few cooperative threads the other tests share.
    mutating func waitForLine(startingWith prefix: String, timeout: Int32) async -> Bool {
      let deadline = DispatchlessClock.now + Double(timeout) / 1_000
      while !lines().contains(where: { $0.hasPrefix(prefix) }) {
        if DispatchlessClock.now >= deadline { return false }
        var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, 0) <= 0 {
          try? await Task.sleep(for: .milliseconds(1))
          continue
        }
        if !readAvailable() { return lines().contains(where: { $0.hasPrefix(prefix) }) }
      }
      return true
    }

    /// Reads what is there; false at the end of the output.
    mutating func readAvailable() -> Bool {
      var chunk = [UInt8](repeating: 0, count: 65_536)
      let count = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
      if count <= 0 { return false }
      buffer.append(contentsOf: chunk[..<count])
      return true
    }

    /// The complete lines so far.
    func lines() -> [Substring] {
      let text = String(decoding: buffer, as: UTF8.self)
      var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
      lines.removeLast()  // an incomplete line, or "" after the last newline
      return lines
    }

    /// Kills the child with SIGKILL, reaps it, and reads the rest of its output.
    mutating func kill() throws -> Int32 {
      _ = Glibc.kill(pid, SIGKILL)
      var status: Int32 = 0
      while waitpid(pid, &status, 0) < 0, errno == EINTR {}
      while readAvailable() {}
      close(output)
      return status
    }
  }

  struct CrashTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
  }

  /// Parses the child's report lines into acknowledged operations and the one in flight.
  static func parse(_ lines: [Substring]) throws -> (acknowledged: [Operation], pending: Operation?) {
    var acknowledged: [Operation] = []
    var pending: Operation?
    for line in lines {
      let fields = line.split(separator: " ").map(String.init)
      switch fields.first {
      case "R": continue
      case "P":
        guard fields.count == 7, let first = UInt64(fields[1]), let count = UInt64(fields[2]),
          let term = UInt64(fields[3])
        else { throw CrashTestError("bad line \(line)") }
        var hardState: HardState?
        if let hsTerm = UInt64(fields[4]), let commit = UInt64(fields[6]) {
          hardState = HardState(
            term: hsTerm, votedFor: fields[5] == "-" ? nil : NodeID(fields[5]), commitIndex: commit)
        }
        pending = .persist(first: first, count: count, term: term, hardState: hardState)
      case "S":
        guard fields.count == 4, let index = UInt64(fields[1]), let term = UInt64(fields[2]),
          let size = Int(fields[3])
        else { throw CrashTestError("bad line \(line)") }
        pending = .snapshot(index: index, term: term, size: size)
      case "A", "C":
        guard let operation = pending else { throw CrashTestError("acknowledgement without an operation") }
        acknowledged.append(operation)
        pending = nil
      default:
        throw CrashTestError("bad line \(line)")
      }
    }
    return (acknowledged, pending)
  }

  @Test(
    "SIGKILL at random moments loses nothing acknowledged",
    .enabled(
      if: childPath != nil,
      "StorageCrashChild was not found next to the test executable; build it with `swift build --build-tests`"
    ),
    .timeLimit(.minutes(3)))
  func killAtRandomMoments() async throws {
    let path = try #require(Self.childPath)
    let directory = TemporaryDirectory("webraft-crash")
    let storagePath = directory.file("node")
    let log = directory.file("child.log")
    var random = SplitMix64(seed: 0xC0FF_EE00 ^ UInt64(UInt32(truncatingIfNeeded: getpid())))
    var model = Model()
    var kills = 0
    var acknowledgedBatches = 0
    var snapshots = 0
    var pendingFound = 0
    let started = DispatchlessClock.now

    while kills < 200 || DispatchlessClock.now - started < 5 {
      var child = try Child.spawn(path, directory: storagePath, seed: random.next(), log: log)
      guard await child.waitForLine(startingWith: "R ", timeout: 20_000) else {
        _ = try child.kill()
        Issue.record(
          "the child did not start: \(String(decoding: readFile(log).suffix(2_000), as: UTF8.self))")
        return
      }
      try await Task.sleep(for: .microseconds(UInt64.random(in: 0...40_000, using: &random)))
      let status = try child.kill()
      // The child must have been killed, not have failed on its own.
      guard status & 0x7F == SIGKILL else {
        Issue.record(
          "the child exited by itself (status \(status)): \(String(decoding: readFile(log).suffix(2_000), as: UTF8.self))"
        )
        return
      }
      kills += 1
      let (acknowledged, pending) = try Self.parse(child.lines())
      for operation in acknowledged {
        model = model.applying(operation)
        if case .snapshot = operation { snapshots += 1 } else { acknowledgedBatches += 1 }
      }

      // Reopen and compare with what was acknowledged, or that plus the operation in flight.
      let storage = try FileStorage(directory: storagePath)
      let loaded = try #require(try await storage.load())
      let withPending = pending.map { model.applying($0) }
      let previous = model
      if loaded == model.state {
      } else if let withPending, loaded == withPending.state {
        model = withPending
        pendingFound += 1
      } else {
        storage.close()
        Issue.record(
          """
          after kill \(kills) the storage holds \(loaded.entries.count) entries after snapshot \
          \(loaded.snapshot.index), hard state \(loaded.hardState); expected \(model.terms.count) entries after \
          \(model.baseIndex), hard state \(model.hardState) (pending: \(String(describing: pending)))
          """)
        return
      }
      #expect(loaded.hardState.term >= previous.hardState.term, "the term went back")
      if loaded.hardState.term == previous.hardState.term, let vote = previous.hardState.votedFor {
        #expect(loaded.hardState.votedFor == vote, "the vote changed within a term")
      }
      // The snapshot is intact.
      if model.baseIndex > 0 {
        let reader = try #require(try await storage.openSnapshot())
        #expect(reader.size == UInt64(model.snapshotSize))
        var offset = 0
        while offset < model.snapshotSize {
          let chunk = try await reader.read(at: UInt64(offset), maxLength: 16_384)
          let expected = (offset..<(offset + chunk.count)).map {
            Self.snapshotByte(index: model.baseIndex, position: $0)
          }
          #expect(Array(chunk) == expected, "snapshot \(model.baseIndex) differs near byte \(offset)")
          offset += chunk.count
        }
      }
      storage.close()
    }
    print(
      "crash test: \(kills) kills, \(acknowledgedBatches) acknowledged batches, \(snapshots) snapshots, "
        + "\(pendingFound) in-flight operations found durable, final log \(model.baseIndex + 1)...\(model.lastIndex)"
    )
    #expect(kills >= 200)
    #expect(acknowledgedBatches > kills)
    #expect(snapshots > 0)
  }
}

/// Monotonic seconds, without Dispatch or Foundation's run loop.
enum DispatchlessClock {
  static var now: Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
  }
}
