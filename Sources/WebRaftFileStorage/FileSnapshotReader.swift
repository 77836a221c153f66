import Synchronization
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Reads a snapshot file of a ``FileStorage``. It keeps the file open, so it stays valid when a
/// newer snapshot replaces (and deletes) it.
///
/// When the data is read from start to end, the reader checks it against the checksum written
/// with it, and the read that reaches the end throws
/// ``FileStorageError/corruption(file:offset:reason:)`` on a mismatch.
final class FileSnapshotReader: RaftSnapshotReader {
  let metadata: SnapshotMetadata
  let size: UInt64
  private let file: SystemFile
  private let name: String
  private let checksum: UInt32
  /// How far the data was read in order, and the checksum of that part.
  private let verified = Mutex((offset: UInt64(0), checksum: UInt32(0)))

  init(file: SystemFile, name: String, metadata: SnapshotMetadata, size: UInt64, checksum: UInt32) {
    self.file = file
    self.name = name
    self.metadata = metadata
    self.size = size
    self.checksum = checksum
  }

  deinit {
    file.close()
  }

  func read(at offset: UInt64, maxLength: Int) async throws -> Data {
    guard offset < size, maxLength > 0 else { return Data() }
    let count = Int(min(UInt64(maxLength), size - offset))
    let bytes = try file.read(count: count, at: offset)
    guard bytes.count == count else {
      throw FileStorageError.corruption(
        file: name, offset: offset + UInt64(bytes.count),
        reason: "the snapshot file is shorter than its description")
    }
    try verified.withLock { (verified) throws(FileStorageError) in
      guard offset <= verified.offset, offset + UInt64(count) > verified.offset else { return }
      let skip = Int(verified.offset - offset)
      verified.checksum = CRC32C.extend(verified.checksum, bytes[skip...])
      verified.offset = offset + UInt64(count)
      if verified.offset == size, verified.checksum != checksum {
        throw .corruption(
          file: name, offset: 0, reason: "the snapshot's data does not match its checksum")
      }
    }
    return Data(bytes)
  }
}
