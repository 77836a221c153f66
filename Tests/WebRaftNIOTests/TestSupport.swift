import Logging
import NIOCore
import Synchronization
import Testing
import WebRaft
import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// MARK: - Logs

/// Log records kept in memory, so that tests can check what a transport logged (and nothing is
/// printed unless WEBRAFT_TEST_LOG is set).
final class LogStore: Sendable {
  struct Record: Sendable {
    var level: Logger.Level
    var message: String
    var metadata: Logger.Metadata
  }

  private let records = Mutex<[Record]>([])
  private let echo = ProcessInfo.processInfo.environment["WEBRAFT_TEST_LOG"] != nil

  func logger(_ label: String, level: Logger.Level = .debug) -> Logger {
    var logger = Logger(label: label) { _ in StoreHandler(store: self) }
    logger.logLevel = level
    return logger
  }

  func append(_ record: Record) {
    records.withLock { records in
      records.append(record)
      if records.count > 50_000 { records.removeFirst(25_000) }
    }
    if echo {
      print("[\(record.level)] \(record.message) \(record.metadata)")
    }
  }

  var all: [Record] { records.withLock { $0 } }

  /// Whether a record at `level` or above contains `text` (in its message or metadata).
  func contains(_ text: String, atLeast level: Logger.Level = .trace, node: String? = nil) -> Bool {
    records.withLock { records in
      records.contains { record in
        record.level >= level && (record.message.contains(text))
          && (node == nil || record.metadata["node"]?.description == node)
      }
    }
  }
}

struct StoreHandler: LogHandler {
  let store: LogStore
  var metadata: Logger.Metadata = [:]
  var logLevel: Logger.Level = .trace

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    var merged = metadata
    if let extra = event.metadata { merged.merge(extra) { _, new in new } }
    store.append(.init(level: event.level, message: "\(event.message)", metadata: merged))
  }
}

// MARK: - Waiting

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(
  timeout: Duration = .seconds(10), every interval: Duration = .milliseconds(10),
  _ condition: () async throws -> Bool
) async rethrows -> Bool {
  let clock = ContinuousClock()
  let deadline = clock.now + timeout
  while clock.now < deadline {
    if try await condition() { return true }
    try? await Task.sleep(for: interval)
  }
  return try await condition()
}

// MARK: - Inbound collection

/// Collects the messages a transport delivers.
final class Inbox: Sendable {
  private let messages = Mutex<[RaftMessage]>([])
  private let counts = Mutex<[NodeID: Int]>([:])

  var inbound: RaftInbound {
    RaftInbound { message in
      self.counts.withLock { $0[message.from, default: 0] += 1 }
      self.messages.withLock { messages in
        if messages.count < 10_000 { messages.append(message) }
      }
    }
  }

  var received: [RaftMessage] { messages.withLock { $0 } }

  func count(from node: NodeID) -> Int {
    counts.withLock { $0[node] ?? 0 }
  }
}

// MARK: - State machine

/// A state machine that records the commands it applies.
final class RecordingMachine: RaftStateMachine {
  private let applied = Mutex<[Data]>([])

  func apply(_ command: Data, index: UInt64, term: UInt64) async throws -> UInt64 {
    applied.withLock { $0.append(command) }
    return index
  }

  var commands: [Data] { applied.withLock { $0 } }
  var count: Int { applied.withLock { $0.count } }
}

/// The name of a message's kind, for checking that every kind is covered.
func kindName(_ body: RaftMessage.Body) -> String {
  switch body {
  case .voteRequest: return "voteRequest"
  case .voteResponse: return "voteResponse"
  case .appendEntries: return "appendEntries"
  case .appendEntriesResponse: return "appendEntriesResponse"
  case .heartbeat: return "heartbeat"
  case .heartbeatResponse: return "heartbeatResponse"
  case .installSnapshot: return "installSnapshot"
  case .installSnapshotResponse: return "installSnapshotResponse"
  case .timeoutNow: return "timeoutNow"
  case .readIndex: return "readIndex"
  case .readIndexResponse: return "readIndexResponse"
  case .proposal: return "proposal"
  case .proposalRejected: return "proposalRejected"
  }
}

// MARK: - Frames

/// A buffer holding one frame.
func frameBuffer(_ kind: RaftFrame.Kind, _ payload: [UInt8]) -> ByteBuffer {
  var buffer = ByteBuffer()
  RaftFrame.write(kind: kind, payload: payload, into: &buffer)
  return buffer
}

/// A buffer holding a message frame.
func messageFrame(_ message: RaftMessage) -> ByteBuffer {
  frameBuffer(.message, RaftBinaryCodec.encode(message))
}

/// The payload of a hello frame.
func helloPayload(cluster: String, from sender: NodeID, to receiver: NodeID) -> [UInt8] {
  var writer = BinaryWriter()
  writer.write(string: cluster)
  writer.write(string: sender.rawValue)
  writer.write(string: receiver.rawValue)
  return writer.bytes
}

/// A heartbeat from `from` to `to`.
func heartbeat(_ from: NodeID, _ to: NodeID, commit: UInt64 = 1) -> RaftMessage {
  RaftMessage(from: from, to: to, term: 1, body: .heartbeat(Heartbeat(commit: commit)))
}

/// A small, fast-to-retry transport configuration on 127.0.0.1 with an ephemeral port.
func localConfiguration(
  cluster: String = "test-cluster", peers: [NodeID: TCPTransport.PeerAddress] = [:]
) -> TCPTransport.Configuration {
  var configuration = TCPTransport.Configuration(
    clusterID: cluster, listenAddress: .init(host: "127.0.0.1", port: 0), peers: peers)
  configuration.backoff = .init(initial: .milliseconds(20), maximum: .milliseconds(200))
  configuration.handshakeTimeout = .seconds(2)
  configuration.connectTimeout = .seconds(1)
  return configuration
}
