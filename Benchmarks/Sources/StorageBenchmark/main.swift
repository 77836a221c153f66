// Measures FileStorage against the disk it runs on.
//
// 1. Appends with group commit: one persist() per batch (batches of 1, 16 and 256 entries with
//    16- and 256-byte commands), each ending in one fdatasync, against a raw loop that writes the
//    same bytes with pwrite and calls fdatasync, on the same file system, alternating in the same
//    run. Reports syncs/s, entries/s, the ratio of the raw sync rate to the storage's, and the
//    CPU time of a persist() without its sync.
// 2. Restart: the wall-clock and CPU time to open a directory holding 1,000,000 entries with
//    16-byte commands and load() them, for a log written in batches of 1,000 and of 1 (the worst
//    case: one record per entry).
//
// Usage: StorageBenchmark [--dir PATH] [--seconds S] [--entries N] [--skip-appends] [--skip-restart]
//                         [--calibrate] [--restart-batch N]
// --calibrate runs a second raw loop in place of the storage, to show that the harness is fair
// (ratios near 1.00x).
// Run it in release:  cd Benchmarks && swift build -c release && .build/release/StorageBenchmark

import Synchronization
import WebRaftFileStorage

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#endif

// MARK: Options

var baseDirectory = "/tmp"
var secondsPerRound = 4.0
var restartEntries = 1_000_000
var runAppends = true
var runRestart = true
var calibrate = false
var restartBatches = [1_000, 1]
do {
  var arguments = CommandLine.arguments.dropFirst()
  while let argument = arguments.popFirst() {
    switch argument {
    case "--dir": baseDirectory = arguments.popFirst() ?? baseDirectory
    case "--seconds": secondsPerRound = Double(arguments.popFirst() ?? "") ?? secondsPerRound
    case "--entries": restartEntries = Int(arguments.popFirst() ?? "") ?? restartEntries
    case "--skip-appends": runAppends = false
    case "--skip-restart": runRestart = false
    case "--calibrate": calibrate = true
    case "--restart-batch": restartBatches = [Int(arguments.popFirst() ?? "") ?? 1_000]
    default:
      print(
        "usage: StorageBenchmark [--dir PATH] [--seconds S] [--entries N] [--skip-appends] [--skip-restart] "
          + "[--calibrate] [--restart-batch N]")
      exit(2)
    }
  }
}

// MARK: Helpers

func now() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_MONOTONIC, &time)
  return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

@MainActor
/// CPU seconds used by this process (all threads).
func cpuTime() -> Double {
  var time = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
  return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

@MainActor func makeDirectory(_ label: String) -> String {
  var template = Array("\(baseDirectory)/webraft-bench-\(label)-XXXXXX".utf8CString)
  guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
    print("cannot create a directory in \(baseDirectory)")
    exit(1)
  }
  return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func removeDirectory(_ path: String) {
  if let stream = opendir(path) {
    while let entry = readdir(stream) {
      let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
        pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
      }
      if name != "." && name != ".." { unlink(path + "/" + name) }
    }
    closedir(stream)
  }
  rmdir(path)
}

func entries(first: UInt64, count: Int, size: Int, term: UInt64 = 1) -> [LogEntry] {
  (0..<count).map { offset in
    let index = first + UInt64(offset)
    return LogEntry(
      index: index, term: term,
      payload: .command(Data(repeating: UInt8(truncatingIfNeeded: index), count: size)))
  }
}

