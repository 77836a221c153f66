import CWebRaftCRC32C

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// CRC-32C (Castagnoli, reflected polynomial `0x82F63B78`): with the CPU's CRC-32C instruction
/// where there is one (x86-64 with SSE 4.2), else eight bytes at a time with the slicing-by-8
/// method.
///
/// `extend(0, bytes)` is the checksum of `bytes`; `extend(extend(0, a), b)` is the checksum of
/// `a` followed by `b`.
enum CRC32C {
  /// Eight tables of 256 entries: table `k` gives the effect of a byte followed by `k` zero bytes.
  static let tables: [UInt32] = {
    var tables = [UInt32](repeating: 0, count: 8 * 256)
    for byte in 0..<256 {
      var crc = UInt32(byte)
      for _ in 0..<8 {
        crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1
      }
      tables[byte] = crc
    }
    for slice in 1..<8 {
      for byte in 0..<256 {
        let previous = tables[(slice - 1) * 256 + byte]
        tables[slice * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
      }
    }
    return tables
  }()

  /// The checksum of `bytes`.
  static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
    extend(0, bytes)
  }

  /// The checksum of `bytes`.
  static func checksum(_ bytes: some ContiguousBytes) -> UInt32 {
    bytes.withUnsafeBytes { extend(0, $0) }
  }

  /// The checksum of the bytes that gave `crc`, followed by `bytes`.
  static func extend(_ crc: UInt32, _ bytes: some ContiguousBytes) -> UInt32 {
    bytes.withUnsafeBytes { extend(crc, $0) }
  }

  /// Whether the CPU's instruction is used.
  static let usesHardware = webraft_crc32c_hardware_available() != 0

  /// The checksum of the bytes that gave `crc`, followed by `bytes`.
  static func extend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    guard let pointer = bytes.baseAddress, !bytes.isEmpty else { return crc }
    if usesHardware {
      return ~webraft_crc32c_hardware_extend(~crc, pointer, bytes.count)
    }
    return softwareExtend(crc, bytes)
  }

  /// ``extend(_:_:)-(_,UnsafeRawBufferPointer)`` without the CPU's instruction (also used to test
  /// that both agree).
  static func softwareExtend(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    guard var pointer = bytes.baseAddress, !bytes.isEmpty else { return crc }
    var remaining = bytes.count
    var state = ~crc
    tables.withUnsafeBufferPointer { table in
      while remaining >= 8 {
        let word = UInt64(littleEndian: pointer.loadUnaligned(as: UInt64.self))
        let low = UInt32(truncatingIfNeeded: word) ^ state
        let high = UInt32(truncatingIfNeeded: word >> 32)
        state =
          table[7 * 256 + Int(low & 0xFF)] ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
          ^ table[5 * 256 + Int((low >> 16) & 0xFF)] ^ table[4 * 256 + Int(low >> 24)]
          ^ table[3 * 256 + Int(high & 0xFF)] ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
          ^ table[1 * 256 + Int((high >> 16) & 0xFF)] ^ table[Int(high >> 24)]
        pointer += 8
        remaining -= 8
      }
      while remaining > 0 {
        let byte = UInt32(pointer.load(as: UInt8.self))
        state = table[Int((state ^ byte) & 0xFF)] ^ (state >> 8)
        pointer += 1
        remaining -= 1
      }
    }
    return ~state
  }
}
