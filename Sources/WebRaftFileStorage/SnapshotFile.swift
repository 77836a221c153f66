import WebRaft

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Reading the description of a snapshot file written by ``FileSnapshotWriter``.
enum SnapshotFile {
  /// Reads and checks the trailer of the snapshot file `file` (named `name` in errors).
  static func readTrailer(_ file: SystemFile, name: String) throws(FileStorageError) -> SnapshotTrailer {
    let size = try file.size()
    let minimum = UInt64(SnapshotTrailer.footerSize + RecordFrame.headerSize)
    guard size >= minimum else {
      throw .corruption(file: name, offset: 0, reason: "snapshot file of \(size) bytes is too short")
    }
    let footerOffset = size - UInt64(SnapshotTrailer.footerSize)
    let footer = try file.read(count: SnapshotTrailer.footerSize, at: footerOffset)
    guard footer.count == SnapshotTrailer.footerSize, Array(footer[4...]) == SnapshotTrailer.magic else {
      throw .corruption(file: name, offset: footerOffset, reason: "snapshot file footer is damaged")
    }
    let recordSize =
      UInt64(footer[0]) | UInt64(footer[1]) << 8 | UInt64(footer[2]) << 16 | UInt64(footer[3]) << 24
    guard recordSize >= UInt64(RecordFrame.headerSize), recordSize <= footerOffset, recordSize <= 1 << 24
    else {
      throw .corruption(file: name, offset: footerOffset, reason: "snapshot file footer is damaged")
    }
    let recordOffset = footerOffset - recordSize
    let record = try file.read(count: Int(recordSize), at: recordOffset)
    let parsed = record.withUnsafeBytes { RecordFrame.parse($0, at: 0) }
    guard case .record(.snapshotTrailer, let payload) = parsed, payload.upperBound == record.count else {
      var reason = "snapshot description is damaged"
      if case .invalid(let why) = parsed { reason += " (\(why))" }
      throw .corruption(file: name, offset: recordOffset, reason: reason)
    }
    var reader = BinaryReader(record)
    do throws(RaftError) {
      _ = try reader.readRaw(count: payload.lowerBound)
      let trailer = try SnapshotTrailer.decode(from: &reader)
      guard reader.offset == payload.upperBound, trailer.dataSize == recordOffset else {
        throw RaftError.malformedMessage("snapshot description does not match the file's size")
      }
      return trailer
    } catch {
      throw .corruption(file: name, offset: recordOffset, reason: "\(error)")
    }
  }
}
