import Synchronization
import Tracing

/// The span of one request made on a node (a proposal, read or membership change), shared by the
/// caller, which starts it, and the node, which annotates it and ends it when the request is
/// settled.
///
/// The library uses only the `Tracing` API: spans go to whatever tracer the application
/// bootstrapped (or bound with `withTracer`), as children of the caller's
/// `ServiceContext.current`. With no tracer in force ``start(_:node:)`` returns nil, so an untraced
/// request allocates nothing and carries a nil reference.
final class RequestTrace: Sendable {
  private let span: any Span
  /// Set by whoever ends the span first: the node settling the request, or the caller seeing its
  /// call fail (a proposal refused before the node took it, a cancelled call).
  private let ended = Atomic(false)

  private init(span: any Span) {
    self.span = span
  }

  /// Starts a span named `operation` in the calling task's service context; nil when the tracer
  /// in force is the no-op tracer, or when the tracer does not record the span.
  static func start(_ operation: String, node: NodeID) -> RequestTrace? {
    // The common case first, and cheaply: nothing bootstrapped and nothing bound to the task
    // (finding the tracer among the instruments costs several dynamic casts).
    if InstrumentationSystem.instrument is NoOpInstrument { return nil }
    let tracer = InstrumentationSystem.tracer
    if tracer is NoOpTracer { return nil }
    let span = tracer.startSpan(operation, context: ServiceContext.current ?? .topLevel, ofKind: .internal)
    guard span.isRecording else {
      span.end()
      return nil
    }
    span.attributes["raft.node"] = node.rawValue
    return RequestTrace(span: span)
  }

  /// Records what the core did with the request: appended its entry at (`index`, `term`) on this
  /// node, the leader, or forwarded it to the leader.
  func taken(_ ticket: ProposalTicket) {
    switch ticket {
    case .appended(let index, let term):
      span.addEvent(
        SpanEvent(
          name: "raft.appended",
          attributes: [
            "raft.index": .int64(Int64(clamping: index)), "raft.term": .int64(Int64(clamping: term)),
          ]))
    case .forwarded(let leader):
      span.addEvent(SpanEvent(name: "raft.forwarded", attributes: ["raft.leader": .string(leader.rawValue)]))
    }
  }

  /// Ends the span of a proposal or membership change applied at (`index`, `term`).
  func applied(index: UInt64, term: UInt64) {
    guard claimEnd() else { return }
    span.updateAttributes { attributes in
      attributes["raft.index"] = SpanAttribute.int64(Int64(clamping: index))
      attributes["raft.term"] = SpanAttribute.int64(Int64(clamping: term))
    }
    span.end()
  }

  /// Ends the span of a read served at `readIndex`.
  func read(at readIndex: UInt64) {
    guard claimEnd() else { return }
    span.attributes["raft.read_index"] = SpanAttribute.int64(Int64(clamping: readIndex))
    span.end()
  }

  /// Ends the span of a request that succeeded without an index to report.
  func succeeded() {
    guard claimEnd() else { return }
    span.end()
  }

  /// Ends the span with `error` recorded and the error status.
  func failed(_ error: any Error) {
    guard claimEnd() else { return }
    span.recordError(error)
    span.setStatus(SpanStatus(code: .error, message: "\(error)"))
    span.end()
  }

  /// Whether the caller is the first to end the span.
  private func claimEnd() -> Bool {
    ended.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
  }
}
