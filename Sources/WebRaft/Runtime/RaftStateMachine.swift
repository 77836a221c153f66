#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The user's replicated state machine (the seed's `apply` handler).
///
/// Every node applies every committed command exactly once, in index order. The node waits for
/// each call to return before the next (the seed's callback). A thrown error stops the node from
/// applying anything further — it never skips an entry — and is reported by
/// ``RaftError/stateMachineFailed(index:reason:)``.
public protocol RaftStateMachine: Sendable {
  /// What applying a command returns to the proposer.
  associatedtype Output: Sendable

  /// Applies the command of the committed entry at `index`, created in `term`.
  func apply(_ command: Data, index: UInt64, term: UInt64) async throws -> Output
}
