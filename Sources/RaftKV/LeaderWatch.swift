import Synchronization
import WebRaft

/// Tracks the leader a node knows, from its `leaderChanged` events, so that requests can wait for
/// a leader and give up on a forwarded request when the leader it went to is replaced.
final class LeaderWatch: Sendable {
  private struct State {
    var epoch: UInt64 = 0
    var leader: NodeID?
    var nextToken: UInt64 = 0
    var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
  }

  private let state: Mutex<State>
  /// The node this watch belongs to.
  let localID: NodeID

  init(localID: NodeID, leader: NodeID?) {
    self.localID = localID
    self.state = Mutex(State(leader: leader))
  }

  /// The current leader and a number that grows at every change.
  var current: (epoch: UInt64, leader: NodeID?) {
    state.withLock { ($0.epoch, $0.leader) }
  }

  /// Records a new leader (nil: none known) and wakes every waiter.
  func leaderChanged(_ leader: NodeID?) {
    let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      state.epoch += 1
      state.leader = leader
      let woken = Array(state.waiters.values)
      state.waiters.removeAll()
      return woken
    }
    for waiter in woken { waiter.resume() }
  }

  /// Returns once the leader changed after `epoch`, or at once when the task is cancelled.
  func waitForChange(after epoch: UInt64) async {
    let token = state.withLock { state -> UInt64 in
      state.nextToken += 1
      return state.nextToken
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let resumeNow = state.withLock { state -> Bool in
          if state.epoch != epoch || Task.isCancelled { return true }
          state.waiters[token] = continuation
          return false
        }
        if resumeNow { continuation.resume() }
      }
    } onCancel: {
      let waiter = state.withLock { $0.waiters.removeValue(forKey: token) }
      waiter?.resume()
    }
  }

  /// Returns once the leader changed after `epoch` or `duration` passed, whichever is first.
  func waitForChange(after epoch: UInt64, atMost duration: Duration) async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { await self.waitForChange(after: epoch) }
      group.addTask { try? await Task.sleep(for: duration) }
      await group.next()
      group.cancelAll()
    }
  }
}

/// Thrown inside ``KVService`` when the leader a forwarded request went to was replaced.
struct LeaderReplaced: Error {}
