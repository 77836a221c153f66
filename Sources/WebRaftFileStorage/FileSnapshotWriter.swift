import Synchronization
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Writes a snapshot of a ``FileStorage`` to a temporary file, then installs it on commit.
final class FileSnapshotWriter: RaftSnapshotWriter {
  private struct Progress: Sendable {
    var file: SystemFile?
    var size: UInt64 = 0
    var checksum: UInt32 = 0
    /// Set once the file is finished and synced.
    var trailer: SnapshotTrailer?
    /// Set once the snapshot is the storage's current one.
    var installed = false
  }

  private let storage: FileStorage
  private let temporaryName: String
  private let metadata: SnapshotMetadata
  private let progress: Mutex<Progress>

  init(storage: FileStorage, file: SystemFile, temporaryName: String, metadata: SnapshotMetadata) {
    self.storage = storage
    self.temporaryName = temporaryName
    self.metadata = metadata
    self.progress = Mutex(Progress(file: file))
  }

  deinit {
    discard()
  }

  /// Appends `chunk` to the temporary file (on the storage's I/O queue).
  func write(_ chunk: Data) async throws {
    try await storage.offloaded { [self] in try self.writeNow(chunk) }
  }

  /// Writes the trailer and syncs the file (on the storage's I/O queue), so that ``commit()``
  /// only has to install it.
  func prepareCommit() async throws {
    try await storage.offloaded { [self] in _ = try self.finishFile() }
  }

  private func writeNow(_ chunk: Data) throws(FileStorageError) {
    try progress.withLock { (progress) throws(FileStorageError) in
      guard let file = progress.file else {
        throw .invalidArgument("the snapshot writer was committed or aborted")
      }
      let offset = progress.size
      let failure = chunk.withUnsafeBytes { (bytes) -> FileStorageError? in
        do throws(FileStorageError) {
          try file.write(bytes, at: offset)
          return nil
        } catch {
          return error
        }
      }
      if let failure { throw failure }
      progress.size += UInt64(chunk.count)
      progress.checksum = CRC32C.extend(progress.checksum, chunk)
    }
  }

  /// Ends the file with its description, syncs it, and makes it the storage's current snapshot.
  func commit() async throws {
    let trailer = try await storage.offloaded { [self] in try self.finishFile() }
    try await storage.offloaded { [self] in try self.install(trailer) }
  }

  /// Writes the trailer and syncs the file once; later calls return the same trailer.
  private func finishFile() throws(FileStorageError) -> SnapshotTrailer {
    try progress.withLock { (progress) throws(FileStorageError) -> SnapshotTrailer in
      if let finished = progress.trailer { return finished }
      guard let file = progress.file else {
        throw .invalidArgument("the snapshot writer was committed or aborted")
      }
      let trailer = SnapshotTrailer(
        metadata: metadata, dataSize: progress.size, dataChecksum: progress.checksum)
      do throws(FileStorageError) {
        try file.write(trailer.bytes(), at: progress.size)
        if storage.configuration.syncPolicy == .fdatasync { try file.syncData() }
      } catch {
        file.close()
        progress.file = nil
        try? storage.files.remove(temporaryName)
        throw error
      }
      file.close()
      progress.file = nil
      progress.trailer = trailer
      return trailer
    }
  }

  private func install(_ trailer: SnapshotTrailer) throws(FileStorageError) {
    do throws(FileStorageError) {
      try storage.installSnapshot(temporaryName: temporaryName, trailer: trailer)
      progress.withLock { $0.installed = true }
    } catch {
      try? storage.files.remove(temporaryName)
      throw error
    }
  }

  /// Deletes the temporary file.
  func abort() async {
    discard()
  }

  private func discard() {
    let (file, leftover) = progress.withLock { progress in
      defer { progress.file = nil }
      return (progress.file, progress.file != nil || (progress.trailer != nil && !progress.installed))
    }
    file?.close()
    if leftover { try? storage.files.remove(temporaryName) }
  }

}
