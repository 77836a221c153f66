import WebRaft

/// Whose data a storage directory holds: the cluster and node it was first started for, and a
/// random incarnation drawn at that first start.
///
/// The identity is made once, when a directory is first opened with
/// ``FileStorage/init(directory:clusterID:nodeID:configuration:logger:)``, and never changes.
/// Opening the directory later for another cluster or node fails with
/// ``FileStorageError/identityMismatch(directory:expected:found:)``, so that a node never runs on
/// another node's log by mistake.
///
/// The incarnation tells the node's lives apart: a node whose directory was wiped and that starts
/// again under the same ``WebRaft/NodeID`` has a new one. Its peers, which remember the incarnation
/// they saw (the TCP transport's handshake carries it), can then refuse it: a node that lost its
/// log must not vote or acknowledge entries as if it still held them.
public struct DataDirectoryIdentity: Hashable, Sendable, CustomStringConvertible {
  /// The cluster the directory belongs to.
  public var clusterID: String
  /// The node the directory belongs to.
  public var nodeID: NodeID
  /// A random number drawn from the system's generator when the directory was first started;
  /// never 0.
  public var incarnation: UInt64

  /// Creates an identity.
  public init(clusterID: String, nodeID: NodeID, incarnation: UInt64) {
    self.clusterID = clusterID
    self.nodeID = nodeID
    self.incarnation = incarnation
  }

  /// A new identity with a random incarnation from the system's random number generator.
  public static func random(clusterID: String, nodeID: NodeID) -> DataDirectoryIdentity {
    var generator = SystemRandomNumberGenerator()
    var incarnation: UInt64 = 0
    while incarnation == 0 { incarnation = generator.next() }
    return DataDirectoryIdentity(clusterID: clusterID, nodeID: nodeID, incarnation: incarnation)
  }

  /// `node n1 of cluster "orders" (incarnation 0x…)`.
  public var description: String {
    "node \(nodeID) of cluster \"\(clusterID)\" (incarnation \(Self.hex(incarnation)))"
  }

  /// An incarnation in 16 hexadecimal digits, as logs and errors show it.
  public static func hex(_ incarnation: UInt64) -> String {
    let digits = String(incarnation, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
  }

  /// The file that holds it.
  static let file = ChecksummedFile(name: "IDENTITY", magic: Array("WRID".utf8), version: 1)

  func encode() -> [UInt8] {
    var writer = BinaryWriter(capacity: 32 + clusterID.utf8.count + nodeID.rawValue.utf8.count)
    writer.write(string: clusterID)
    writer.write(string: nodeID.rawValue)
    writer.write(varint: incarnation)
    return writer.bytes
  }

  static func decode(_ payload: [UInt8]) throws(FileStorageError) -> DataDirectoryIdentity {
    var reader = BinaryReader(payload)
    do throws(RaftError) {
      let identity = DataDirectoryIdentity(
        clusterID: try reader.readString(), nodeID: NodeID(try reader.readString()),
        incarnation: try reader.readVarint())
      guard reader.isAtEnd else { throw RaftError.malformedMessage("\(reader.remaining) trailing bytes") }
      guard identity.incarnation != 0 else { throw RaftError.malformedMessage("incarnation 0") }
      return identity
    } catch {
      throw file.damaged(at: UInt64(reader.offset), "\(error)")
    }
  }
}