func pad(_ text: String, _ width: Int) -> String {
  text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

func format(_ value: Double, _ decimals: Int = 0) -> String {
  var text = String(Int((value * pow(10, Double(decimals))).rounded()))
  if decimals > 0 {
    while text.count <= decimals { text = "0" + text }
    text.insert(".", at: text.index(text.endIndex, offsetBy: -decimals))
  }
  return text
}

/// A plain file appended to with pwrite + fdatasync: the disk's limit. Set up like a log segment
/// (a first write, synced, and the directory synced), and run off the main thread like the
/// storage's calls.
final class RawAppender: Sendable {
  let descriptor: Int32
  let bytes: [UInt8]
  private let offset = Mutex<off_t>(0)

  init(directory: String, bytes: [UInt8]) {
    self.bytes = bytes
    descriptor = open(directory + "/raw", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    let header = [UInt8](repeating: 0x11, count: 27)
    let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY)
    guard descriptor >= 0, directoryDescriptor >= 0,
      pwrite(descriptor, header, header.count, 0) == header.count,
      fdatasync(descriptor) == 0, fsync(directoryDescriptor) == 0
    else {
      print("cannot set up \(directory)/raw: \(errno)")
      exit(1)
    }
    close(directoryDescriptor)
    offset.withLock { $0 = off_t(header.count) }
  }

  /// Appends `bytes` and syncs, repeatedly, for `seconds`; returns the number of syncs.
  nonisolated func run(seconds: Double) async -> Int {
    var syncs = 0
    var position = offset.withLock { $0 }
    let start = now()
    while now() - start < seconds {
      let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, position) }
      guard written == bytes.count, fdatasync(descriptor) == 0 else {
        print("raw write failed: \(errno)")
        exit(1)
      }
      position += off_t(written)
      syncs += 1
    }
    offset.withLock { $0 = position }
    return syncs
  }
}

/// A FileStorage appended to with one persist per batch. Not isolated to the main actor, so
/// that its loop runs on the same executor as the storage's calls, without a thread hop per call.
final class StorageAppender: Sendable {
  let storage: FileStorage
  let batches: [[LogEntry]]
  private let next = Mutex<UInt64>(1)

  nonisolated init(directory: String, batch: Int, size: Int, syncPolicy: FileStorage.SyncPolicy = .fdatasync)
    async throws
  {
    storage = try FileStorage(
      directory: directory, configuration: FileStorage.Configuration(syncPolicy: syncPolicy))
    try await storage.initialize(.initial(membership: ["a", "b", "c"]))
    // Prepared in advance, so that only the storage is measured.
    batches = (0..<64).map { _ in entries(first: 1, count: batch, size: size) }
  }

  /// Persists batches for `seconds`; returns the number of persist calls (one fdatasync each).
  nonisolated func run(seconds: Double) async throws -> Int {
    var index = next.withLock { $0 }
    var syncs = 0
    let start = now()
    while now() - start < seconds {
      var prepared = batches[syncs % batches.count]
      for position in prepared.indices { prepared[position].index = index + UInt64(position) }
      let hardState = syncs % 50 == 0 ? HardState(term: 1, commitIndex: index) : nil
      try await storage.persist(hardState: hardState, entries: prepared)
      index += UInt64(prepared.count)
      syncs += 1
    }
    next.withLock { $0 = index }
    return syncs
  }
}

// MARK: Appends

print("WebRaft FileStorage benchmark — directory \(baseDirectory), \(format(secondsPerRound, 1)) s per round")
if runAppends {
  print("")
  print("Appends with group commit (one persist = one write + one fdatasync) vs raw pwrite + fdatasync")
  print(
    pad("batch", 6) + pad("bytes", 7) + pad("raw syncs/s", 13) + pad("syncs/s", 10) + pad("entries/s", 12)
      + pad("MB/s", 8) + pad("ratio", 8) + pad("µs/persist*", 14))
  for size in [16, 256] {
    for batch in [1, 16, 256] {
      let rawDirectory = makeDirectory("raw")
      let storageDirectory = makeDirectory("append")
      defer {
        removeDirectory(rawDirectory)
        removeDirectory(storageDirectory)
      }
      // The raw loop writes as many bytes per sync as the storage's record holds.
      let recordBytes = 9 + 4 + batch * (size + 6)
      let raw = [UInt8](repeating: 0x5A, count: recordBytes)
      let rawAppender = RawAppender(directory: rawDirectory, bytes: raw)
      let storageAppender = try await StorageAppender(directory: storageDirectory, batch: batch, size: size)
      let calibration = RawAppender(directory: storageDirectory, bytes: raw)
      // Short alternating slices, so that both see the same disk: its speed drifts a lot.
      let slices = max(2, Int(secondsPerRound / 0.25))
      var rawSyncs = 0
      var storageSyncs = 0
      for _ in 0..<slices {
        rawSyncs += await rawAppender.run(seconds: secondsPerRound / Double(slices))
        if calibrate {
          storageSyncs += await calibration.run(seconds: secondsPerRound / Double(slices))
        } else {
          storageSyncs += try await storageAppender.run(seconds: secondsPerRound / Double(slices))
        }
      }
      close(rawAppender.descriptor)
      storageAppender.storage.close()
      // The CPU cost of a persist without its sync, for the same batches.
      let cpuDirectory = makeDirectory("cpu")
      let unsynced = try await StorageAppender(
        directory: cpuDirectory, batch: batch, size: size, syncPolicy: .none)
      let cpuCalls = try await unsynced.run(seconds: 0.5)
      unsynced.storage.close()
      removeDirectory(cpuDirectory)
      let microsecondsPerPersist = 0.5e6 / Double(cpuCalls)
      let rawRate = Double(rawSyncs) / secondsPerRound
      let storageRate = Double(storageSyncs) / secondsPerRound
      print(
        pad("\(batch)", 6) + pad("\(size)", 7) + pad(format(rawRate), 13) + pad(format(storageRate), 10)
          + pad(format(storageRate * Double(batch)), 12)
          + pad(format(storageRate * Double(batch * size) / 1_000_000, 2), 8)
          + pad(format(rawRate / storageRate, 2) + "x", 8) + pad(format(microsecondsPerPersist, 1), 14))
    }
  }
  print("ratio = raw syncs/s ÷ storage syncs/s (1.00x = as fast as the disk allows; goal ≤ 1.2x)")
  print("* the CPU time of one persist() without its fdatasync (sync policy .none), same batches")
}

