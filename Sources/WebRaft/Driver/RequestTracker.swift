/// What became of a request a driver tracks: a proposal, a membership change or a read.
public enum RequestOutcome: Sendable {
  /// The request's entry was applied on this node (the host resumes its caller with whatever its
  /// state machine returned for `entry`).
  case applied(LogEntry)
  /// The read may be served now: the state machine has applied its read index.
  case readable(index: UInt64)
  /// The request failed; the error says whether it may still take effect.
  case failed(RaftError)
}

/// Decides when each proposal, membership change and read a node waits for is settled: by the
/// entries it stores and applies, the snapshots it installs, the reads the core resolves, and the
/// deadlines. It holds no callers; the host maps request identifiers to its own.
///
/// A proposal appended at (`index`, `term`) succeeds when the entry applied at `index` has `term`.
/// It is surely dropped when a different entry is applied at `index`, or when an entry of a term
/// above `term` is applied (or covered by an installed snapshot) before `index`: terms never
/// decrease along a log, so no committed log can hold the proposal's entry after that entry.
/// Truncating the entry from this node's log alone proves nothing (another node may still hold
/// it and win an election), so a truncated proposal waits for one of those facts.
struct RequestTracker {
  /// A proposal whose entry is, or was, at an index of this node's log.
  struct Appended {
    var index: UInt64
    var term: UInt64
    var requestID: UInt64
    var deadline: UInt64?
  }

  /// A proposal forwarded to the leader whose entry this node has not stored yet.
  struct Forwarded {
    var deadline: UInt64?
    /// When the node gives up learning its fate.
    var lostAfter: UInt64
  }

  /// A read waiting for its read index, or for the state machine to reach it.
  struct Read {
    var index: UInt64?
    var deadline: UInt64?
    /// Whether the read waits for the state machine to apply its index (false: it ends as soon as
    /// the index is known, for callers that serve the read themselves).
    var untilApplied = true
  }

  /// Proposals appended here (or forwarded and since stored), by index: one per index.
  private var appendedAt: [UInt64: Appended] = [:]
  /// Proposals whose index a later proposal of this node took (rare: a leader that lost its
  /// entries and leads again).
  private var displaced: [Appended] = []
  /// The lowest term among tracked appended proposals, so that applying an entry of the same
  /// term (the common case) skips the scan for proposals it proves dropped.
  private var lowestTerm = UInt64.max
  private var forwarded: [UInt64: Forwarded] = [:]
  private var reads: [UInt64: Read] = [:]
  /// Reads whose index is known and not yet reached (request IDs), in the order they got it.
  private var readsAwaitingApply: [UInt64] = []
  /// At most the lowest index among `readsAwaitingApply`, so that each applied entry does not
  /// scan them.
  private var lowestAwaitedReadIndex = UInt64.max

  /// Whether nothing is tracked.
  var isEmpty: Bool { appendedAt.isEmpty && displaced.isEmpty && forwarded.isEmpty && reads.isEmpty }

  // MARK: - Registering

  /// Tracks a proposal the core took with `ticket`; a forwarded one is given up as lost after
  /// `lostAfter` if its entry never reaches this node's log.
  mutating func proposed(
    requestID: UInt64, ticket: ProposalTicket, deadline: UInt64?, lostAfter: UInt64
  ) {
    switch ticket {
    case .appended(let index, let term):
      track(Appended(index: index, term: term, requestID: requestID, deadline: deadline))
    case .forwarded:
      forwarded[requestID] = Forwarded(deadline: deadline, lostAfter: lostAfter)
    }
  }

  private mutating func track(_ appended: Appended) {
    if let previous = appendedAt.updateValue(appended, forKey: appended.index) {
      displaced.append(previous)
    }
    lowestTerm = min(lowestTerm, appended.term)
  }

  /// Tracks a read until its index is known and, when `untilApplied`, applied.
  mutating func readRequested(requestID: UInt64, deadline: UInt64?, untilApplied: Bool = true) {
    reads[requestID] = Read(index: nil, deadline: deadline, untilApplied: untilApplied)
  }

