import Testing
import WebRaft

@testable import WebRaftFileStorage

/// The data directory's identity file and the peer incarnations kept next to it.
@Suite("Data directory identity")
struct IdentityTests {
  @Test("the identity is made at first open, durably, and read back the same after a reopen")
  func createdAndReread() throws {
    let directory = TemporaryDirectory()
    let first = try FileStorage(directory: directory.path, clusterID: "orders", nodeID: "n1")
    let made = try #require(try first.readIdentity())
    #expect(made.clusterID == "orders")
    #expect(made.nodeID == "n1")
    #expect(made.incarnation != 0)
    #expect(fileNames(in: directory.path).contains("IDENTITY"))
    #expect(!fileNames(in: directory.path).contains { $0.hasSuffix(".tmp") })
    first.close()

    let again = try FileStorage(directory: directory.path, clusterID: "orders", nodeID: "n1")
    #expect(try again.readIdentity() == made)
    again.close()
    // A storage opened without naming the owner reads it too.
    let plain = try FileStorage(directory: directory.path)
    #expect(try plain.readIdentity() == made)
    plain.close()

    // Another directory, even for the same node, has another incarnation.
    let other = TemporaryDirectory()
    let second = try FileStorage(directory: other.path, clusterID: "orders", nodeID: "n1")
    #expect(try second.readIdentity()?.incarnation != made.incarnation)
  }

  @Test("a directory without an identity reads as nil; after close the storage refuses")
  func noIdentity() throws {
    let directory = TemporaryDirectory()
    let storage = try FileStorage(directory: directory.path)
    #expect(try storage.readIdentity() == nil)
    storage.close()
    #expect(throws: FileStorageError.closed) { try storage.readIdentity() }
  }

  @Test("opening a directory as another node or cluster fails, naming both and what to do")
  func mismatchRefused() throws {
    let directory = TemporaryDirectory()
    try FileStorage(directory: directory.path, clusterID: "orders", nodeID: "n1").close()
    for (cluster, node) in [("orders", "n2"), ("billing", "n1")] as [(String, NodeID)] {
      let expected = FileStorageError.identityMismatch(
        directory: directory.path, expected: .init(clusterID: cluster, nodeID: node),
        found: .init(clusterID: "orders", nodeID: "n1"))
      #expect(throws: expected) {
        try FileStorage(directory: directory.path, clusterID: cluster, nodeID: node)
      }
      let text = expected.description
      #expect(
        text.contains("node n1 of cluster \"orders\"")
          && text.contains("node \(node) of cluster \"\(cluster)\""))
      #expect(text.contains("its own data directory"))
    }
    // The refused open released the directory's lock, and the identity is unchanged.
    let again = try FileStorage(directory: directory.path, clusterID: "orders", nodeID: "n1")
    #expect(try again.readIdentity()?.nodeID == "n1")
  }

  @Test("a damaged or cut identity file is reported as corruption, never replaced")
  func damagedFileReported() throws {
    let directory = TemporaryDirectory()
    try FileStorage(directory: directory.path, clusterID: "orders", nodeID: "n1").close()
    let original = readFile(directory.file("IDENTITY"))
    var flipped = original
    flipped[8] ^= 0x01
    let damages: [[UInt8]] = [flipped, Array(original.dropLast(3)), [], Array("not an identity".utf8)]
    for damaged in damages {
      writeFile(directory.file("IDENTITY"), damaged)
      let error = try #require(
        throws: FileStorageError.self,
        "\(damaged.count) bytes"
      ) {
        try FileStorage(directory: directory.path, clusterID: "orders", nodeID: "n1")
      }
      guard case .corruption(let file, _, _) = error else {
        Issue.record("expected corruption, got \(error)")
        continue
      }
      #expect(file == "IDENTITY")
      #expect(readFile(directory.file("IDENTITY")) == damaged, "the damaged file was rewritten")
    }
    writeFile(directory.file("IDENTITY"), original)
    #expect(throws: Never.self) {
      try FileStorage(directory: directory.path, clusterID: "orders", nodeID: "n1").close()
    }
  }

  @Test("peer incarnations are stored durably, replaced whole, and a damaged file is reported")
  func peerIncarnations() throws {
    let directory = TemporaryDirectory()
    let storage = try FileStorage(directory: directory.path, clusterID: "orders", nodeID: "n1")
    #expect(try storage.peerIncarnations().isEmpty)
    try storage.recordPeerIncarnations(["n2": 7, "n3": UInt64.max])
    storage.close()
    let reopened = try FileStorage(directory: directory.path, clusterID: "orders", nodeID: "n1")
    #expect(try reopened.peerIncarnations() == ["n2": 7, "n3": UInt64.max])
    try reopened.recordPeerIncarnations(["n3": 9])
    #expect(try reopened.peerIncarnations() == ["n3": 9])

    var bytes = readFile(directory.file("PEERS"))
    bytes[bytes.count - 6] ^= 0x40
    writeFile(directory.file("PEERS"), bytes)
    #expect {
      try reopened.peerIncarnations()
    } throws: { error in
      guard case .corruption(let file, _, _) = error as? FileStorageError else { return false }
      return file == "PEERS"
    }
  }
}
