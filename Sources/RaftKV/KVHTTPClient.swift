import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// An HTTP response as ``KVHTTPConnection`` receives it.
public struct KVHTTPResponse: Sendable {
  /// The status code.
  public var status: Int
  /// The response headers.
  public var headers: HTTPHeaders
  /// The response body.
  public var body: ByteBuffer

  /// Creates a response.
  public init(status: Int, headers: HTTPHeaders, body: ByteBuffer) {
    self.status = status
    self.headers = headers
    self.body = body
  }

  /// The first value of the header `name`, if present.
  public func header(_ name: String) -> String? {
    headers.first(name: name)
  }

  /// The body as UTF-8 text.
  public var text: String {
    String(buffer: body)
  }

  /// The body's bytes.
  public var bytes: [UInt8] {
    Array(body.readableBytesView)
  }
}

/// Why an HTTP request made with ``KVHTTPConnection`` failed before a response arrived.
public enum KVHTTPClientError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The text is not an `http://host:port` URL.
  case invalidURL(String)
  /// No answer came within the timeout; the connection was closed. The request may have been
  /// carried out.
  case timedOut
  /// The connection closed before the response was complete. The request may have been
  /// carried out.
  case connectionClosed

  /// A sentence saying what went wrong.
  public var description: String {
    switch self {
    case .invalidURL(let text): return "not an http://host:port URL: \(text)"
    case .timedOut: return "no answer in time (the request may still have been carried out)"
    case .connectionClosed:
      return "the connection closed before the answer arrived (the request may have been carried out)"
    }
  }
}

/// Where an HTTP server listens, parsed from `http://host:port[/prefix]` or `host:port`.
public struct KVEndpoint: Hashable, Sendable, CustomStringConvertible {
  /// The host name or IP address.
  public var host: String
  /// The TCP port.
  public var port: Int

  /// Creates an endpoint.
  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `http://host:port`, `http://host:port/`, or `host:port`; nil when it is neither.
  public init?(url: String) {
    var text = Substring(url.trimmingCharacters(in: " \t\n"))
    if text.hasPrefix("http://") { text = text.dropFirst("http://".count) }
    if text.hasPrefix("https://") { return nil }
    if let slash = text.firstIndex(of: "/") { text = text[..<slash] }
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (1...65_535).contains(port)
    else { return nil }
    var host = text[..<colon]
    if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
    guard !host.isEmpty else { return nil }
    self.init(host: String(host), port: port)
  }

  /// The endpoint as `http://host:port`.
  public var url: String {
    host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)"
  }

  /// The endpoint as `host:port`.
  public var description: String {
    host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
  }
}

extension String {
  fileprivate func trimmingCharacters(in set: String) -> String {
    let characters = Set(set)
    var slice = Substring(self)
    while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
    while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
    return String(slice)
  }
}

/// One keep-alive HTTP/1.1 connection on SwiftNIO: requests are written in order (pipelined when
/// made concurrently) and answered in order.
///
/// It is small on purpose: enough for the `raftkv` client commands, the benchmark and the tests,
/// without a full HTTP client's cost. A request that times out closes the connection; make a new
/// one afterwards (``KVHTTPClient`` does that for you).
public final class KVHTTPConnection: Sendable {
  /// The server at the other end.
  public let endpoint: KVEndpoint
  let channel: any Channel
  private let timedOutFlag = Atomic<Bool>(false)

  private init(endpoint: KVEndpoint, channel: any Channel) {
    self.endpoint = endpoint
    self.channel = channel
  }

  /// Opens a connection to `endpoint`.
  ///
  /// - Parameters:
  ///   - endpoint: the server.
  ///   - connectTimeout: how long connecting may take.
  ///   - group: the event loops; NIO's shared group by default.
  public static func connect(
    to endpoint: KVEndpoint,
    connectTimeout: Duration = .seconds(2),
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) async throws -> KVHTTPConnection {
    let bootstrap = ClientBootstrap(group: group)
      .connectTimeout(.nanoseconds(Int64(connectTimeout.nanosecondsClamped)))
      .channelOption(.tcpOption(.tcp_nodelay), value: 1)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.addHTTPClientHandlers()
          try channel.pipeline.syncOperations.addHandler(ResponseCollector())
        }
      }
    let channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
    return KVHTTPConnection(endpoint: endpoint, channel: channel)
  }

  /// Whether the connection is still open.
  public var isActive: Bool { channel.isActive && !timedOutFlag.load(ordering: .relaxed) }

  /// Sends a request and waits for its response.
  ///
  /// - Parameters:
  ///   - method: the HTTP method.
  ///   - path: the path and query, starting with `/`.
  ///   - headers: extra headers (`Host` and `Content-Length` are added).
  ///   - body: the body, if any.
  ///   - timeout: how long to wait for the whole response; the connection is closed after it.
  /// - Throws: ``KVHTTPClientError/timedOut``, ``KVHTTPClientError/connectionClosed`` or a NIO
  ///   error.
  public func request(
    _ method: HTTPMethod,
    _ path: String,
    headers: [(String, String)] = [],
    body: ByteBuffer? = nil,
    timeout: Duration = .seconds(10)
  ) async throws -> KVHTTPResponse {
    var head = HTTPRequestHead(version: .http1_1, method: method, uri: path)
    head.headers.reserveCapacity(headers.count + 2)
    head.headers.add(name: "Host", value: endpoint.description)
    for (name, value) in headers { head.headers.add(name: name, value: value) }
    if let body {
      head.headers.add(name: "Content-Length", value: String(body.readableBytes))
    } else if method == .PUT || method == .POST {
      head.headers.add(name: "Content-Length", value: "0")
    }
    let promise = channel.eventLoop.makePromise(of: KVHTTPResponse.self)
    let channel = self.channel
    let timer = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.nanosecondsClamped))) {
      [self] in
      self.timedOutFlag.store(true, ordering: .relaxed)
      channel.close(promise: nil)
    }
    channel.writeAndFlush(PendingRequest(head: head, body: body, promise: promise), promise: nil)
    do {
      let response = try await promise.futureResult.get()
      timer.cancel()
      return response
    } catch {
      timer.cancel()
      if timedOutFlag.load(ordering: .relaxed) { throw KVHTTPClientError.timedOut }
      throw error
    }
  }

  /// Closes the connection.
  public func close() async {
    try? await channel.close()
  }
}

