import Logging
import Synchronization
import WebRaft

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

/// A JSON value of any shape, for Maelstrom's keys and values.
public indirect enum JSONValue: Codable, Hashable, Sendable {
  /// `null`.
  case null
  /// `true` or `false`.
  case bool(Bool)
  /// An integer.
  case integer(Int64)
  /// A number with a fraction or out of `Int64`'s range.
  case number(Double)
  /// A string.
  case string(String)
  /// An array.
  case array([JSONValue])
  /// An object.
  case object([String: JSONValue])

  /// Decodes any JSON value.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Int64.self) {
      self = .integer(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  /// Encodes the value as it was.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .null: try container.encodeNil()
    case .bool(let value): try container.encode(value)
    case .integer(let value): try container.encode(value)
    case .number(let value): try container.encode(value)
    case .string(let value): try container.encode(value)
    case .array(let value): try container.encode(value)
    case .object(let value): try container.encode(value)
    }
  }

  /// The value as canonical JSON text (sorted object keys), so that equal values compare equal.
  public var canonicalText: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(self) else { return "null" }
    return String(decoding: data, as: UTF8.self)
  }
}

/// The same key-value state machine as `raftkv serve`, speaking Jepsen Maelstrom's `lin-kv`
/// workload: JSON messages, one per line, on standard input and output.
///
/// Each Maelstrom node runs Raft with the others over Maelstrom's own network (messages of type
/// `raft` carry ``WebRaft/RaftMessage`` as JSON), keeps its log in memory, and answers the
/// workload's `read`, `write` and `cas` requests on any node (followers forward to the leader).
/// Errors use Maelstrom's codes: 20 key does not exist, 22 precondition failed, 11 temporarily
/// unavailable (definitely not applied), 0 timeout (maybe applied), 10 not supported, 12 malformed
/// request, 13 crash (maybe applied).
///
/// ```sh
/// maelstrom test -w lin-kv --bin .build/release/raftkv maelstrom --node-count 3 --time-limit 20
/// ```
public final class MaelstromNode: Sendable {
  private let output: @Sendable (String) -> Void
  private let logger: Logger
  private let raft: RaftConfiguration
  private let requestTimeout: Duration
  private let state = Mutex<Started?>(nil)

  private struct Started: Sendable {
    var id: String
    var node: RaftNode<KVStateMachine>
    var service: KVService
  }

  /// Creates a node that writes its messages with `output` (one JSON object per call, no newline).
  ///
  /// - Parameters:
  ///   - output: writes one line to Maelstrom; called from many tasks, so it must be thread-safe.
  ///   - raft: the Raft timeouts and limits.
  ///   - requestTimeout: how long a client request may take before it fails with code 0.
  ///   - logger: where the node logs (Maelstrom shows standard error as the node's log).
  public init(
    output: @escaping @Sendable (String) -> Void,
    raft: RaftConfiguration = RaftConfiguration(),
    requestTimeout: Duration = .seconds(2),
    logger: Logger
  ) {
    self.output = output
    self.raft = raft
    self.requestTimeout = requestTimeout
    self.logger = logger
  }

  /// Handles every line of `lines` until it ends, then stops the Raft node.
  public func run<Lines: AsyncSequence & Sendable>(lines: Lines) async throws where Lines.Element == String {
    try await withThrowingDiscardingTaskGroup { group in
      for try await line in lines {
        let trimmed = line.trimmingWhitespace
        if trimmed.isEmpty { continue }
        group.addTask { await self.handle(line: trimmed) }
      }
    }
    if let started = state.withLock({ $0 }) { await started.node.shutdown() }
  }

  /// Stops the Raft node, if ``run(lines:)`` has not already.
  public func stop() async {
    if let started = state.withLock({ $0 }) { await started.node.shutdown() }
  }

  // MARK: - Messages

  private struct Envelope: Decodable {
    var src: String
    var dest: String
    var body: Body
  }

  private struct Body: Decodable {
    var type: String
    var msgID: Int64?
    var key: JSONValue?
    var value: JSONValue?
    var from: JSONValue?
    var to: JSONValue?
    var nodeID: String?
    var nodeIDs: [String]?
    var msg: RaftMessage?

