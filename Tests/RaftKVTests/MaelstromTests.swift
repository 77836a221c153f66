import Foundation
import Synchronization
import Testing
import WebRaft

@testable import RaftKV

@Suite("Maelstrom lin-kv protocol")
struct MaelstromTests {
  /// The replies seen so far, by `in_reply_to`.
  final class Replies: Sendable {
    let lines = Mutex<[String]>([])

    func body(replyingTo id: Int) -> [String: Any]? {
      for line in lines.withLock({ $0 }) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
          let body = object["body"] as? [String: Any], body["in_reply_to"] as? Int == id
        else { continue }
        return body
      }
      return nil
    }

    func wait(for id: Int, timeout: Duration = .seconds(10)) async throws -> [String: Any] {
      let deadline = ContinuousClock.now + timeout
      while ContinuousClock.now < deadline {
        if let body = body(replyingTo: id) { return body }
        try await Task.sleep(for: .milliseconds(10))
      }
      throw MaelstromTestFailure(message: "no reply to message \(id); saw \(lines.withLock { $0 })")
    }
  }

  struct MaelstromTestFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
  }

  private func request(_ id: Int, _ body: String, to node: String = "n1") -> String {
    "{\"src\":\"c1\",\"dest\":\"\(node)\",\"body\":{\"msg_id\":\(id),\(body)}}\n"
  }

  @Test("a single node answers init, write, read and cas through a pipe")
  func singleNodeThroughAPipe() async throws {
    var descriptors: [Int32] = [0, 0]
    #expect(pipe(&descriptors) == 0)
    let (readEnd, writeEnd) = (descriptors[0], descriptors[1])
    let replies = Replies()
    let node = MaelstromNode(
      output: { line in replies.lines.withLock { $0.append(line) } }, logger: testLogger("maelstrom"))
    let running = Task { try await node.run(lines: MaelstromNode.lines(fromFileDescriptor: readEnd)) }
    func send(_ text: String) {
      let bytes = Array(text.utf8)
      _ = bytes.withUnsafeBytes { write(writeEnd, $0.baseAddress, $0.count) }
    }

    send(request(1, "\"type\":\"init\",\"node_id\":\"n1\",\"node_ids\":[\"n1\"]"))
    #expect(try await replies.wait(for: 1)["type"] as? String == "init_ok")

    // Before the node has a leader requests may fail with 11 (temporarily unavailable); retry.
    var written: [String: Any] = [:]
    for attempt in 0..<50 {
      send(request(100 + attempt, "\"type\":\"write\",\"key\":1,\"value\":42"))
      written = try await replies.wait(for: 100 + attempt)
      if written["type"] as? String == "write_ok" { break }
      try await Task.sleep(for: .milliseconds(100))
    }
    #expect(written["type"] as? String == "write_ok")

    send(request(2, "\"type\":\"read\",\"key\":1"))
    let read = try await replies.wait(for: 2)
    #expect(read["type"] as? String == "read_ok")
    #expect(read["value"] as? Int == 42)

    send(request(3, "\"type\":\"read\",\"key\":2"))
    let missing = try await replies.wait(for: 3)
    #expect(missing["type"] as? String == "error")
    #expect(missing["code"] as? Int == 20)

    send(request(4, "\"type\":\"cas\",\"key\":1,\"from\":41,\"to\":43"))
    let refused = try await replies.wait(for: 4)
    #expect(refused["code"] as? Int == 22)

    send(request(5, "\"type\":\"cas\",\"key\":1,\"from\":42,\"to\":43"))
    #expect(try await replies.wait(for: 5)["type"] as? String == "cas_ok")

    send(request(6, "\"type\":\"cas\",\"key\":9,\"from\":1,\"to\":2"))
    #expect(try await replies.wait(for: 6)["code"] as? Int == 20)

    send(request(7, "\"type\":\"read\",\"key\":1"))
    #expect(try await replies.wait(for: 7)["value"] as? Int == 43)

    // Values of any JSON shape, compared by content.
    send(request(8, "\"type\":\"write\",\"key\":\"doc\",\"value\":{\"b\":[1,2],\"a\":null}"))
    #expect(try await replies.wait(for: 8)["type"] as? String == "write_ok")
    send(request(9, "\"type\":\"cas\",\"key\":\"doc\",\"from\":{\"a\":null,\"b\":[1,2]},\"to\":\"flat\""))
    #expect(try await replies.wait(for: 9)["type"] as? String == "cas_ok")

    // Unknown types and malformed requests.
    send(request(10, "\"type\":\"frobnicate\""))
    #expect(try await replies.wait(for: 10)["code"] as? Int == 10)
    send(request(11, "\"type\":\"write\",\"key\":1"))
    #expect(try await replies.wait(for: 11)["code"] as? Int == 12)
    send("this is not json\n")

    // Every reply names its sender and its receiver.
    for line in replies.lines.withLock({ $0 }) {
      let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      #expect(object["src"] as? String == "n1")
      #expect(object["dest"] as? String == "c1")
    }

    close(writeEnd)
    try await running.value
    close(readEnd)
  }

  @Test("the raftkv executable speaks lin-kv on its standard input and output")
  func executableThroughPipes() async throws {
    guard let binary = try? MultiProcessTests.raftkvBinary() else { return }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: binary)
    process.arguments = ["maelstrom", "--log-level", "error"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    defer { if process.isRunning { process.terminate() } }
    var lines = [
      request(1, "\"type\":\"init\",\"node_id\":\"n1\",\"node_ids\":[\"n1\"]")
    ]
    // Writes until the single node has elected itself (the first may find no leader yet).
    for attempt in 0..<10 {
      lines.append(request(10 + attempt, "\"type\":\"write\",\"key\":\"k\",\"value\":7"))
    }
    input.fileHandleForWriting.write(Data(lines[0].utf8))
    let replies = Replies()
    let outputLines = MaelstromNode.lines(fromFileDescriptor: output.fileHandleForReading.fileDescriptor)
    let reader = Task.detached {
      for await line in outputLines {
        replies.lines.withLock { $0.append(line) }
      }
    }
    #expect(try await replies.wait(for: 1)["type"] as? String == "init_ok")
    var written = false
    for attempt in 0..<10 where !written {
      input.fileHandleForWriting.write(Data(lines[1 + attempt].utf8))
      written = try await replies.wait(for: 10 + attempt)["type"] as? String == "write_ok"
      if !written { try await Task.sleep(for: .milliseconds(200)) }
    }
    #expect(written)
    input.fileHandleForWriting.write(
      Data(request(2, "\"type\":\"cas\",\"key\":\"k\",\"from\":7,\"to\":8").utf8))
    #expect(try await replies.wait(for: 2)["type"] as? String == "cas_ok")
    input.fileHandleForWriting.write(Data(request(3, "\"type\":\"read\",\"key\":\"k\"").utf8))
    #expect(try await replies.wait(for: 3)["value"] as? Int == 8)
    input.fileHandleForWriting.write(Data(request(4, "\"type\":\"read\",\"key\":\"nope\"").utf8))
    #expect(try await replies.wait(for: 4)["code"] as? Int == 20)
    // End of input ends the node.
    try input.fileHandleForWriting.close()
    let exited = try await eventually(timeout: .seconds(10)) { !process.isRunning }
    #expect(exited)
    #expect(process.terminationStatus == 0)
    reader.cancel()
  }

  @Test("three nodes run Raft over Maelstrom's network")
  func threeNodesOverTheirMessages() async throws {
    // Route each node's output: messages to nodes go to that node, replies to clients are kept.
    let ids = ["n1", "n2", "n3"]
    let replies = Replies()
    let routers = Mutex<[String: MaelstromNode]>([:])
    for id in ids {
      let node = MaelstromNode(
        output: { line in
          guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
            let destination = object["dest"] as? String
          else { return }
          if let target = routers.withLock({ $0[destination] }) {
            Task { await target.handle(line: line) }
          } else {
            replies.lines.withLock { $0.append(line) }
          }
        }, logger: testLogger("maelstrom"))
      routers.withLock { $0[id] = node }
    }
    let nodes = routers.withLock { $0 }
    for (offset, id) in ids.enumerated() {
      await nodes[id]!.handle(
        line: request(
          offset + 1, "\"type\":\"init\",\"node_id\":\"\(id)\",\"node_ids\":[\"n1\",\"n2\",\"n3\"]", to: id))
      #expect(try await replies.wait(for: offset + 1)["type"] as? String == "init_ok")
    }
    var written = false
    for attempt in 0..<50 where !written {
      await nodes["n2"]!.handle(
        line: request(100 + attempt, "\"type\":\"write\",\"key\":7,\"value\":1", to: "n2"))
      written = try await replies.wait(for: 100 + attempt)["type"] as? String == "write_ok"
      if !written { try await Task.sleep(for: .milliseconds(100)) }
    }
    #expect(written)
    await nodes["n3"]!.handle(line: request(200, "\"type\":\"cas\",\"key\":7,\"from\":1,\"to\":2", to: "n3"))
    #expect(try await replies.wait(for: 200)["type"] as? String == "cas_ok")
    await nodes["n1"]!.handle(line: request(201, "\"type\":\"read\",\"key\":7", to: "n1"))
    #expect(try await replies.wait(for: 201)["value"] as? Int == 2)
    for node in nodes.values { await node.stop() }
  }
}