  /// Records the read index of a read, if it is still tracked: it is served once applied, or at
  /// once when it does not wait for the state machine.
  mutating func readIndexKnown(
    requestID: UInt64, index: UInt64, resolve: (UInt64, RequestOutcome) -> Void
  ) {
    guard let read = reads[requestID] else { return }
    guard read.untilApplied else {
      reads[requestID] = nil
      resolve(requestID, .readable(index: index))
      return
    }
    reads[requestID]!.index = index
    readsAwaitingApply.append(requestID)
    lowestAwaitedReadIndex = min(lowestAwaitedReadIndex, index)
  }

  /// Stops tracking `requestID`; returns whether it was tracked.
  mutating func forget(_ requestID: UInt64) -> Bool {
    if forwarded.removeValue(forKey: requestID) != nil { return true }
    if reads.removeValue(forKey: requestID) != nil { return true }
    if let found = appendedAt.first(where: { $0.value.requestID == requestID }) {
      appendedAt[found.key] = nil
      return true
    }
    if let position = displaced.firstIndex(where: { $0.requestID == requestID }) {
      displaced.remove(at: position)
      return true
    }
    return false
  }

  // MARK: - Settling

  /// Entries this node stored: a forwarded proposal whose entry is among them is now tracked at
  /// its place in the log, so that its fate can be learned like an appended one's.
  mutating func stored(_ entries: [LogEntry], node: NodeID) {
    guard !forwarded.isEmpty else { return }
    for entry in entries {
      guard let origin = entry.origin, origin.node == node,
        let waiting = forwarded.removeValue(forKey: origin.requestID)
      else { continue }
      track(
        Appended(
          index: entry.index, term: entry.term, requestID: origin.requestID, deadline: waiting.deadline))
    }
  }

  /// Settles what the applied `entry` decides.
  mutating func applied(_ entry: LogEntry, node: NodeID, resolve: (UInt64, RequestOutcome) -> Void) {
    if let appended = appendedAt.removeValue(forKey: entry.index) {
      if appended.term == entry.term {
        resolve(appended.requestID, .applied(entry))
      } else {
        resolve(appended.requestID, .failed(.proposalDropped(index: appended.index)))
      }
    }
    if !displaced.isEmpty {
      displaced.removeAll { appended in
        guard appended.index == entry.index else { return false }
        let outcome: RequestOutcome =
          appended.term == entry.term ? .applied(entry) : .failed(.proposalDropped(index: entry.index))
        resolve(appended.requestID, outcome)
        return true
      }
    }
    if let origin = entry.origin, origin.node == node,
      forwarded.removeValue(forKey: origin.requestID) != nil
    {
      resolve(origin.requestID, .applied(entry))
    }
    if entry.term > lowestTerm {
      dropProposals(after: entry.index, below: entry.term, resolve: resolve)
    }
  }

  /// Settles what an installed snapshot decides: proposals after it of a lower term than its last
  /// entry are surely dropped, those it covers may or may not be in it.
  mutating func snapshotInstalled(_ metadata: SnapshotMetadata, resolve: (UInt64, RequestOutcome) -> Void) {
    if metadata.term > lowestTerm {
      dropProposals(after: metadata.index, below: metadata.term, resolve: resolve)
    }
    let covered =
      appendedAt.values.filter { $0.index <= metadata.index }
      + displaced.filter { $0.index <= metadata.index }
    guard !covered.isEmpty else { return }
    for appended in covered {
      _ = forget(appended.requestID)
      resolve(
        appended.requestID,
        .failed(
          .proposalOutcomeUnknown(
            "a snapshot from the leader replaced index \(appended.index) before it was applied here")))
    }
    recomputeLowestTerm()
  }

  /// Drops the proposals at an index after `index` whose term is below `term`.
  private mutating func dropProposals(
    after index: UInt64, below term: UInt64, resolve: (UInt64, RequestOutcome) -> Void
  ) {
    let dropped = appendedAt.values.filter { $0.index > index && $0.term < term }
    for appended in dropped {
      appendedAt[appended.index] = nil
      resolve(appended.requestID, .failed(.proposalDropped(index: appended.index)))
    }
    displaced.removeAll { appended in
      guard appended.index > index, appended.term < term else { return false }
      resolve(appended.requestID, .failed(.proposalDropped(index: appended.index)))
      return true
    }
    recomputeLowestTerm()
  }