    enum CodingKeys: String, CodingKey {
      case type, key, value, from, to, msg
      case msgID = "msg_id"
      case nodeID = "node_id"
      case nodeIDs = "node_ids"
    }
  }

  private struct OutEnvelope: Encodable {
    var src: String
    var dest: String
    var body: [String: JSONValue]
  }

  func handle(line: String) async {
    let envelope: Envelope
    do {
      envelope = try JSONDecoder().decode(Envelope.self, from: Data(line.utf8))
    } catch {
      logger.warning("ignoring a line that is not a Maelstrom message", metadata: ["error": "\(error)"])
      return
    }
    let body = envelope.body
    if body.type == "raft" {
      guard let message = body.msg, let started = state.withLock({ $0 }) else { return }
      started.node.receive(message, from: NodeID(envelope.src))
      return
    }
    if body.type == "init" {
      await initialize(envelope)
      return
    }
    guard let started = state.withLock({ $0 }) else {
      reply(to: envelope, error: 11, "the node has not received init yet")
      return
    }
    let service = started.service
    do {
      switch body.type {
      case "read":
        guard let key = body.key else { throw MaelstromError(code: 12, "read needs a key") }
        guard let value = try await service.read(key.canonicalText, consistency: .linearizable) else {
          throw MaelstromError(code: 20, "key does not exist")
        }
        let decoded = (try? JSONDecoder().decode(JSONValue.self, from: value)) ?? .null
        reply(to: envelope, ["type": .string("read_ok"), "value": decoded])
      case "write":
        guard let key = body.key, let value = body.value else {
          throw MaelstromError(code: 12, "write needs a key and a value")
        }
        _ = try await service.write(
          .put(key: key.canonicalText, value: Data(value.canonicalText.utf8)),
          clientID: service.generatedClientID(), sequence: 1)
        reply(to: envelope, ["type": .string("write_ok")])
      case "cas":
        guard let key = body.key, let from = body.from, let to = body.to else {
          throw MaelstromError(code: 12, "cas needs a key, from and to")
        }
        let result = try await service.write(
          .compareAndSet(
            key: key.canonicalText, from: Data(from.canonicalText.utf8), to: Data(to.canonicalText.utf8)),
          clientID: service.generatedClientID(), sequence: 1)
        switch result {
        case .swapped, .done: reply(to: envelope, ["type": .string("cas_ok")])
        case .absent: throw MaelstromError(code: 20, "key does not exist")
        case .mismatch(let current):
          throw MaelstromError(
            code: 22, "expected \(from.canonicalText), found \(String(decoding: current, as: UTF8.self))")
        }
      default:
        throw MaelstromError(code: 10, "unsupported request type \(body.type)")
      }
    } catch let error as MaelstromError {
      reply(to: envelope, error: error.code, error.text)
    } catch let error as RaftError {
      let definite: Bool
      switch error {
      case .noLeader, .notLeader, .overloaded, .leadershipTransferInProgress, .proposalDropped, .cancelled:
        definite = true
      default: definite = body.type == "read"
      }
      if error == .proposalTimedOut {
        reply(to: envelope, error: 0, error.description)
      } else {
        reply(to: envelope, error: definite ? 11 : 13, error.description)
      }
    } catch {
      reply(to: envelope, error: body.type == "read" ? 11 : 13, "\(error)")
    }
  }

  private func initialize(_ envelope: Envelope) async {
    guard let id = envelope.body.nodeID, let ids = envelope.body.nodeIDs, ids.contains(id) else {
      reply(to: envelope, error: 12, "init needs node_id and node_ids that include it")
      return
    }
    if state.withLock({ $0 }) != nil {
      reply(to: envelope, ["type": .string("init_ok")])
      return
    }
    do {
      let output = self.output
      let store = KVStateMachine()
      let voters = Set(ids.map { NodeID($0) })
      let makePeer: @Sendable (NodeID, RaftInbound) -> any RaftPeer = { peer, _ in
        MaelstromPeer(id: peer, source: id, output: output)
      }
      let node = try await RaftNode<KVStateMachine>(
        id: NodeID(id), configuration: raft, bootstrap: Membership(voters: voters),
        storage: InMemoryStorage(), stateMachine: store, proposalTimeout: requestTimeout,
        logger: logger, makePeer: makePeer)
      let service = await KVService(
        node: node, store: store, limits: KVLimits(), requestTimeout: requestTimeout,
        leaderWait: requestTimeout)
      state.withLock { $0 = Started(id: id, node: node, service: service) }
      reply(to: envelope, ["type": .string("init_ok")])
    } catch {
      reply(to: envelope, error: 13, "cannot start the node: \(error)")
    }
  }

