import HTTPTypes
import Hummingbird
import NIOCore
import Tracing
import WebRaft
import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A request the service refuses, with the status to answer.
struct KVRequestError: Error {
  var status: HTTPResponse.Status
  var message: String
  var retryAfter: Int?

  init(_ status: HTTPResponse.Status, _ message: String, retryAfter: Int? = nil) {
    self.status = status
    self.message = message
    self.retryAfter = retryAfter
  }
}

extension HTTPField.Name {
  static let retryAfter = HTTPField.Name("Retry-After")!
  static let clientID = HTTPField.Name("X-Client-ID")!
  static let requestSequence = HTTPField.Name("X-Request-Seq")!
  static let forwardedBy = HTTPField.Name("X-Raftkv-Forwarded-By")!
  static let allowOrigin = HTTPField.Name("Access-Control-Allow-Origin")!
}

/// The HTTP API of one node, on Hummingbird.
struct KVHTTPRoutes: Sendable {
  let service: KVService
  let metrics: KVHTTPMetrics
  let metricsText: (@Sendable () -> String)?

  /// The request context: the service reads bodies itself, with its own limits.
  typealias Context = BasicRequestContext

  /// Builds the router with every route of the API.
  func makeRouter() -> Router<Context> {
    let router = Router(context: Context.self)
    // With a tracer in force, a span per request, current while the request is handled: the
    // node's spans for its proposals and reads are its children. Without one, no middleware at all.
    if !(InstrumentationSystem.tracer is NoOpTracer) {
      router.middlewares.add(TracingMiddleware())
    }
    router.middlewares.add(JSONErrorMiddleware(service: service))
    router.put("/kv/**", use: timed("put", put))
    router.get("/kv/**", use: timed("get", get))
    router.delete("/kv/**", use: timed("delete", delete))
    router.post("/cas/**", use: timed("cas", compareAndSet))
    router.get("/status", use: timed("status", status))
    router.post("/members", use: timed("members", addMember))
    router.delete("/members/:id", use: timed("members", removeMember))
    router.post("/members/change", use: timed("members", changeMembers))
    router.post("/transfer-leadership", use: timed("transfer", transferLeadership))
    router.post("/snapshot", use: timed("snapshot", snapshot))
    router.get("/metrics", use: timed("metrics", metricsPage))
    router.get("/", use: timed("dashboard", dashboard))
    return router
  }

  // MARK: - Plumbing

  private func timed(
    _ route: String, _ handler: @escaping @Sendable (Request, Context) async throws -> Response
  ) -> @Sendable (Request, Context) async throws -> Response {
    let service = self.service
    let metrics = self.metrics
    return { request, context in
      let start = ContinuousClock.now
      let response: Response
      do {
        response = try await handler(request, context)
      } catch {
        response = Self.errorResponse(for: error, service: service)
      }
      metrics.record(route: route, status: response.status.code, duration: ContinuousClock.now - start)
      return response
    }
  }

  /// The JSON error answer for `error`.
  static func errorResponse(for error: any Error, service: KVService) -> Response {
    switch error {
    case let error as KVRequestError:
      return jsonError(error.status, error.message, service: service, retryAfter: error.retryAfter)
    case let error as RaftError:
      let (status, retryAfter) = httpStatus(for: error)
      return jsonError(status, error.description, service: service, retryAfter: retryAfter)
    case let error as NIOTooManyBytesError:
      return jsonError(.contentTooLarge, "the body is too large: \(error)", service: service)
    case let error as KVHTTPClientError:
      return jsonError(.badGateway, "forwarding to the leader failed: \(error)", service: service)
    case let error as any HTTPResponseError:
      return jsonError(error.status, "\(error)", service: service)
    default:
      return jsonError(.badRequest, "the request could not be read: \(error)", service: service)
    }
  }

