import Testing
import Tracing
import WebRaft
import WebRaftTesting

@testable import RaftKV

@Suite("HTTP requests carry the trace into the node", .serialized)
struct TracingHTTPTests {
  @Test("a PUT's server span is the parent of the node's propose span; a GET's of its read span")
  func putSpanIsTheParentOfThePropose() async throws {
    let tracer = RecordingTracer()
    try await withTracer(tracer) {
      let node = try await startNode()
      do {
        #expect(try await waitForLeader(node.url) == "n1")
        let client = try node.client()
        try await client.put("traced", Array("value".utf8))
        #expect(try await client.get("traced") == Array("value".utf8))
        await client.close()
      } catch {
        await node.stop()
        throw error
      }
      await node.stop()
    }
    let spans = tracer.spans
    let propose = try #require(spans.first { $0.operationName == "raft.propose" })
    let put = try #require(spans.first { $0.spanID == propose.parentID })
    #expect(put.kind == .server)
    #expect(put.attributes["http.request.method"]?.toSpanAttribute() == .string("PUT"))
    #expect(propose.ended && propose.errors.isEmpty)
    let read = try #require(spans.first { $0.operationName == "raft.linearizableRead" })
    let get = try #require(spans.first { $0.spanID == read.parentID })
    #expect(get.attributes["http.request.method"]?.toSpanAttribute() == .string("GET"))
  }
}
