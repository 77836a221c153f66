import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A failed answer from a `raftkv` node.
public struct RaftKVError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The HTTP status.
  public var status: Int
  /// The node's explanation.
  public var message: String
  /// The leader the node knows, if any.
  public var leader: String?
  /// The `Retry-After` header, in seconds, when the node sent one.
  public var retryAfter: Int?

  /// Creates an error.
  public init(status: Int, message: String, leader: String?, retryAfter: Int? = nil) {
    self.status = status
    self.message = message
    self.leader = leader
    self.retryAfter = retryAfter
  }

  /// The status and the node's explanation.
  public var description: String {
    let leaderText = leader.map { " (leader: \($0))" } ?? ""
    return "HTTP \(status): \(message)\(leaderText)"
  }
}

/// The outcome of a compare-and-set.
public enum KVCASOutcome: Hashable, Sendable {
  /// The value was swapped.
  case swapped
  /// The current value differs; here it is.
  case mismatch(current: [UInt8])
  /// The key has no value.
  case absent
}

/// A typed client for the `raftkv` HTTP API of one node.
///
/// ```swift
/// let client = try RaftKVClient(url: "http://127.0.0.1:8001")
/// try await client.put("greeting", Array("hello".utf8))
/// let value = try await client.get("greeting")
/// ```
///
/// Writes carry this client's identity and a sequence number (`X-Client-ID`, `X-Request-Seq`),
/// so that ``put(_:_:sequence:)`` and the other writes can be retried with the same sequence
/// number after a timeout and still apply once. Requests go over one keep-alive connection, one
/// at a time, so the writes of one client reach the node in order; use one client per concurrent
/// writer.
public final class RaftKVClient: Sendable {
  /// The underlying connection.
  public let http: KVHTTPClient
  /// The client identity sent with writes.
  public let clientID: UInt64
  private let sequence = Mutex<UInt64>(0)

  /// Creates a client for the node at `url`.
  ///
  /// - Parameters:
  ///   - url: `http://host:port` or `host:port`.
  ///   - clientID: the identity sent with writes; random by default.
  ///   - timeout: how long one request may take.
  public init(url: String, clientID: UInt64? = nil, timeout: Duration = .seconds(10)) throws {
    self.http = try KVHTTPClient(url: url, timeout: timeout)
    self.clientID = clientID ?? UInt64.random(in: 1...UInt64.max)
  }

  /// The next sequence number for a write.
  public func nextSequence() -> UInt64 {
    sequence.withLock { value in
      value += 1
      return value
    }
  }

  /// The path of a key, percent-encoded.
  public static func path(forKey key: String) -> String {
    "/kv/" + percentEncode(key)
  }