  /// The status (and `Retry-After` seconds, if any) that answers a Raft error.
  static func httpStatus(for error: RaftError) -> (HTTPResponse.Status, Int?) {
    switch error {
    case .noLeader, .notLeader, .overloaded, .leadershipTransferInProgress, .proposalDropped,
      .cancelled, .shutdown:
      return (.serviceUnavailable, 1)
    case .proposalTimedOut, .proposalOutcomeUnknown, .cancelledOutcomeUnknown:
      return (.gatewayTimeout, nil)
    case .membershipChangeInProgress, .membershipChangeRejected, .leadershipTransferFailed:
      return (.conflict, nil)
    case .invalidConfiguration, .notApplied:
      return (.badRequest, nil)
    case .stateMachineFailed, .storageFailed, .malformedMessage, .snapshotsUnsupported:
      return (.internalServerError, nil)
    }
  }

  static func jsonError(
    _ status: HTTPResponse.Status, _ message: String, service: KVService, retryAfter: Int? = nil
  ) -> Response {
    let leader = service.watch.current.leader?.rawValue
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let body = (try? encoder.encode(KVErrorBody(error: message, leader: leader))) ?? Data()
    var headers: HTTPFields = [.contentType: "application/json"]
    if let retryAfter { headers[.retryAfter] = String(retryAfter) }
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
  }

  func json<Value: Encodable>(_ value: Value, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let body = try encoder.encode(value)
    return Response(
      status: status, headers: [.contentType: "application/json"],
      body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
  }

  /// The key in `path` after `prefix`, percent-decoded and checked against the limits.
  func key(in path: String, after prefix: String) throws -> String {
    guard path.hasPrefix(prefix) else { throw KVRequestError(.notFound, "no such route: \(path)") }
    let raw = path.dropFirst(prefix.count)
    guard let key = Self.percentDecode(raw) else {
      throw KVRequestError(.badRequest, "the key is not valid percent-encoded UTF-8")
    }
    if key.isEmpty { throw KVRequestError(.badRequest, "the key is empty") }
    let length = key.utf8.count
    if length > service.limits.maxKeyBytes {
      throw KVRequestError(
        .badRequest, "the key is \(length) bytes long; the limit is \(service.limits.maxKeyBytes)")
    }
    return key
  }

  /// Decodes `%XX` escapes; nil when an escape is malformed or the result is not UTF-8.
  static func percentDecode(_ text: Substring) -> String? {
    guard text.utf8.contains(UInt8(ascii: "%")) else { return String(text) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    func hexValue(_ byte: UInt8) -> UInt8? {
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
      default: return nil
      }
    }
    while let byte = iterator.next() {
      if byte == UInt8(ascii: "%") {
        guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue)
        else { return nil }
        bytes.append(high << 4 | low)
      } else {
        bytes.append(byte)
      }
    }
    return String(validating: bytes, as: UTF8.self)
  }

