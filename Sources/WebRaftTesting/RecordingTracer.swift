import Synchronization
import Tracing

/// A tracer that keeps every span it starts in memory, for tests of code that traces (a
/// ``WebRaft/RaftNode``'s proposals, reads and membership changes, or your service around it).
///
/// Bind it to a task and its children with `withTracer(_:_:)` rather than bootstrapping it: the
/// instrumentation system can be bootstrapped only once per process, and a task-local tracer keeps
/// concurrent tests apart.
///
/// ```swift
/// let tracer = RecordingTracer()
/// let parent = tracer.startSpan("request")
/// try await withTracer(tracer) {
///   try await ServiceContext.withValue(parent.context) { _ = try await node.propose(command) }
/// }
/// parent.end()
/// let propose = try #require(tracer.finishedSpans.first { $0.operationName == "raft.propose" })
/// #expect(propose.parentID == parent.spanID)
/// ```
public final class RecordingTracer: Tracer, Sendable {
  /// What a span recorded so far.
  public struct Record: Sendable {
    /// The span's identity (unique per tracer, from 1).
    public var spanID: UInt64
    /// The span of the context it was started in, if that context carried one of this tracer's.
    public var parentID: UInt64?
    /// The name the span was started with (or renamed to).
    public var operationName: String
    /// The kind it was started with.
    public var kind: SpanKind
    /// Its attributes.
    public var attributes: SpanAttributes
    /// The names and attributes of its events, in order.
    public var events: [SpanEvent]
    /// The errors recorded on it, as text.
    public var errors: [String]
    /// The status last set.
    public var status: SpanStatus?
    /// Whether it ended (a span may end only once; later ends are counted in `extraEnds`).
    public var ended: Bool
    /// How many times `end` was called after the first.
    public var extraEnds: Int
  }

  /// A span of this tracer: every change goes to the tracer's record.
  public struct RecordedSpan: Tracing.Span {
    let tracer: RecordingTracer
    /// The span's identity.
    public let spanID: UInt64
    /// The context of the span: its parent's, with this span as the current one.
    public let context: ServiceContext

    /// Whether the span records (until it ends).
    public var isRecording: Bool { tracer.record(spanID)?.ended == false }

    /// The span's name.
    public var operationName: String {
      get { tracer.record(spanID)?.operationName ?? "" }
      nonmutating set { tracer.update(spanID) { $0.operationName = newValue } }
    }

    /// The span's attributes.
    public var attributes: SpanAttributes {
      get { tracer.record(spanID)?.attributes ?? [:] }
      nonmutating set { tracer.update(spanID) { $0.attributes = newValue } }
    }

    /// Records the status.
    public func setStatus(_ status: SpanStatus) {
      tracer.update(spanID) { $0.status = status }
    }

    /// Records an event.
    public func addEvent(_ event: SpanEvent) {
      tracer.update(spanID) { $0.events.append(event) }
    }

    /// Records an error, as its description.
    public func recordError<Instant: TracerInstant>(
      _ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant
    ) {
      tracer.update(spanID) { $0.errors.append("\(error)") }
    }

    /// Links are not recorded.
    public func addLink(_ link: SpanLink) {}

    /// Ends the span; ends after the first are counted, not applied.
    public func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
      tracer.update(spanID) { record in
        if record.ended { record.extraEnds += 1 } else { record.ended = true }
      }
    }
  }

  private enum SpanIDKey: ServiceContextKey {
    typealias Value = UInt64
  }

  private struct State {
    var nextID: UInt64 = 1
    var records: [UInt64: Record] = [:]
  }

  private let state = Mutex(State())

  /// Creates a tracer with nothing recorded.
  public init() {}

  /// Every span started, in the order they were started.
  public var spans: [Record] {
    state.withLock { $0.records.values.sorted { $0.spanID < $1.spanID } }
  }

  /// The spans that ended, in the order they were started.
  public var finishedSpans: [Record] { spans.filter(\.ended) }

  /// Starts a span as a child of the span `context` carries, if any.
  public func startSpan<Instant: TracerInstant>(
    _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
    at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
  ) -> RecordedSpan {
    var spanContext = context()
    let parentID = spanContext[SpanIDKey.self]
    let spanID = state.withLock { state in
      let spanID = state.nextID
      state.nextID += 1
      state.records[spanID] = Record(
        spanID: spanID, parentID: parentID, operationName: operationName, kind: kind, attributes: [:],
        events: [], errors: [], status: nil, ended: false, extraEnds: 0)
      return spanID
    }
    spanContext[SpanIDKey.self] = spanID
    return RecordedSpan(tracer: self, spanID: spanID, context: spanContext)
  }

  /// Nothing to flush: spans are recorded as they change.
  public func forceFlush() {}

  /// Propagates nothing across processes.
  public func extract<Carrier, Extract: Extractor>(
    _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
  ) where Extract.Carrier == Carrier {}

  /// Propagates nothing across processes.
  public func inject<Carrier, Inject: Injector>(
    _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
  ) where Inject.Carrier == Carrier {}

  fileprivate func record(_ spanID: UInt64) -> Record? {
    state.withLock { $0.records[spanID] }
  }

  fileprivate func update(_ spanID: UInt64, _ change: (inout Record) -> Void) {
    state.withLock { state in
      guard var record = state.records[spanID] else { return }
      change(&record)
      state.records[spanID] = record
    }
  }
}
