import Foundation
import NIOCore
import NIOHTTP1
import Testing
import WebRaft

@testable import RaftKV

@Suite("HTTP API of one node", .serialized)
struct HTTPTests {
  static let limits = KVLimits(maxKeyBytes: 64, maxValueBytes: 4096)

  private func withNode(_ body: (RunningNode) async throws -> Void) async throws {
    let node = try await startNode(limits: Self.limits, metricsText: { "raftkv_test_metric 1\n" })
    do {
      let leader = try await waitForLeader(node.url)
      #expect(leader == "n1")
      try await body(node)
    } catch {
      await node.stop()
      throw error
    }
    await node.stop()
  }

  @Test("put, get, delete, compare-and-set, status, dashboard and metrics")
  func happyPath() async throws {
    try await withNode { node in
      let client = try node.client()
      defer { Task { await client.close() } }
      try await client.put("greeting", Array("hello".utf8))
      #expect(try await client.get("greeting") == Array("hello".utf8))
      #expect(try await client.get("greeting", consistency: "lease") == Array("hello".utf8))
      #expect(try await client.get("greeting", consistency: "stale") == Array("hello".utf8))
      #expect(try await client.get("absent") == nil)

      // Keys may hold slashes and any UTF-8, percent-encoded on the way.
      try await client.put("a/b c/ключ", [0, 1, 2, 255])
      #expect(try await client.get("a/b c/ключ") == [0, 1, 2, 255])

      #expect(
        try await client.compareAndSet("greeting", from: "nope", to: "x")
          == .mismatch(current: Array("hello".utf8)))
      #expect(try await client.compareAndSet("greeting", from: "hello", to: "bye") == .swapped)
      #expect(try await client.get("greeting") == Array("bye".utf8))
      #expect(try await client.compareAndSet("nothing", from: "a", to: "b") == .absent)

      try await client.delete("greeting")
      try await client.delete("greeting")
      #expect(try await client.get("greeting") == nil)

      try await client.put("empty", [])
      #expect(try await client.get("empty") == [])

      let status = try await client.status()
      #expect(status.id == "n1")
      #expect(status.role == "leader")
      #expect(status.leader == "n1")
      #expect(status.term >= 1)
      #expect(status.commitIndex >= 6)
      #expect(status.appliedIndex == status.commitIndex)
      #expect(status.keys == 2)
      #expect(status.members.map(\.id) == ["n1"])
      #expect(status.members.first?.voter == true)
      #expect(status.members.first?.raft == node.addresses.raft.description)
      #expect(status.followers == [:])

      let raw = try await client.http.request(.GET, "/status")
      #expect(raw.header("Access-Control-Allow-Origin") == "*")
      let object = try JSONSerialization.jsonObject(with: Data(raw.bytes)) as? [String: Any]
      for field in [
        "id", "role", "term", "leader", "commitIndex", "appliedIndex", "snapshotIndex", "members",
      ] {
        #expect(object?[field] != nil, "status lacks \(field)")
      }

      let dashboard = try await client.http.request(.GET, "/")
      #expect(dashboard.status == 200)
      #expect(dashboard.header("Content-Type")?.hasPrefix("text/html") == true)
      #expect(dashboard.text.contains("/transfer-leadership"))

      let metrics = try await client.http.request(.GET, "/metrics")
      #expect(metrics.status == 200)
      #expect(metrics.text.contains("raftkv_test_metric"))

      // A transfer to the node that already leads succeeds at once.
      #expect(try await client.transferLeadership(to: "n1") == "n1")

      // A snapshot on demand covers everything applied, and the status shows it.
      let applied = try await client.status().appliedIndex
      let snapshotIndex = try await client.snapshot()
      #expect(snapshotIndex >= applied)
      #expect(try await client.status().snapshotIndex == snapshotIndex)
    }
  }

  @Test("a write retried with the same client and sequence number applies once")
  func retriedWriteAppliesOnce() async throws {
    try await withNode { node in
      let first = try RaftKVClient(url: node.url, clientID: 41)
      let second = try RaftKVClient(url: node.url, clientID: 42)
      defer {
        Task {
          await first.close()
          await second.close()
        }
      }
      try await first.put("k", Array("a".utf8), sequence: 1)
      try await second.put("k", Array("b".utf8), sequence: 1)
      try await first.put("k", Array("a".utf8), sequence: 1)
      #expect(try await first.get("k") == Array("b".utf8))
      #expect(try await first.compareAndSet("k", from: "b", to: "c", sequence: 2) == .swapped)
      try await second.put("k", Array("b".utf8), sequence: 2)
      #expect(try await first.compareAndSet("k", from: "b", to: "c", sequence: 2) == .swapped)
      #expect(try await first.get("k") == Array("b".utf8))
    }
  }

  @Test("bad requests of every kind get 4xx answers and the node keeps serving")
  func badRequests() async throws {
    try await withNode { node in
      let http = try node.client().http
      defer { Task { await http.close() } }
      func expectError(
        _ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
        status expected: Int, sourceLocation: SourceLocation = #_sourceLocation
      ) async throws {
        let response = try await http.request(
          method, path, headers: headers, body: body.map { ByteBuffer(bytes: $0) })
        #expect(
          response.status == expected, "\(method) \(path): \(response.text)", sourceLocation: sourceLocation)
        #expect(response.header("Content-Type") == "application/json", sourceLocation: sourceLocation)
        let decoded = try? JSONDecoder().decode(KVErrorBody.self, from: Data(response.bytes))
        #expect(decoded != nil, "not a JSON error: \(response.text)", sourceLocation: sourceLocation)
        #expect(response.text.contains("\"leader\""), sourceLocation: sourceLocation)
      }
      let json = [("Content-Type", "application/json")]
      // Bad JSON, wrong shapes, empty bodies.
      try await expectError(.POST, "/cas/k", headers: json, body: Array("{not json".utf8), status: 400)
      try await expectError(.POST, "/cas/k", headers: json, body: Array("{\"from\": 1}".utf8), status: 400)
      try await expectError(.POST, "/cas/k", headers: json, body: Array("[]".utf8), status: 400)
      try await expectError(.POST, "/cas/k", body: [], status: 400)
      try await expectError(.POST, "/members", headers: json, body: Array("{\"id\": 5}".utf8), status: 400)
      try await expectError(
        .POST, "/members", headers: json, body: Array("{\"id\": \"n9\", \"raft\": \"nowhere\"}".utf8),
        status: 400)
      try await expectError(
        .POST, "/transfer-leadership", headers: json, body: Array("{\"to\":".utf8), status: 400)
      try await expectError(
        .POST, "/transfer-leadership", headers: json, body: Array("{\"to\": \"nobody\"}".utf8), status: 400)
      try await expectError(.DELETE, "/members/nobody", status: 404)
      // Keys: too long, empty, badly encoded.
      try await expectError(.PUT, "/kv/" + String(repeating: "k", count: 65), body: [1], status: 400)
      try await expectError(.GET, "/kv/" + String(repeating: "k", count: 5000), status: 400)
      try await expectError(.PUT, "/kv/%ZZ", body: [1], status: 400)
      try await expectError(.PUT, "/kv/%C3%28", body: [1], status: 400)
      try await expectError(.GET, "/kv/", status: 404)
      // Values over the limit: announced, and sent chunked without a length.
      try await expectError(.PUT, "/kv/big", body: [UInt8](repeating: 7, count: 4097), status: 413)
      try await expectError(
        .POST, "/cas/big", headers: json,
        body: Array("{\"from\": \"a\", \"to\": \"\(String(repeating: "x", count: 4097))\"}".utf8), status: 413
      )
      // Bad headers and parameters.
      try await expectError(
        .PUT, "/kv/k", headers: [("X-Client-ID", "1"), ("X-Request-Seq", "minus one")], body: [1], status: 400
      )
      try await expectError(.GET, "/kv/k?consistency=eventual", status: 400)
      // Unknown routes and methods.
      try await expectError(.GET, "/nope", status: 404)
      try await expectError(.GET, "/kv", status: 404)
      try await expectError(.POST, "/kv/k", body: [1], status: 405)
      try await expectError(.PATCH, "/kv/k", body: [1], status: 405)
      try await expectError(.GET, "/cas/k", status: 405)
      try await expectError(.PUT, "/status", body: [], status: 405)
      try await expectError(.DELETE, "/", status: 405)

      let port = node.addresses.http.port
      // A body longer than the limit with a chunked encoding.
      let chunk = String(repeating: "y", count: 3000)
      let chunked =
        "PUT /kv/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "bb8\r\n\(chunk)\r\nbb8\r\n\(chunk)\r\n0\r\n\r\n"
      #expect(statusCode(of: try await rawExchange(port: port, Array(chunked.utf8))) == 413)
      // A truncated body: the client announces 100 bytes, sends 3 and hangs up.
      _ = try await rawExchange(
        port: port, Array("PUT /kv/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc".utf8),
        closeAfterWrite: true)
      // A truncated body: the client announces 100 bytes, sends 3 and waits.
      _ = try await rawExchange(
        port: port, Array("PUT /kv/cut HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc".utf8),
        timeout: .milliseconds(300))
      // Not HTTP at all.
      let garbage = try await rawExchange(port: port, Array("\u{1}\u{2}GARBAGE\r\n\r\n".utf8))
      #expect(garbage.isEmpty || (statusCode(of: garbage).map { (400..<500).contains($0) } ?? false))
      // An enormous header.
      let hugeHeader =
        "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "h", count: 200_000))\r\n\r\n"
      let huge = try await rawExchange(port: port, Array(hugeHeader.utf8))
      #expect(huge.isEmpty || (statusCode(of: huge).map { (400..<500).contains($0) } ?? false))
      // A request line without a version.
      let old = try await rawExchange(port: port, Array("GET /status\r\n\r\n".utf8))
      #expect(old.isEmpty || (statusCode(of: old).map { (400..<500).contains($0) } ?? false))

      // Still serving, and nothing half-written was stored.
      let client = try node.client()
      defer { Task { await client.close() } }
      try await client.put("after", Array("fine".utf8))
      #expect(try await client.get("after") == Array("fine".utf8))
      #expect(try await client.get("cut") == nil)
      #expect(try await client.get("chunked") == nil)
      #expect(try await client.get("big") == nil)
    }
  }

  @Test("a node that never sees a leader answers 503 with Retry-After")
  func noLeader() async throws {
    // A member of a two-node cluster whose other member never starts: no quorum, no leader.
    let raftPort = try freePort()
    let node = try await startNode(
      raftPort: raftPort,
      peers: [
        "n1": MemberAddresses(raft: "127.0.0.1:\(raftPort)", http: nil),
        "n2": MemberAddresses(raft: "127.0.0.1:\(try freePort())", http: nil),
      ])
    do {
      let client = try node.client()
      defer { Task { await client.close() } }
      let start = ContinuousClock.now
      let response = try await client.http.request(.PUT, "/kv/k", body: ByteBuffer(bytes: [1]))
      #expect(response.status == 503)
      #expect(response.header("Retry-After") == "1")
      #expect(ContinuousClock.now - start < .seconds(5))
      let error = RaftKVClient.error(from: response)
      #expect(error.leader == nil)
      let read = try await client.http.request(.GET, "/kv/k")
      #expect(read.status == 503)
      // Stale reads need no leader.
      let stale = try await client.http.request(.GET, "/kv/k?consistency=stale")
      #expect(stale.status == 404)
      let status = try await client.status()
      #expect(status.leader == nil)
      #expect(status.role == "follower" || status.role == "candidate")
    } catch {
      await node.stop()
      throw error
    }
    await node.stop()
  }

  @Test("data survives a restart")
  func restart() async throws {
    let directory = temporaryDirectory()
    let first = try await startNode(directory: directory)
    do {
      _ = try await waitForLeader(first.url)
      let client = try first.client()
      for index in 0..<50 { try await client.put("key\(index)", Array("value\(index)".utf8)) }
      await client.close()
    } catch {
      await first.stop()
      throw error
    }
    await first.stop(removeData: false)
    let second = try await startNode(directory: directory)
    do {
      _ = try await waitForLeader(second.url)
      let client = try second.client()
      defer { Task { await client.close() } }
      for index in 0..<50 { #expect(try await client.get("key\(index)") == Array("value\(index)".utf8)) }
    } catch {
      await second.stop()
      throw error
    }
    await second.stop()
  }
}
