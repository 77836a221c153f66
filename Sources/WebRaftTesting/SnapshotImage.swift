#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The bytes of a simulated state-machine snapshot: a header that names the stored contents and
/// repeats the metadata, then filler derived from the header, so that a chunk lost, repeated or
/// put in the wrong place on the way to a follower is noticed when the snapshot is restored.
enum SnapshotImage {
  private static let magic: UInt64 = 0x3130_5041_4E53_5257  // "WRSNAP01"

  /// Encodes the snapshot with identifier `id` (a key of the simulator's snapshot table).
  static func encode(id: UInt64, metadata: SnapshotMetadata, fillerLength: Int) -> Data {
    var data = Data()
    data.reserveCapacity(40 + fillerLength)
    for value in [magic, id, metadata.index, metadata.term, UInt64(fillerLength)] {
      withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }
    for position in 0..<fillerLength {
      data.append(filler(id: id, position: position))
    }
    return data
  }

  /// The identifier in `data`, or why the bytes are not the snapshot `metadata` describes.
  static func decode(_ data: Data, metadata: SnapshotMetadata) -> Result<UInt64, SnapshotImageError> {
    let bytes = [UInt8](data)
    guard bytes.count >= 40 else { return .failure(SnapshotImageError("only \(bytes.count) bytes")) }
    func word(_ position: Int) -> UInt64 {
      var value: UInt64 = 0
      for offset in (0..<8).reversed() {
        value = value << 8 | UInt64(bytes[position * 8 + offset])
      }
      return value
    }
    guard word(0) == magic else { return .failure(SnapshotImageError("bad magic")) }
    let id = word(1)
    guard word(2) == metadata.index, word(3) == metadata.term else {
      return .failure(
        SnapshotImageError(
          "it holds index \(word(2)) term \(word(3)), the metadata says \(metadata.index)/\(metadata.term)"))
    }
    let length = Int(word(4))
    guard bytes.count == 40 + length else {
      return .failure(SnapshotImageError("\(bytes.count) bytes where \(40 + length) were written"))
    }
    for position in 0..<length where bytes[40 + position] != filler(id: id, position: position) {
      return .failure(SnapshotImageError("byte \(40 + position) differs from what was written"))
    }
    return .success(id)
  }

  private static func filler(id: UInt64, position: Int) -> UInt8 {
    UInt8(truncatingIfNeeded: id &* 31 &+ UInt64(position) &* 7 &+ UInt64(position >> 8))
  }
}

/// Why bytes received as a snapshot are not the snapshot that was sent.
struct SnapshotImageError: Error, CustomStringConvertible {
  let description: String

  init(_ description: String) {
    self.description = description
  }
}
