import Synchronization

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A batch of committed entries for a node's applier: `entries[first...]`.
struct ApplyJob: Sendable {
  let entries: [LogEntry]
  let first: Int
}

/// What a node's applier did with a job, reported to the node through its mailbox.
struct AppliedBatch: Sendable {
  let entries: [LogEntry]
  /// The positions in `entries` of the entries applied, in order.
  let applied: Range<Int>
  /// What the state machine returned for each command entry among them, in order (not generic, so
  /// that the mailbox is not: each output is cast back by the node).
  let outputs: [any Sendable]
  /// When the batch began to apply, on the node's clock in milliseconds.
  let started: UInt64
  /// How long applying it took.
  let duration: Duration
  /// The failure that stopped applying right after `applied`, if any.
  let failure: RaftError?
}

/// The batches a node hands to its applier task, in order.
///
/// The node's pump enqueues without waiting; the applier task takes them one by one, parking
/// while there is none. Closing it drops the jobs not started, ends a parked applier, and stops a
/// running one before its next command (the command under way is not interrupted: a state machine
/// sees no cancellation in the middle of an apply).
final class ApplyQueue: Sendable {
  private struct State {
    var jobs: [ApplyJob] = []
    var parked: UnsafeContinuation<ApplyJob?, Never>?
    var closed = false
  }

  private let state = Mutex(State())
  /// Set by ``close()``; read without the lock before every command.
  private let closedFlag = Atomic(false)

  /// Whether the queue was closed: the applier stops before its next command.
  var isClosed: Bool { closedFlag.load(ordering: .acquiring) }

  /// Adds a job, waking the applier if it waits for one.
  func enqueue(_ job: ApplyJob) {
    let parked = state.withLock { state -> UnsafeContinuation<ApplyJob?, Never>? in
      guard !state.closed else { return nil }
      guard let parked = state.parked else {
        state.jobs.append(job)
        return nil
      }
      state.parked = nil
      return parked
    }
    parked?.resume(returning: job)
  }

  /// The next job, waiting for one; nil once the queue is closed.
  func next() async -> ApplyJob? {
    await withUnsafeContinuation { continuation in
      let job = state.withLock { state -> ApplyJob?? in
        if state.closed { return .some(nil) }
        if !state.jobs.isEmpty { return .some(state.jobs.removeFirst()) }
        state.parked = continuation
        return nil
      }
      if let job { continuation.resume(returning: job) }
    }
  }

  /// Drops the jobs not started and ends the applier.
  func close() {
    closedFlag.store(true, ordering: .releasing)
    let parked = state.withLock { state -> UnsafeContinuation<ApplyJob?, Never>? in
      state.closed = true
      state.jobs.removeAll()
      defer { state.parked = nil }
      return state.parked
    }
    parked?.resume(returning: nil)
  }
}

extension RaftNode {
  /// The applier: applies the jobs of `queue` strictly in order, and posts each batch's outcome to
  /// `mailbox` once it is done (one post per batch, not per entry), so that the node's pump goes on
  /// stepping messages and ticking while the state machine works. It stops at the first failure
  /// (an entry is never skipped) and when the queue closes.
  nonisolated static func runApplier(
    stateMachine: StateMachine, queue: ApplyQueue, mailbox: Mailbox, broadcaster: EventBroadcaster,
    metrics: RaftMetrics, clock: ContinuousClock, started: ContinuousClock.Instant
  ) async {
    while let job = await queue.next() {
      guard
        let batch = await applyBatch(
          job, stateMachine: stateMachine, queue: queue, broadcaster: broadcaster, metrics: metrics,
          clock: clock, started: started)
      else { return }
      mailbox.post(batch)
      if batch.failure != nil { return }
    }
  }

