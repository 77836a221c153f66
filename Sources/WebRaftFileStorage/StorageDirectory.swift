#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The files of one node's storage directory and the operations on their names.
///
/// Layout: `LOCK` (held with `flock` while open), `segment-<sequence>.log` (the log, sequence in
/// 16 hexadecimal digits), `snapshot-<index>.snap` (snapshots, index in 16 hexadecimal digits),
/// and `*.tmp` files that are being written and are removed on open.
struct StorageDirectory: Sendable {
  /// The directory's path.
  let path: String

  /// The path of a file in the directory.
  func file(_ name: String) -> String {
    path.hasSuffix("/") ? path + name : path + "/" + name
  }

  /// The name of the segment with sequence number `sequence`.
  static func segmentName(_ sequence: UInt64) -> String {
    "segment-" + hex(sequence) + ".log"
  }

  /// The name of the snapshot at `index`.
  static func snapshotName(_ index: UInt64) -> String {
    "snapshot-" + hex(index) + ".snap"
  }

  /// The sequence number in a segment's name, or nil for other names.
  static func segmentSequence(_ name: String) -> UInt64? {
    number(in: name, prefix: "segment-", suffix: ".log")
  }

  /// The index in a snapshot's name, or nil for other names.
  static func snapshotIndex(_ name: String) -> UInt64? {
    number(in: name, prefix: "snapshot-", suffix: ".snap")
  }

  private static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
  }

  private static func number(in name: String, prefix: String, suffix: String) -> UInt64? {
    guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count == prefix.count + 16 + suffix.count
    else { return nil }
    let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
    return UInt64(digits, radix: 16)
  }

  /// Creates the directory if it does not exist.
  func create() throws(FileStorageError) {
    if mkdir(path, 0o755) != 0, errno != EEXIST {
      throw .ioFailure(operation: "mkdir", path: path, errno: errno)
    }
  }

  /// The names of the files in the directory.
  func list() throws(FileStorageError) -> [String] {
    guard let stream = opendir(path) else { throw .ioFailure(operation: "opendir", path: path, errno: errno) }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
      let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
        pointer.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// Makes the directory's entries (created, renamed files) durable.
  func sync() throws(FileStorageError) {
    let directory = try SystemFile.open(path, flags: O_RDONLY | O_DIRECTORY)
    defer { directory.close() }
    try directory.sync()
  }

  /// Renames `from` to `to` inside the directory, replacing `to`.
  func rename(_ from: String, to: String) throws(FileStorageError) {
    if systemRename(file(from), file(to)) != 0 {
      throw .ioFailure(operation: "rename to \(to)", path: file(from), errno: errno)
    }
  }

  /// Removes a file; a file already gone is not an error.
  func remove(_ name: String) throws(FileStorageError) {
    if unlink(file(name)) != 0, errno != ENOENT {
      throw .ioFailure(operation: "unlink", path: file(name), errno: errno)
    }
  }
}

private func systemRename(_ from: String, _ to: String) -> Int32 {
  rename(from, to)
}
