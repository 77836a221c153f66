import Foundation
import Synchronization
import WebRaft

/// Counts applied commands and does nothing else, like hcbench's FSM.
public final class CountingMachine: RaftStateMachine {
  private let applied = Atomic<UInt64>(0)

  /// Creates a machine that has applied nothing.
  public init() {}

  /// Counts the command.
  public nonisolated(nonsending) func apply(_ command: Data, index: UInt64, term: UInt64) async throws {
    applied.add(1, ordering: .relaxed)
  }
}