  /// Percent-encodes everything but unreserved characters and `/`.
  public static func percentEncode(_ text: String) -> String {
    var result = ""
    result.reserveCapacity(text.utf8.count)
    let hex: [Character] = Array("0123456789ABCDEF")
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"),
        UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "/"):
        result.append(Character(UnicodeScalar(byte)))
      default:
        result.append("%")
        result.append(hex[Int(byte >> 4)])
        result.append(hex[Int(byte & 0xF)])
      }
    }
    return result
  }

  private func writeHeaders(_ sequence: UInt64?) -> [(String, String)] {
    [("X-Client-ID", String(clientID)), ("X-Request-Seq", String(sequence ?? nextSequence()))]
  }

  private func buffer(_ bytes: [UInt8]) -> ByteBuffer {
    ByteBuffer(bytes: bytes)
  }

  /// Throws the node's error for a response with an unexpected status.
  public static func error(from response: KVHTTPResponse) -> RaftKVError {
    let retryAfter = response.header("Retry-After").flatMap { Int($0) }
    if let decoded = try? JSONDecoder().decode(KVErrorBody.self, from: Data(response.bytes)) {
      return RaftKVError(
        status: response.status, message: decoded.error, leader: decoded.leader, retryAfter: retryAfter)
    }
    return RaftKVError(status: response.status, message: response.text, leader: nil, retryAfter: retryAfter)
  }

  /// Sets `key` to `value`; returns once it is committed.
  ///
  /// - Parameter sequence: the sequence number; pass the same one to retry a write.
  public func put(_ key: String, _ value: [UInt8], sequence: UInt64? = nil) async throws {
    let response = try await http.request(
      .PUT, Self.path(forKey: key), headers: writeHeaders(sequence), body: buffer(value))
    guard response.status == 204 || response.status == 200 else { throw Self.error(from: response) }
  }

  /// The value of `key`, or nil when absent.
  ///
  /// - Parameter consistency: `nil` (linearizable), `"lease"` or `"stale"`.
  public func get(_ key: String, consistency: String? = nil) async throws -> [UInt8]? {
    var path = Self.path(forKey: key)
    if let consistency { path += "?consistency=\(Self.percentEncode(consistency))" }
    let response = try await http.request(.GET, path)
    switch response.status {
    case 200: return response.bytes
    case 404: return nil
    default: throw Self.error(from: response)
    }
  }

  /// Removes `key` (also when absent); returns once it is committed.
  public func delete(_ key: String, sequence: UInt64? = nil) async throws {
    let response = try await http.request(
      .DELETE, Self.path(forKey: key), headers: writeHeaders(sequence))
    guard response.status == 204 || response.status == 200 else { throw Self.error(from: response) }
  }

  /// Sets `key` to `to` if its value is `from`.
  public func compareAndSet(
    _ key: String, from: String, to: String, sequence: UInt64? = nil
  ) async throws -> KVCASOutcome {
    let body = try JSONEncoder().encode(["from": from, "to": to])
    let response = try await http.request(
      .POST, "/cas/" + Self.percentEncode(key),
      headers: writeHeaders(sequence) + [("Content-Type", "application/json")],
      body: ByteBuffer(bytes: body))
    switch response.status {
    case 200: return .swapped
    case 412: return .mismatch(current: response.bytes)
    case 404: return .absent
    default: throw Self.error(from: response)
    }
  }

  /// The node's status.
  public func status() async throws -> KVStatusReport {
    let response = try await http.request(.GET, "/status")
    guard response.status == 200 else { throw Self.error(from: response) }
    return try JSONDecoder().decode(KVStatusReport.self, from: Data(response.bytes))
  }

  /// Adds a member (it joins as a learner and is promoted once caught up); returns once it votes.
  public func addMember(id: String, raft: String, http httpAddress: String?) async throws {
    var request = ["id": id, "raft": raft]
    if let httpAddress { request["http"] = httpAddress }
    let response = try await http.request(
      .POST, "/members", headers: [("Content-Type", "application/json")],
      body: ByteBuffer(bytes: try JSONEncoder().encode(request)))
    guard response.status == 200 else { throw Self.error(from: response) }
  }

  /// A member to add with ``changeMembers(add:remove:promote:demote:)``.
  public struct NewMember: Sendable, Hashable {
    /// Its id.
    public var id: String
    /// Its Raft address, `host:port`.
    public var raft: String
    /// Its HTTP address, `host:port`, when it serves one.
    public var http: String?

    /// Creates a member to add.
    public init(id: String, raft: String, http: String?) {
      self.id = id
      self.raft = raft
      self.http = http
    }
  }

  /// Adds, removes, promotes and demotes members in one change (through a joint configuration
  /// when more than one voter comes or goes); returns once the cluster has left the joint
  /// configuration. New members join as learners and catch up before they vote.
  public func changeMembers(
    add: [NewMember] = [], remove: [String] = [], promote: [String] = [], demote: [String] = []
  ) async throws {
    struct Body: Encodable {
      var add: [[String: String]]
      var remove: [String]
      var promote: [String]
      var demote: [String]
    }
    let added = add.map { member -> [String: String] in
      var entry = ["id": member.id, "raft": member.raft]
      entry["http"] = member.http
      return entry
    }
    let body = Body(add: added, remove: remove, promote: promote, demote: demote)
    let response = try await http.request(
      .POST, "/members/change", headers: [("Content-Type", "application/json")],
      body: ByteBuffer(bytes: try JSONEncoder().encode(body)))
    guard response.status == 200 else { throw Self.error(from: response) }
  }

  /// Removes a member; returns once the change is committed.
  public func removeMember(id: String) async throws {
    let response = try await http.request(.DELETE, "/members/" + Self.percentEncode(id))
    guard response.status == 200 else { throw Self.error(from: response) }
  }

  /// Hands leadership to `target` (or the most up-to-date voter) and returns the new leader.
  @discardableResult
  public func transferLeadership(to target: String?) async throws -> String {
    let body = try JSONEncoder().encode(target.map { ["to": $0] } ?? [:])
    let response = try await http.request(
      .POST, "/transfer-leadership", headers: [("Content-Type", "application/json")],
      body: ByteBuffer(bytes: body))
    guard response.status == 200 else { throw Self.error(from: response) }
    let decoded = try JSONDecoder().decode([String: String].self, from: Data(response.bytes))
    return decoded["leader"] ?? "?"
  }

  /// Asks the node for a snapshot of its state now; returns the index it ends at.
  @discardableResult
  public func snapshot() async throws -> UInt64 {
    let response = try await http.request(.POST, "/snapshot")
    guard response.status == 200 else { throw Self.error(from: response) }
    let decoded = try JSONDecoder().decode([String: UInt64].self, from: Data(response.bytes))
    return decoded["index"] ?? 0
  }

  /// Closes the connection.
  public func close() async {
    await http.close()
  }
}