// MARK: Restart

if runRestart {
  for batch in restartBatches {
    do {
      try await restart(entryCount: restartEntries, batch: batch)
    } catch {
      print("restart benchmark failed: \(error)")
      exit(1)
    }
  }
  print("  (warm page cache; the entries returned by load() are held by the caller, not by the storage)")
}

nonisolated func write(entryCount: Int, batch: Int, into directory: String) async throws {
  let writer = try FileStorage(
    directory: directory, configuration: FileStorage.Configuration(syncPolicy: .none))
  try await writer.initialize(.initial(membership: ["a", "b", "c"]))
  var next: UInt64 = 1
  while next <= UInt64(entryCount) {
    let count = min(batch, entryCount - Int(next) + 1)
    let hardState = next % 1_000 == 1 ? HardState(term: 1, commitIndex: next - 1) : nil
    try await writer.persist(hardState: hardState, entries: entries(first: next, count: count, size: 16))
    next += UInt64(count)
  }
  writer.close()
}

@MainActor func restart(entryCount: Int, batch: Int) async throws {
  print("")
  print(
    "Restart: open + load() of \(entryCount) entries with 16-byte commands, written in batches of \(batch)")
  let directory = makeDirectory("restart")
  defer { removeDirectory(directory) }
  let writeStart = now()
  try await write(entryCount: entryCount, batch: batch, into: directory)
  let writeTime = now() - writeStart
  sync()
  var bytes = 0
  if let stream = opendir(directory) {
    while let entry = readdir(stream) {
      let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
        pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
      }
      var info = stat()
      if stat(directory + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFREG {
        bytes += Int(info.st_size)
      }
    }
    closedir(stream)
  }
  print(
    "  written in \(format(writeTime, 2)) s (sync policy .none); \(format(Double(bytes) / 1_048_576, 1)) MiB on disk"
  )
  for round in 1...3 {
    let openStart = now()
    let cpuStart = cpuTime()
    let storage = try FileStorage(directory: directory)
    let opened = now()
    let openCPU = cpuTime() - cpuStart
    let state = try await storage.load()
    let loaded = now()
    let cpu = cpuTime() - cpuStart
    guard let state, state.entries.count == entryCount else {
      print("load returned \(state?.entries.count ?? -1) entries")
      exit(1)
    }
    print(
      "  round \(round): open \(format((opened - openStart) * 1_000, 1)) ms + load \(format((loaded - opened) * 1_000, 1)) ms"
        + " = \(format((loaded - openStart) * 1_000, 1)) ms (CPU \(format(openCPU * 1_000, 1)) + \(format((cpu - openCPU) * 1_000, 1)) ms)"
    )
    storage.close()
  }
}