  private mutating func recomputeLowestTerm() {
    var lowest = UInt64.max
    for appended in appendedAt.values { lowest = min(lowest, appended.term) }
    for appended in displaced { lowest = min(lowest, appended.term) }
    lowestTerm = lowest
  }

  /// Serves the reads whose index the state machine has reached.
  mutating func releaseReads(applied: UInt64, resolve: (UInt64, RequestOutcome) -> Void) {
    guard !readsAwaitingApply.isEmpty, applied >= lowestAwaitedReadIndex else { return }
    var waiting: [UInt64] = []
    var lowest = UInt64.max
    for requestID in readsAwaitingApply {
      guard let read = reads[requestID], let index = read.index else { continue }
      if index <= applied {
        reads[requestID] = nil
        resolve(requestID, .readable(index: index))
      } else {
        waiting.append(requestID)
        lowest = min(lowest, index)
      }
    }
    readsAwaitingApply = waiting
    lowestAwaitedReadIndex = lowest
  }

  /// Fails what waited past its deadline (``RaftError/proposalTimedOut``) and forwarded proposals
  /// whose entry never reached this node in time (``RaftError/proposalOutcomeUnknown(_:)``).
  mutating func expire(now: UInt64, resolve: (UInt64, RequestOutcome) -> Void) {
    if !appendedAt.isEmpty {
      let expired = appendedAt.values.filter { $0.deadline.map { $0 <= now } ?? false }
      for appended in expired {
        appendedAt[appended.index] = nil
        resolve(appended.requestID, .failed(.proposalTimedOut))
      }
      if !expired.isEmpty { recomputeLowestTerm() }
    }
    displaced.removeAll { appended in
      guard let deadline = appended.deadline, deadline <= now else { return false }
      resolve(appended.requestID, .failed(.proposalTimedOut))
      return true
    }
    if !forwarded.isEmpty {
      for (requestID, waiting) in forwarded {
        if let deadline = waiting.deadline, deadline <= now, deadline <= waiting.lostAfter {
          forwarded[requestID] = nil
          resolve(requestID, .failed(.proposalTimedOut))
        } else if waiting.lostAfter <= now {
          forwarded[requestID] = nil
          resolve(
            requestID,
            .failed(
              .proposalOutcomeUnknown(
                "the proposal was forwarded to the leader, but its entry never reached this node")))
        }
      }
    }
    if !reads.isEmpty {
      for (requestID, read) in reads {
        guard let deadline = read.deadline, deadline <= now else { continue }
        reads[requestID] = nil
        resolve(requestID, .failed(.proposalTimedOut))
      }
    }
  }

  /// The earliest time at which ``expire(now:resolve:)`` has something to fail, if any.
  func nextExpiry() -> UInt64? {
    var earliest: UInt64?
    func consider(_ time: UInt64?) {
      guard let time else { return }
      earliest = min(earliest ?? time, time)
    }
    for appended in appendedAt.values { consider(appended.deadline) }
    for appended in displaced { consider(appended.deadline) }
    for waiting in forwarded.values {
      consider(waiting.deadline)
      consider(waiting.lostAfter)
    }
    for read in reads.values { consider(read.deadline) }
    return earliest
  }

  /// Fails everything with `error` and forgets it.
  mutating func failAll(_ error: RaftError, resolve: (UInt64, RequestOutcome) -> Void) {
    let requestIDs =
      appendedAt.values.map(\.requestID) + displaced.map(\.requestID) + Array(forwarded.keys)
      + Array(reads.keys)
    appendedAt = [:]
    displaced = []
    forwarded = [:]
    reads = [:]
    readsAwaitingApply = []
    lowestAwaitedReadIndex = .max
    lowestTerm = .max
    for requestID in requestIDs { resolve(requestID, .failed(error)) }
  }
}
