import Metrics
import Synchronization

/// The service's own metrics, through swift-metrics (bootstrap a backend such as Prometheus to
/// collect them): `raftkv_http_requests_total{route,status}` and
/// `raftkv_http_request_duration_seconds{route}`.
final class KVHTTPMetrics: Sendable {
  private let node: String
  private let counters = Mutex<[CounterKey: Counter]>([:])
  private let timers: [String: Timer]
  private let otherTimer: Timer

  private struct CounterKey: Hashable {
    var route: String
    var status: Int
  }

  /// The routes with a timer of their own.
  static let routes = [
    "put", "get", "delete", "cas", "status", "members", "transfer", "metrics", "dashboard", "other",
  ]

  init(node: String) {
    self.node = node
    var timers: [String: Timer] = [:]
    for route in Self.routes {
      timers[route] = Timer(
        label: "raftkv_http_request_duration_seconds", dimensions: [("node", node), ("route", route)])
    }
    self.timers = timers
    self.otherTimer = timers["other"]!
  }

  /// Counts one answered request and records how long it took.
  func record(route: String, status: Int, duration: Duration) {
    let key = CounterKey(route: route, status: status)
    let counter = counters.withLock { counters -> Counter in
      if let existing = counters[key] { return existing }
      let created = Counter(
        label: "raftkv_http_requests_total",
        dimensions: [("node", node), ("route", route), ("status", String(status))])
      counters[key] = created
      return created
    }
    counter.increment()
    (timers[route] ?? otherTimer).recordNanoseconds(duration.nanosecondsClamped)
  }
}