  /// The request's body, at most `limit` bytes (413 beyond).
  func body(of request: Request, limit: Int) async throws -> ByteBuffer {
    if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
      throw KVRequestError(.contentTooLarge, "the body is \(declared) bytes; the limit is \(limit)")
    }
    do {
      return try await request.body.collect(upTo: limit)
    } catch is NIOTooManyBytesError {
      throw KVRequestError(.contentTooLarge, "the body is over the limit of \(limit) bytes")
    } catch {
      throw KVRequestError(.badRequest, "the body could not be read: \(error)")
    }
  }

  /// The client identity and sequence number of a write: from `X-Client-ID` and
  /// `X-Request-Seq` when the client sent both, generated otherwise.
  func clientIdentity(of request: Request) throws -> (client: UInt64, sequence: UInt64) {
    guard let clientText = request.headers[.clientID], let sequenceText = request.headers[.requestSequence]
    else { return (service.generatedClientID(), 1) }
    guard let sequence = UInt64(sequenceText), sequence > 0 else {
      throw KVRequestError(.badRequest, "X-Request-Seq must be a positive integer, got \"\(sequenceText)\"")
    }
    if let client = UInt64(clientText), client != 0, client < (1 << 63) { return (client, sequence) }
    // Any other text: hashed (FNV-1a) into the client space below the generated identities.
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in clientText.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    return (max(1, hash & ~(1 << 63)), sequence)
  }

  // MARK: - Key-value routes

  @Sendable func put(_ request: Request, _ context: Context) async throws -> Response {
    let key = try key(in: request.uri.path, after: "/kv/")
    let (client, sequence) = try clientIdentity(of: request)
    let value = try await body(of: request, limit: service.limits.maxValueBytes)
    _ = try await service.write(
      .put(key: key, value: Data(value.readableBytesView)), clientID: client, sequence: sequence)
    return Response(status: .noContent)
  }

  @Sendable func get(_ request: Request, _ context: Context) async throws -> Response {
    let key = try key(in: request.uri.path, after: "/kv/")
    let consistency: KVService.ReadConsistency
    switch request.uri.queryParameters["consistency"].map(String.init) {
    case nil, "", "linearizable", "read-index": consistency = .linearizable
    case "lease": consistency = .lease
    case "stale": consistency = .stale
    case let other?:
      throw KVRequestError(
        .badRequest, "unknown consistency \"\(other)\"; use linearizable (default), lease or stale")
    }
    let found: Data?
    do {
      found = try await service.read(key, consistency: consistency)
    } catch RaftError.proposalTimedOut {
      // A read changes nothing: running out of time is plain unavailability.
      throw KVRequestError(
        .serviceUnavailable, "the leader did not confirm the read in time; retry", retryAfter: 1)
    }
    guard let value = found else { throw KVRequestError(.notFound, "key not found") }
    return Response(
      status: .ok, headers: [.contentType: "application/octet-stream"],
      body: ResponseBody(byteBuffer: ByteBuffer(bytes: value)))
  }

  @Sendable func delete(_ request: Request, _ context: Context) async throws -> Response {
    let key = try key(in: request.uri.path, after: "/kv/")
    let (client, sequence) = try clientIdentity(of: request)
    _ = try await service.write(.delete(key: key), clientID: client, sequence: sequence)
    return Response(status: .noContent)
  }

  private struct CASRequest: Decodable {
    var from: String
    var to: String
  }

  @Sendable func compareAndSet(_ request: Request, _ context: Context) async throws -> Response {
    let key = try key(in: request.uri.path, after: "/cas/")
    let (client, sequence) = try clientIdentity(of: request)
    let limits = service.limits
    let body = try await body(of: request, limit: 2 * limits.maxValueBytes + 4096)
    let decoded: CASRequest
    do {
      decoded = try JSONDecoder().decode(CASRequest.self, from: Data(body.readableBytesView))
    } catch {
      throw KVRequestError(.badRequest, "the body must be JSON {\"from\": \"old\", \"to\": \"new\"}")
    }
    if decoded.to.utf8.count > limits.maxValueBytes {
      throw KVRequestError(
        .contentTooLarge, "the new value is over the limit of \(limits.maxValueBytes) bytes")
    }
    let result = try await service.write(
      .compareAndSet(key: key, from: Data(decoded.from.utf8), to: Data(decoded.to.utf8)),
      clientID: client, sequence: sequence)
    switch result {
    case .swapped, .done:
      return Response(status: .ok)
    case .mismatch(let current):
      return Response(
        status: .preconditionFailed, headers: [.contentType: "application/octet-stream"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: current)))
    case .absent:
      throw KVRequestError(.notFound, "key not found")
    }
  }

  // MARK: - Cluster routes

  @Sendable func status(_ request: Request, _ context: Context) async throws -> Response {
    var response = try json(await service.status())
    response.headers[.allowOrigin] = "*"
    response.headers[.cacheControl] = "no-store"
    return response
  }

  /// Takes a snapshot of this node's state now and answers `{"index": N}`, the index it ends at.
  @Sendable func snapshot(_ request: Request, _ context: Context) async throws -> Response {
    let index = try await service.node.snapshot()
    return try json(["index": index])
  }

  private struct TransferRequest: Decodable {
    var to: String?
  }

  @Sendable func transferLeadership(_ request: Request, _ context: Context) async throws -> Response {
    let body = try await body(of: request, limit: 64 * 1024)
    var target: NodeID?
    if body.readableBytes > 0 {
      do {
        let decoded = try JSONDecoder().decode(TransferRequest.self, from: Data(body.readableBytesView))
        target = decoded.to.map { NodeID($0) }
      } catch {
        throw KVRequestError(.badRequest, "the body must be JSON {\"to\": \"n2\"} or empty")
      }
    }
    let node = service.node
    let status = await node.status
    if let target, !status.membership.voters.contains(target) {
      throw KVRequestError(.badRequest, "\(target) is not a voting member")
    }
    if let target, status.leader == target {
      return try json(["leader": target.rawValue])
    }
    if status.role == .leader {
      let leader = try await node.transferLeadership(to: target)
      return try json(["leader": leader.rawValue])
    }
    // Only the leader can hand over: ask it.
    return try await forwardToLeader(request, path: "/transfer-leadership", body: body, status: status)
  }

  /// Sends `request` (with `body`) to the leader's HTTP address and answers what it answers: for
  /// operations only the leader can carry out. A request that was already forwarded is not
  /// forwarded again.
  func forwardToLeader(
    _ request: Request, path: String, body: ByteBuffer, status: RaftStatus, timeout: Duration? = nil
  ) async throws -> Response {
    guard request.headers[.forwardedBy] == nil else {
      throw KVRequestError(.serviceUnavailable, "this node is not the leader", retryAfter: 1)
    }
    guard let leader = status.leader else {
      throw KVRequestError(.serviceUnavailable, "no leader is known right now", retryAfter: 1)
    }
    guard let address = status.membership.attributes[leader]?[MemberAddresses.httpKey],
      let endpoint = KVEndpoint(url: address)
    else {
      throw KVRequestError(
        .serviceUnavailable, "the leader \(leader) has no known HTTP address", retryAfter: 1)
    }
    let client = KVHTTPClient(endpoint: endpoint, timeout: timeout ?? service.requestTimeout)
    defer { Task { await client.close() } }
    let answer = try await client.request(
      .POST, path,
      headers: [("Content-Type", "application/json"), ("X-Raftkv-Forwarded-By", service.node.id.rawValue)],
      body: body)
    return Response(
      status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
      body: ResponseBody(byteBuffer: answer.body))
  }

  // MARK: - Pages

  @Sendable func metricsPage(_ request: Request, _ context: Context) async throws -> Response {
    guard let metricsText else {
      throw KVRequestError(.notFound, "no metrics backend is configured on this node")
    }
    return Response(
      status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
      body: ResponseBody(byteBuffer: ByteBuffer(string: metricsText())))
  }

  @Sendable func dashboard(_ request: Request, _ context: Context) async throws -> Response {
    Response(
      status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
      body: ResponseBody(byteBuffer: ByteBuffer(string: Dashboard.html)))
  }
}

