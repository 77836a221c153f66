import Logging

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension FileStorage {

  /// Reads the directory: nil for a new node, or the replayed log with its torn tail cut off, a
  /// snapshot installation that a crash interrupted finished, and leftover files removed.
  static func recover(
    files: StorageDirectory, configuration: Configuration, logger: Logger
  ) throws(FileStorageError) -> OpenLog? {
    var segments: [UInt64] = []
    var snapshots: [UInt64] = []
    for name in try files.list() {
      if name.hasSuffix(".tmp") {
        logger.debug("WebRaft storage: removing an unfinished temporary file", metadata: ["file": "\(name)"])
        try files.remove(name)
      } else if let sequence = StorageDirectory.segmentSequence(name) {
        segments.append(sequence)
      } else if let index = StorageDirectory.snapshotIndex(name) {
        snapshots.append(index)
      }
    }
    snapshots.sort()
    guard !segments.isEmpty else {
      if let newest = snapshots.last, newest > 0 {
        throw .corruption(
          file: StorageDirectory.snapshotName(newest), offset: 0,
          reason: "a snapshot is present but every log segment (segment-*.log) is missing")
      }
      // Left over by an initialization that a crash interrupted.
      for index in snapshots { try files.remove(StorageDirectory.snapshotName(index)) }
      return nil
    }
    guard let newest = snapshots.last else {
      throw .corruption(
        file: StorageDirectory.segmentName(segments.min() ?? 0), offset: 0,
        reason:
          "the snapshot file (snapshot-*.snap) that holds the log's starting point and membership is missing")
    }
    let recovered = try LogRecovery.replay(
      directory: files, sequences: segments, repair: true, logger: logger)

    let snapshotName = StorageDirectory.snapshotName(newest)
    let snapshotFile = try SystemFile.open(files.file(snapshotName), flags: O_RDONLY)
    defer { snapshotFile.close() }
    let trailer = try SnapshotFile.readTrailer(snapshotFile, name: snapshotName)
    let metadata = trailer.metadata
    guard metadata.index == newest else {
      throw .corruption(
        file: snapshotName, offset: 0, reason: "the file describes a snapshot at index \(metadata.index)")
    }
    var pending: CompactionRecord?
    if newest == recovered.index.baseIndex {
      guard metadata.term == recovered.index.baseTerm else {
        throw .corruption(
          file: snapshotName, offset: 0,
          reason:
            "the snapshot has term \(metadata.term) but the log starts after term \(recovered.index.baseTerm)"
        )
      }
    } else if newest > recovered.index.baseIndex {
      // A crash came after the snapshot was renamed into place but before its compaction record
      // was durable: finish the installation.
      let keep = recovered.index.term(at: newest) == metadata.term
      pending = CompactionRecord(index: newest, term: metadata.term, keptSuffix: keep)
    } else {
      throw .corruption(
        file: StorageDirectory.snapshotName(recovered.index.baseIndex), offset: 0,
        reason:
          "the log starts after index \(recovered.index.baseIndex) but that snapshot file is missing "
          + "(the newest one is at index \(newest))")
    }

    guard let last = recovered.segments.last else {
      throw .corruption(file: files.path, offset: 0, reason: "no log segment could be read")
    }
    let current = try SystemFile.open(
      files.file(StorageDirectory.segmentName(last.sequence)), flags: O_WRONLY)
    var log = OpenLog(
      hardState: recovered.hardState, snapshot: metadata, snapshotSize: trailer.dataSize,
      snapshotChecksum: trailer.dataChecksum, index: recovered.index, segments: recovered.segments,
      current: current, currentDigest: recovered.lastDigest, currentHasRecords: recovered.lastHasRecords)
    if let pending {
      let record = pending.record()
      let offset = log.currentSize
      do throws(FileStorageError) {
        try current.write(record, at: offset)
        if configuration.syncPolicy == .fdatasync { try current.syncData() }
      } catch {
        current.close()
        throw error
      }
      log.segments[log.segments.count - 1].size = offset + UInt64(record.count)
      log.currentDigest = LogRecovery.digest(log.currentDigest, addingRecordAt: 0, of: record)
      log.currentHasRecords = true
      log.index.compact(to: pending.index, term: pending.term, keepSuffix: pending.keptSuffix)
      logger.notice(
        "WebRaft storage: finished installing a snapshot that a crash interrupted",
        metadata: ["index": "\(pending.index)"])
    }

    // Leftovers: older snapshots, and segments a compaction did not finish deleting.
    for index in snapshots where index != newest {
      try files.remove(StorageDirectory.snapshotName(index))
    }
    for sequence in recovered.obsolete {
      logger.notice(
        "WebRaft storage: removing an obsolete log segment",
        metadata: ["file": "\(StorageDirectory.segmentName(sequence))"])
      try files.remove(StorageDirectory.segmentName(sequence))
    }
    let needed = log.index.locations.first?.segment ?? log.currentSequence
    while log.segments.count > 1, log.segments[0].sequence < needed {
      try files.remove(StorageDirectory.segmentName(log.segments[0].sequence))
      log.segments.removeFirst()
    }
    // Files removed above or by the repair stay removed after another crash.
    if configuration.syncPolicy == .fdatasync { try files.sync() }
    return log
  }
}
