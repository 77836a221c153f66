import Logging
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

/// A directory under /tmp that is removed when the value is released.
final class TemporaryDirectory: Sendable {
  let path: String

  init(_ label: String = "webraft-storage") {
    var template = Array("/tmp/\(label)-XXXXXX".utf8CString)
    let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(made != nil, "mkdtemp failed: \(errno)")
    path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// The path of `name` inside the directory.
  func file(_ name: String) -> String { path + "/" + name }

  deinit {
    removeTree(path)
  }
}

/// Removes a directory and everything in it.
func removeTree(_ path: String) {
  if let stream = opendir(path) {
    while let entry = readdir(stream) {
      let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
        pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
      }
      if name == "." || name == ".." { continue }
      let child = path + "/" + name
      var info = stat()
      if lstat(child, &info) == 0, info.st_mode & S_IFMT == S_IFDIR {
        removeTree(child)
      } else {
        unlink(child)
      }
    }
    closedir(stream)
  }
  rmdir(path)
}

/// The names of the files in a directory, sorted.
func fileNames(in path: String) -> [String] {
  guard let stream = opendir(path) else { return [] }
  defer { closedir(stream) }
  var names: [String] = []
  while let entry = readdir(stream) {
    let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
      pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
    }
    if name != "." && name != ".." { names.append(name) }
  }
  return names.sorted()
}

/// The bytes of a file.
func readFile(_ path: String) -> [UInt8] {
  let descriptor = open(path, O_RDONLY)
  precondition(descriptor >= 0, "cannot open \(path)")
  defer { close(descriptor) }
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 65_536)
  while true {
    let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
    if count <= 0 { break }
    bytes.append(contentsOf: buffer[0..<count])
  }
  return bytes
}

/// Replaces the contents of a file.
func writeFile(_ path: String, _ bytes: [UInt8]) {
  let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
  precondition(descriptor >= 0, "cannot create \(path)")
  defer { close(descriptor) }
  let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
  precondition(written == bytes.count)
}

/// Copies the regular files of one directory into another, which is created.
func copyDirectory(_ from: String, to: String) {
  mkdir(to, 0o755)
  for name in fileNames(in: from) {
    writeFile(to + "/" + name, readFile(from + "/" + name))
  }
}

/// A log handler that keeps what it is given, to check what the storage reports.
struct RecordingLogHandler: LogHandler {
  /// The messages logged, with their level.
  final class Messages: Sendable {
    private let stored = Mutex<[(Logger.Level, String)]>([])

    func append(_ level: Logger.Level, _ message: String) {
      stored.withLock { $0.append((level, message)) }
    }

    var all: [(Logger.Level, String)] { stored.withLock { $0 } }

    func contains(_ level: Logger.Level, _ text: String) -> Bool {
      all.contains { $0.0 == level && $0.1.contains(text) }
    }
  }

  let messages: Messages
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .trace

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    let details = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    messages.append(event.level, "\(event.message) \(details.joined(separator: " "))")
  }

  /// A logger that records into `messages`.
  static func logger(_ messages: Messages) -> Logger {
    Logger(label: "test") { _ in RecordingLogHandler(messages: messages) }
  }
}

/// A command entry.
func entry(_ index: UInt64, term: UInt64, size: Int = 16) -> LogEntry {
  LogEntry(
    index: index, term: term,
    payload: .command(Data((0..<size).map { UInt8(truncatingIfNeeded: Int(index) &* 7 &+ $0 &+ Int(term)) })))
}

/// Command entries with consecutive indexes.
func entries(_ indexes: ClosedRange<UInt64>, term: UInt64, size: Int = 16) -> [LogEntry] {
  indexes.map { entry($0, term: term, size: size) }
}

/// Whether `body` throws a corruption error.
func throwsCorruption(_ body: () async throws -> Void) async -> FileStorageError? {
  do {
    try await body()
    return nil
  } catch let error as FileStorageError {
    if case .corruption = error { return error }
    return nil
  } catch {
    return nil
  }
}