  private func reply(to envelope: Envelope, _ fields: [String: JSONValue]) {
    var body = fields
    if let msgID = envelope.body.msgID { body["in_reply_to"] = .integer(msgID) }
    send(OutEnvelope(src: envelope.dest, dest: envelope.src, body: body))
  }

  private func reply(to envelope: Envelope, error code: Int64, _ text: String) {
    reply(to: envelope, ["type": .string("error"), "code": .integer(code), "text": .string(text)])
  }

  private func send<Message: Encodable>(_ message: Message) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(message) else { return }
    output(String(decoding: data, as: UTF8.self))
  }

  /// Reads lines from a file descriptor (standard input, a pipe) on a thread of its own, until
  /// end of file.
  public static func lines(fromFileDescriptor descriptor: Int32) -> AsyncStream<String> {
    let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .unbounded)
    startThread {
      var pending: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 64 * 1024)
      while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        pending.append(contentsOf: buffer[0..<count])
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
          continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
          pending.removeSubrange(...newline)
        }
      }
      if !pending.isEmpty { continuation.yield(String(decoding: pending, as: UTF8.self)) }
      continuation.finish()
    }
    return stream
  }

  /// A thread-safe writer of lines to a file descriptor (standard output).
  public static func lineWriter(fileDescriptor descriptor: Int32) -> @Sendable (String) -> Void {
    let lock = Mutex(())
    return { line in
      var bytes = Array(line.utf8)
      bytes.append(UInt8(ascii: "\n"))
      lock.withLock { _ in
        var offset = 0
        while offset < bytes.count {
          let written = bytes.withUnsafeBytes {
            write(descriptor, $0.baseAddress! + offset, $0.count - offset)
          }
          if written < 0 && errno == EINTR { continue }
          if written <= 0 { return }
          offset += written
        }
      }
    }
  }
}

/// Runs `body` on a new detached thread (blocking reads must not hold a concurrency thread).
func startThread(_ body: @escaping @Sendable () -> Void) {
  final class Box: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
  }
  let box = Unmanaged.passRetained(Box(body)).toOpaque()
  #if os(Linux)
    var thread = pthread_t()
  #else
    var thread: pthread_t?
  #endif
  let result = pthread_create(
    &thread, nil,
    { raw in
      let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
      box.body()
      return nil
    }, box)
  if result == 0 {
    #if os(Linux)
      pthread_detach(thread)
    #else
      if let thread { pthread_detach(thread) }
    #endif
  } else {
    Unmanaged<Box>.fromOpaque(box).takeRetainedValue().body()
  }
}

/// A Maelstrom error reply.
private struct MaelstromError: Error {
  var code: Int64
  var text: String

  init(code: Int64, _ text: String) {
    self.code = code
    self.text = text
  }
}

/// Sends Raft messages to another Maelstrom node through Maelstrom's network.
private struct MaelstromPeer: RaftPeer {
  let id: NodeID
  let source: String
  let output: @Sendable (String) -> Void

  func write(_ message: RaftMessage) {
    struct Body: Encodable {
      var type = "raft"
      var msg: RaftMessage
    }
    struct Envelope: Encodable {
      var src: String
      var dest: String
      var body: Body
    }
    guard
      let data = try? JSONEncoder().encode(Envelope(src: source, dest: id.rawValue, body: Body(msg: message)))
    else { return }
    output(String(decoding: data, as: UTF8.self))
  }
}

extension String {
  var trimmingWhitespace: String {
    var slice = Substring(self)
    while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
    while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
    return String(slice)
  }
}