/// Turns every error that escapes a route (unknown routes and methods, bad requests caught by
/// Hummingbird) into the service's JSON error answer.
struct JSONErrorMiddleware: RouterMiddleware {
  typealias Context = BasicRequestContext
  let service: KVService

  private static let knownPaths: [(prefix: String, exact: Bool, methods: String)] = [
    ("/kv/", false, "GET, PUT, DELETE"), ("/cas/", false, "POST"), ("/status", true, "GET"),
    ("/members", true, "POST"), ("/members/change", true, "POST"), ("/members/", false, "DELETE"),
    ("/transfer-leadership", true, "POST"),
    ("/metrics", true, "GET"), ("/", true, "GET"),
  ]

  func handle(
    _ request: Request, context: Context, next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    do {
      return try await next(request, context)
    } catch let error as any HTTPResponseError where error.status == .notFound {
      let path = request.uri.path
      for known in Self.knownPaths
      where known.exact
        ? path == known.prefix : (path.hasPrefix(known.prefix) && path.count > known.prefix.count)
      {
        var response = KVHTTPRoutes.jsonError(
          .methodNotAllowed, "\(request.method) is not allowed on \(path); use \(known.methods)",
          service: service)
        response.headers[HTTPField.Name("Allow")!] = known.methods
        return response
      }
      return KVHTTPRoutes.jsonError(.notFound, "no such route: \(request.method) \(path)", service: service)
    } catch {
      return KVHTTPRoutes.errorResponse(for: error, service: service)
    }
  }
}