  /// Applies one batch, in the caller's context: the applier task's, or the node's own when the
  /// pump applies a quick batch itself. Nil when the queue closed first (the node is stopping).
  ///
  /// With a `budget`, it stops after the command that used it up; the batch returned then ends
  /// before the rest of the job.
  nonisolated(nonsending) static func applyBatch(
    _ job: ApplyJob, stateMachine: StateMachine, queue: ApplyQueue, broadcaster: EventBroadcaster,
    metrics: RaftMetrics, clock: ContinuousClock, started: ContinuousClock.Instant, budget: Duration? = nil
  ) async -> AppliedBatch? {
    let start = clock.now
    var outputs: [any Sendable] = []
    outputs.reserveCapacity(job.entries.count - job.first)
    var failure: RaftError?
    var end = job.first
    while end < job.entries.count {
      let entry = job.entries[end]
      if case .command(let command) = entry.payload {
        // A stopping node closes the queue; applying stops between two commands (a restart
        // replays whatever is not applied).
        if queue.isClosed { return nil }
        let listened = broadcaster.hasSubscribers
        if listened { broadcaster.publish(.apply(entry)) }
        do {
          outputs.append(try await stateMachine.apply(command, index: entry.index, term: entry.term))
        } catch {
          failure = .stateMachineFailed(index: entry.index, reason: "\(error)")
          break
        }
        if listened { broadcaster.publish(.updated(index: entry.index)) }
        if let budget, clock.now - start > budget {
          end += 1
          break
        }
      }
      end += 1
    }
    let duration = clock.now - start
    metrics.applyDuration.record(duration: duration)
    return AppliedBatch(
      entries: job.entries, applied: job.first..<end, outputs: outputs,
      started: (start - started).wholeMilliseconds, duration: duration, failure: failure)
  }

  /// How long a batch may take for the next one to be applied by the pump itself rather than
  /// handed to the applier task. A quick state machine then costs no task switch per batch; one
  /// that took longer goes to the applier, so that a slow apply delays no heartbeat or append
  /// again (the one slow batch applied in the pump delayed them by its own duration at most).
  static var inlineApplyLimit: Duration { .milliseconds(2) }

  /// Applies `job` in the pump when nothing is being applied elsewhere and the last batch was
  /// quick; hands it to the applier task otherwise. False when the node halted.
  func handOutApply(_ job: ApplyJob) async -> Bool {
    guard appliesOutstanding == 0, lastApplyWasQuick else {
      appliesOutstanding += 1
      applyQueue.enqueue(job)
      return true
    }
    guard
      let batch = await Self.applyBatch(
        job, stateMachine: stateMachine, queue: applyQueue, broadcaster: broadcaster, metrics: metrics,
        clock: clock, started: started, budget: Self.inlineApplyLimit)
    else { return true }
    lastApplyWasQuick = batch.duration < Self.inlineApplyLimit
    guard completeApplies([batch]) else { return false }
    // A command that took longer than the limit ends the pump's turn: the rest of the batch goes
    // to the applier.
    if batch.applied.upperBound < job.entries.count {
      appliesOutstanding += 1
      applyQueue.enqueue(ApplyJob(entries: job.entries, first: batch.applied.upperBound))
    }
    return true
  }

  /// The applier task's batches came back: notes how long the last one took.
  func appliesReturned(_ batches: [AppliedBatch]) {
    appliesOutstanding -= batches.count
    if let last = batches.last { lastApplyWasQuick = last.duration < Self.inlineApplyLimit }
  }

  /// Reports the batches the applier applied to the driver, resuming the callers they decide;
  /// false when one ended with a failure (the node halted).
  func completeApplies(_ batches: [AppliedBatch]) -> Bool {
    for batch in batches {
      var outputIndex = 0
      for position in batch.applied {
        let entry = batch.entries[position]
        guard case .command = entry.payload else {
          driver.applied(entry, resolve: { settle($0, $1) })
          continue
        }
        let output = batch.outputs[outputIndex]
        outputIndex += 1
        driver.applied(entry) { requestID, outcome in
          guard case .applied = outcome else { return settle(requestID, outcome) }
          switch waiters.remove(requestID) {
          case .command(let continuation, let started, let trace):
            metrics.proposalDuration.recordMilliseconds(Int64(batch.started &- started))
            trace?.applied(index: entry.index, term: entry.term)
            continuation.resume(returning: output)
          case let other?:
            other.fail(.proposalDropped(index: entry.index))
          case nil:
            break
          }
        }
      }
      if let failure = batch.failure {
        halt(failure)
        return false
      }
    }
    checkConditions()
    return true
  }
}
