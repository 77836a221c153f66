import Synchronization

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A command proposed on a node, waiting for the node's pump to hand it to the core.
struct QueuedProposal: Sendable {
  let command: Data
  let requestID: UInt64
  /// When the proposal was made and when its caller gives up (the node's milliseconds).
  let started: UInt64
  let deadline: UInt64
  let continuation: UnsafeContinuation<any Sendable, any Error>
  /// The proposal's span, when a tracer is in force.
  let trace: RequestTrace?
}

/// The messages a node received, the proposals made on it and the batches its applier applied
/// that it has not taken in yet, and who works them off.
///
/// Transports post from any thread without waiting, and proposers queue here without entering the
/// node's actor; the node's pump takes everything waiting at once, so that messages and proposals
/// that arrive while a storage write is in progress go into one batch.
/// At most one pump runs at a time. Posting to an idle mailbox either wakes the mailbox's pump
/// task, which waits parked between runs (no task is created per wake), or, for a hand-off
/// (``handOff(_:)``), lets the caller run the pump in its own task, which saves a thread switch
/// when nodes share a process.
final class Mailbox: Sendable {
  private struct State {
    var messages: [RaftMessage] = []
    var proposals: [QueuedProposal] = []
    var applied: [AppliedBatch] = []
    /// Whether a pump is running or about to start.
    var running = false
    var pump: (@Sendable () async -> Void)?
    var closed = false
    /// Why the mailbox closed: what a proposal made after that fails with.
    var closedBecause: RaftError = .shutdown
    /// Tasks waiting for the running pump to finish (see ``waitUntilIdle()``).
    var idleWaiters: [CheckedContinuation<Void, Never>] = []
    /// The pump task, while it waits for work: resumed with true to run the pump, false to end.
    var parked: UnsafeContinuation<Bool, Never>?
    /// The pump task was woken while it was not parked yet: it runs again at once.
    var wakePending = false
  }

  private let state = Mutex(State())

  /// Sets the pump (once the node exists) and starts the task that runs it when woken: the pump
  /// works off everything, then calls ``finishIfIdle()`` until that returns true. The task ends
  /// when the mailbox closes.
  func setPump(_ pump: @escaping @Sendable () async -> Void) {
    state.withLock { $0.pump = pump }
    Task { await self.runPumpWhenWoken() }
  }

  private func runPumpWhenWoken() async {
    while await parkUntilWoken() {
      guard let pump = state.withLock({ $0.pump }) else { return }
      await pump()
    }
  }

  /// Waits until the pump should run (true) or the mailbox closed (false).
  private func parkUntilWoken() async -> Bool {
    await withUnsafeContinuation { continuation in
      let now = state.withLock { state -> Bool? in
        if state.closed { return false }
        if state.wakePending {
          state.wakePending = false
          return true
        }
        state.parked = continuation
        return nil
      }
      if let now { continuation.resume(returning: now) }
    }
  }

  /// Adds a received message, waking the pump task if no pump is running.
  func post(_ message: RaftMessage) {
    let parked = state.withLock { state -> UnsafeContinuation<Bool, Never>? in
      guard !state.closed else { return nil }
      state.messages.append(message)
      return claimPumpTask(&state)
    }
    // Resumed outside the lock, so that senders never wait for the resumption.
    parked?.resume(returning: true)
  }

  /// Queues a proposal, waking the pump task if no pump is running; returns the node's error
  /// instead when it stopped.
  func propose(_ proposal: QueuedProposal) -> RaftError? {
    let (parked, refused) = state.withLock {
      state -> (UnsafeContinuation<Bool, Never>?, RaftError?) in
      guard !state.closed else { return (nil, state.closedBecause) }
      state.proposals.append(proposal)
      return (claimPumpTask(&state), nil)
    }
    parked?.resume(returning: true)
    return refused
  }

  /// Removes a proposal that is still queued and fails it with ``RaftError/cancelled``; false
  /// when the pump already took it.
  func cancel(_ requestID: UInt64) -> Bool {
    let removed = state.withLock { state -> QueuedProposal? in
      guard let position = state.proposals.firstIndex(where: { $0.requestID == requestID }) else {
        return nil
      }
      return state.proposals.remove(at: position)
    }
    removed?.continuation.resume(throwing: RaftError.cancelled)
    return removed != nil
  }