extension Duration {
  /// The duration in nanoseconds, clamped to `Int64`'s range and to at least 0.
  var nanosecondsClamped: Int64 {
    let (seconds, attoseconds) = components
    if seconds >= Int64.max / 1_000_000_000 { return Int64.max }
    if seconds < 0 { return 0 }
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
  }
}

/// A request on its way to the connection's handler, with the promise for its response.
private struct PendingRequest: Sendable {
  var head: HTTPRequestHead
  var body: ByteBuffer?
  var promise: EventLoopPromise<KVHTTPResponse>
}

/// Writes requests and matches responses to them in order.
private final class ResponseCollector: ChannelDuplexHandler {
  typealias InboundIn = HTTPClientResponsePart
  typealias OutboundIn = PendingRequest
  typealias OutboundOut = HTTPClientRequestPart

  private var waiting = CircularBuffer<EventLoopPromise<KVHTTPResponse>>()
  private var head: HTTPResponseHead?
  private var body: ByteBuffer?

  func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
    let request = unwrapOutboundIn(data)
    guard context.channel.isActive else {
      request.promise.fail(KVHTTPClientError.connectionClosed)
      promise?.fail(KVHTTPClientError.connectionClosed)
      return
    }
    waiting.append(request.promise)
    context.write(wrapOutboundOut(.head(request.head)), promise: nil)
    if let body = request.body, body.readableBytes > 0 {
      context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
    }
    context.write(wrapOutboundOut(.end(nil)), promise: promise)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch unwrapInboundIn(data) {
    case .head(let responseHead):
      head = responseHead
      body = nil
    case .body(var chunk):
      if body == nil {
        body = chunk
      } else {
        body!.writeBuffer(&chunk)
      }
    case .end:
      guard let responseHead = head, let promise = waiting.popFirst() else { return }
      head = nil
      let responseBody = body ?? context.channel.allocator.buffer(capacity: 0)
      body = nil
      promise.succeed(
        KVHTTPResponse(
          status: Int(responseHead.status.code), headers: responseHead.headers, body: responseBody))
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    failAll(KVHTTPClientError.connectionClosed)
    context.fireChannelInactive()
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    failAll(error)
    context.close(promise: nil)
  }

  private func failAll(_ error: any Error) {
    while let promise = waiting.popFirst() { promise.fail(error) }
  }
}

/// A reconnecting HTTP client for one server: it keeps one connection open and opens a new one
/// when the previous one closed or timed out.
public final class KVHTTPClient: Sendable {
  /// The server.
  public let endpoint: KVEndpoint
  /// How long a request may take before it fails with ``KVHTTPClientError/timedOut``.
  public let timeout: Duration
  private let connection = Mutex<KVHTTPConnection?>(nil)

  /// Creates a client for `endpoint`; it connects on the first request.
  public init(endpoint: KVEndpoint, timeout: Duration = .seconds(10)) {
    self.endpoint = endpoint
    self.timeout = timeout
  }

  /// Creates a client for the server at `url` (`http://host:port` or `host:port`).
  ///
  /// - Throws: ``KVHTTPClientError/invalidURL(_:)``.
  public convenience init(url: String, timeout: Duration = .seconds(10)) throws {
    guard let endpoint = KVEndpoint(url: url) else { throw KVHTTPClientError.invalidURL(url) }
    self.init(endpoint: endpoint, timeout: timeout)
  }

  /// Sends a request, connecting first if needed. A request is never resent by the client.
  public func request(
    _ method: HTTPMethod,
    _ path: String,
    headers: [(String, String)] = [],
    body: ByteBuffer? = nil
  ) async throws -> KVHTTPResponse {
    let open = try await currentConnection()
    do {
      return try await open.request(method, path, headers: headers, body: body, timeout: timeout)
    } catch {
      connection.withLock { current in
        if current === open { current = nil }
      }
      await open.close()
      throw error
    }
  }

  private func currentConnection() async throws -> KVHTTPConnection {
    if let open = connection.withLock({ $0 }), open.isActive { return open }
    let fresh = try await KVHTTPConnection.connect(to: endpoint)
    let stale = connection.withLock { current -> KVHTTPConnection? in
      let previous = current
      current = fresh
      return previous
    }
    if let stale, stale !== fresh { await stale.close() }
    return fresh
  }

  /// Closes the open connection, if any.
  public func close() async {
    let open = connection.withLock { current -> KVHTTPConnection? in
      defer { current = nil }
      return current
    }
    await open?.close()
  }
}
