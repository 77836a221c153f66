import WebRaft

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A small file of the storage directory that is replaced whole: the data directory's identity and
/// the peer incarnations it has seen.
///
/// Layout: a 4-byte magic that names the file's kind, a 1-byte version, a 4-byte big-endian payload
/// length, the payload, and a big-endian CRC-32C of everything before it. A write goes to a
/// temporary file that is synced, renamed over the old one, and the directory synced: a crash
/// leaves the old file or the new one, never a mix.
struct ChecksummedFile: Sendable {
  /// The file's name in the directory.
  let name: String
  /// The four bytes the file starts with.
  let magic: [UInt8]
  /// The layout version written and accepted.
  let version: UInt8

  /// The longest payload accepted, so that a damaged length never makes a large allocation.
  static let maximumPayload = 1 << 20

  /// Replaces the file with one that holds `payload`.
  func write(_ payload: [UInt8], in files: StorageDirectory) throws(FileStorageError) {
    guard payload.count <= Self.maximumPayload else {
      throw .invalidArgument("\(name) would hold \(payload.count) bytes, more than \(Self.maximumPayload)")
    }
    var bytes = magic
    bytes.append(version)
    let length = UInt32(payload.count)
    bytes += [
      UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF),
    ]
    bytes += payload
    let checksum = CRC32C.checksum(bytes)
    bytes += [
      UInt8(checksum >> 24), UInt8((checksum >> 16) & 0xFF), UInt8((checksum >> 8) & 0xFF),
      UInt8(checksum & 0xFF),
    ]
    let temporary = name + ".tmp"
    let file = try SystemFile.open(files.file(temporary), flags: O_WRONLY | O_CREAT | O_TRUNC)
    do throws(FileStorageError) {
      try file.write(bytes, at: 0)
      try file.sync()
      file.close()
    } catch {
      file.close()
      try? files.remove(temporary)
      throw error
    }
    try files.rename(temporary, to: name)
    try files.sync()
  }

  /// The payload, or nil when the file does not exist.
  ///
  /// - Throws: ``FileStorageError/corruption(file:offset:reason:)`` when the file is not one this
  ///   storage wrote whole.
  func read(in files: StorageDirectory) throws(FileStorageError) -> [UInt8]? {
    let file: SystemFile
    do throws(FileStorageError) {
      file = try SystemFile.open(files.file(name), flags: O_RDONLY)
    } catch {
      if case .ioFailure(_, _, let code) = error, code == ENOENT { return nil }
      throw error
    }
    defer { file.close() }
    let size = try file.size()
    let overhead = magic.count + 1 + 4 + 4
    guard size >= UInt64(overhead), size <= UInt64(overhead + Self.maximumPayload) else {
      throw damaged(at: 0, "the file is \(size) bytes long, which no \(name) file is")
    }
    let bytes = try file.read(count: Int(size), at: 0)
    guard bytes.count == Int(size) else {
      throw damaged(at: UInt64(bytes.count), "the file got shorter while read")
    }
    guard Array(bytes.prefix(magic.count)) == magic else {
      throw damaged(at: 0, "the file does not start with the \(name) magic")
    }
    let stored = bytes.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
    guard CRC32C.checksum(Array(bytes.dropLast(4))) == stored else {
      throw damaged(at: size - 4, "the checksum does not match the contents")
    }
    guard bytes[magic.count] == version else {
      throw damaged(
        at: UInt64(magic.count), "unknown layout version \(bytes[magic.count]) (this build reads \(version))")
    }
    let lengthStart = magic.count + 1
    let length = bytes[lengthStart..<lengthStart + 4].reduce(0) { $0 << 8 | Int($1) }
    guard length == bytes.count - overhead else {
      throw damaged(at: UInt64(lengthStart), "the payload length \(length) does not match the file's size")
    }
    return Array(bytes[(lengthStart + 4)..<(lengthStart + 4 + length)])
  }

  /// The error for a file this storage did not write.
  func damaged(at offset: UInt64, _ reason: String) -> FileStorageError {
    .corruption(file: name, offset: offset, reason: reason)
  }
}