  /// Adds a received message and, when no pump is running, runs one in the caller's task.
  nonisolated(nonsending) func handOff(_ message: RaftMessage) async {
    let pump = state.withLock { state -> (@Sendable () async -> Void)? in
      guard !state.closed else { return nil }
      state.messages.append(message)
      return claimPump(&state) ? state.pump : nil
    }
    if let pump { await pump() }
  }

  /// Adds a batch the node's applier applied, waking the pump task if no pump is running.
  func post(_ batch: AppliedBatch) {
    let parked = state.withLock { state -> UnsafeContinuation<Bool, Never>? in
      guard !state.closed else { return nil }
      state.applied.append(batch)
      return claimPumpTask(&state)
    }
    parked?.resume(returning: true)
  }

  /// Wakes the pump task if no pump is running (the node has work of its own).
  func wake() {
    let parked = state.withLock { state -> UnsafeContinuation<Bool, Never>? in
      guard !state.closed else { return nil }
      return claimPumpTask(&state)
    }
    parked?.resume(returning: true)
  }

  /// Marks a pump as running if none is.
  private func claimPump(_ state: inout State) -> Bool {
    guard !state.running, state.pump != nil else { return false }
    state.running = true
    return true
  }

  /// Marks a pump as running if none is, for the pump task to run it: returns the parked task to
  /// resume, or leaves a pending wake for a task that has not parked yet.
  private func claimPumpTask(_ state: inout State) -> UnsafeContinuation<Bool, Never>? {
    guard claimPump(&state) else { return nil }
    guard let parked = state.parked else {
      state.wakePending = true
      return nil
    }
    state.parked = nil
    return parked
  }

  /// How many proposals wait for the pump.
  var queuedProposalCount: Int {
    state.withLock { $0.proposals.count }
  }

  /// Takes every waiting message, proposal and applied batch.
  func takeAll() -> (messages: [RaftMessage], proposals: [QueuedProposal], applied: [AppliedBatch]) {
    state.withLock { state in
      var messages: [RaftMessage] = []
      var proposals: [QueuedProposal] = []
      var applied: [AppliedBatch] = []
      if !state.messages.isEmpty {
        messages = state.messages
        state.messages.removeAll(keepingCapacity: true)
      }
      if !state.proposals.isEmpty {
        proposals = state.proposals
        state.proposals.removeAll(keepingCapacity: true)
      }
      if !state.applied.isEmpty {
        applied = state.applied
        state.applied.removeAll(keepingCapacity: true)
      }
      return (messages, proposals, applied)
    }
  }

  /// Marks the pump finished when nothing is waiting; false when something arrived meanwhile.
  func finishIfIdle() -> Bool {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>]? in
      guard (state.messages.isEmpty && state.proposals.isEmpty && state.applied.isEmpty) || state.closed
      else { return nil }
      state.running = false
      defer { state.idleWaiters.removeAll() }
      return state.idleWaiters
    }
    guard let waiters else { return false }
    for waiter in waiters { waiter.resume() }
    return true
  }

  /// Refuses further messages and proposals (they fail with `error`), fails the proposals that
  /// were waiting with it, and ends the pump task; no pump starts from now on.
  func close(because error: RaftError) {
    let (waiting, parked, idle) = state.withLock { state in
      if !state.closed { state.closedBecause = error }
      state.closed = true
      state.messages.removeAll()
      state.applied.removeAll()
      // A wake claimed the pump for the pump task before it parked: the task now sees the
      // mailbox closed and ends without running the pump, so the claim is released here, or
      // `waitUntilIdle()` would wait for a pump that never runs.
      var idle: [CheckedContinuation<Void, Never>] = []
      if state.wakePending {
        state.wakePending = false
        state.running = false
        idle = state.idleWaiters
        state.idleWaiters.removeAll()
      }
      defer {
        state.proposals.removeAll()
        state.parked = nil
      }
      return (state.proposals, state.parked, idle)
    }
    for proposal in waiting { proposal.continuation.resume(throwing: error) }
    // The pump task ends.
    parked?.resume(returning: false)
    for waiter in idle { waiter.resume() }
  }

  /// Returns once no pump is running.
  func waitUntilIdle() async {
    await withCheckedContinuation { continuation in
      let idle = state.withLock { state in
        if !state.running { return true }
        state.idleWaiters.append(continuation)
        return false
      }
      if idle { continuation.resume() }
    }
  }
}
