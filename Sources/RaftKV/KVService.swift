import Synchronization
import WebRaft

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Limits on what a request may carry.
public struct KVLimits: Hashable, Sendable {
  /// The longest key, in UTF-8 bytes.
  public var maxKeyBytes: Int
  /// The largest value, in bytes.
  public var maxValueBytes: Int

  /// Creates limits; the defaults are 1 KiB keys and 1 MiB values.
  public init(maxKeyBytes: Int = 1024, maxValueBytes: Int = 1 << 20) {
    self.maxKeyBytes = maxKeyBytes
    self.maxValueBytes = maxValueBytes
  }
}

/// The key-value operations of one node, independent of HTTP: writes go through the log, reads
/// are made linearizable, and requests ride out leader changes.
///
/// A request that finds no leader waits for one (at most ``leaderWait``); a request forwarded to
/// a leader that is then replaced is sent again to the new one, with the same client identity
/// and sequence number, so that it applies once.
final class KVService: Sendable {
  typealias Node = RaftNode<KVStateMachine>

  let node: Node
  let store: KVStateMachine
  let watch: LeaderWatch
  let limits: KVLimits
  /// How long a request may take in all before it fails (504 for writes: the outcome is unknown).
  let requestTimeout: Duration
  /// How long a request waits for a leader to be known before it fails with 503.
  let leaderWait: Duration
  private let generatedClients: Atomic<UInt64>

  init(node: Node, store: KVStateMachine, limits: KVLimits, requestTimeout: Duration, leaderWait: Duration)
    async
  {
    self.node = node
    self.store = store
    self.limits = limits
    self.requestTimeout = requestTimeout
    self.leaderWait = leaderWait
    let watch = LeaderWatch(localID: node.id, leader: await node.leader)
    self.watch = watch
    node.listen(.leaderChanged) { event in
      if case .leaderChanged(let leader) = event { watch.leaderChanged(leader) }
    }
    // Client identities for requests that bring none: a random base, then one per request.
    self.generatedClients = Atomic(UInt64.random(in: 1...(UInt64.max / 2)))
  }

  /// A fresh client identity for a request that carries none (sequence number 1).
  func generatedClientID() -> UInt64 {
    generatedClients.wrappingAdd(1, ordering: .relaxed).newValue | (1 << 63)
  }

  // MARK: - Operations

  /// Runs `operation`, waiting for a leader and retrying it when the leader changes, until the
  /// request timeout.
  func perform<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let clock = ContinuousClock()
    let deadline = clock.now + requestTimeout
    var leaderDeadline = clock.now + leaderWait
    while true {
      let (epoch, leader) = watch.current
      guard let leader else {
        let now = clock.now
        let limit = min(deadline, leaderDeadline)
        if now >= limit { throw RaftError.noLeader(leaderHint: await node.leaderHint) }
        await watch.waitForChange(after: epoch, atMost: limit - now)
        continue
      }
      do {
        if leader == watch.localID { return try await operation() }
        return try await raceLeaderChange(since: epoch, operation)
      } catch is LeaderReplaced {
        leaderDeadline = clock.now + leaderWait
        continue
      } catch let error as RaftError {
        guard Self.isRetryable(error), clock.now < deadline else { throw error }
        // The leader this node knew is gone or busy: wait for news, briefly.
        let now = clock.now
        await watch.waitForChange(after: epoch, atMost: min(.milliseconds(50), deadline - now))
        if case .noLeader = error, watch.current.epoch == epoch, clock.now >= leaderDeadline {
          throw error
        }
      }
    }
  }

  private static func isRetryable(_ error: RaftError) -> Bool {
    switch error {
    case .noLeader, .notLeader, .proposalDropped, .leadershipTransferInProgress: return true
    default: return false
    }
  }

  /// Runs `operation`, abandoning it (``LeaderReplaced``) when the leader changes meanwhile.
  private func raceLeaderChange<T: Sendable>(
    since epoch: UInt64, _ operation: @escaping @Sendable () async throws -> T
  ) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
      group.addTask { try await operation() }
      group.addTask {
        await self.watch.waitForChange(after: epoch)
        return nil
      }
      defer { group.cancelAll() }
      guard let first = try await group.next() else { throw LeaderReplaced() }
      if let value = first { return value }
      throw LeaderReplaced()
    }
  }

  /// Proposes a write and returns its result once it is committed and applied here.
  func write(_ operation: KVCommand.Operation, clientID: UInt64, sequence: UInt64) async throws -> KVResult {
    let command = KVCommand(clientID: clientID, sequence: sequence, operation: operation).encoded()
    let node = self.node
    return try await perform { try await node.propose(command) }
  }

  /// How a read is served.
  enum ReadConsistency: String, Sendable {
    case linearizable
    case lease
    case stale
  }

  /// The value of `key` after a read barrier of the asked consistency.
  func read(_ key: String, consistency: ReadConsistency) async throws -> Data? {
    let node = self.node
    switch consistency {
    case .stale:
      break
    case .linearizable:
      try await perform { try await node.linearizableRead(.readIndex) }
    case .lease:
      try await perform { try await node.linearizableRead(.lease) }
    }
    return store.value(for: key)
  }

  /// The node's status report.
  func status() async -> KVStatusReport {
    KVStatusReport(status: await node.status, keys: store.count)
  }
}
