import Synchronization
import Testing
import WebRaftFileStorage
import WebRaftTesting

@Suite("Storage conformance")
struct ConformanceTests {
  @Test("InMemoryStorage conforms", arguments: RaftStorageConformance.Check.allCases)
  func inMemory(_ check: RaftStorageConformance.Check) async throws {
    let storages = Mutex<[String: InMemoryStorage]>([:])
    let suite = RaftStorageConformance(open: { location in
      storages.withLock { storages in
        if let storage = storages[location] { return storage }
        let storage = InMemoryStorage()
        storages[location] = storage
        return storage
      }
    })
    try await suite.run(check)
  }

  @Test(
    "FileStorage conforms",
    arguments: RaftStorageConformance.Check.allCases, [1 << 20, 700])
  func file(_ check: RaftStorageConformance.Check, segmentSize: Int) async throws {
    let root = TemporaryDirectory("webraft-conformance")
    let suite = RaftStorageConformance(
      open: { location in
        try FileStorage(
          directory: root.file(location),
          configuration: FileStorage.Configuration(segmentSize: segmentSize, syncPolicy: .none))
      },
      close: { storage in
        (storage as? FileStorage)?.close()
      })
    try await suite.run(check)
  }

  @Test("FileStorage conforms with fdatasync")
  func fileSynced() async throws {
    let root = TemporaryDirectory("webraft-conformance")
    let suite = RaftStorageConformance(
      open: { location in try FileStorage(directory: root.file(location)) },
      close: { storage in (storage as? FileStorage)?.close() })
    for check in RaftStorageConformance.Check.allCases where check != .longLog {
      try await suite.run(check)
    }
  }
}
