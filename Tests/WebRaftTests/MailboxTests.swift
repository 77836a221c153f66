import Foundation
import Synchronization
import Testing

@testable import WebRaft

/// The node's mailbox: proposals queue there without entering the actor, and a closed mailbox
/// refuses them with the node's error.
@Suite("Runtime: the mailbox's proposal queue")
struct MailboxTests {
  @Test("a queued proposal is taken by the pump along with the messages waiting")
  func queuedProposalIsTaken() async throws {
    let mailbox = Mailbox()
    let taken = try await withUnsafeThrowingContinuation {
      (continuation: UnsafeContinuation<any Sendable, any Error>) in
      mailbox.setPump {
        let (messages, proposals, _) = mailbox.takeAll()
        #expect(messages.isEmpty)
        #expect(proposals.map(\.requestID) == [7])
        for proposal in proposals { proposal.continuation.resume(returning: proposal.requestID) }
        _ = mailbox.finishIfIdle()
      }
      let refused = mailbox.propose(
        QueuedProposal(
          command: Data([1]), requestID: 7, started: 0, deadline: 10, continuation: continuation, trace: nil)
      )
      #expect(refused == nil)
    }
    #expect(taken as? UInt64 == 7)
  }

  @Test("cancelling a proposal that is still queued fails it with cancelled and removes it")
  func cancelQueuedProposal() async throws {
    let mailbox = Mailbox()
    // The pump does not take anything, so the proposal stays queued until it is cancelled.
    mailbox.setPump {}
    let outcome = await Task {
      do {
        _ = try await withUnsafeThrowingContinuation {
          (continuation: UnsafeContinuation<any Sendable, any Error>) in
          _ = mailbox.propose(
            QueuedProposal(
              command: Data(), requestID: 3, started: 0, deadline: 10, continuation: continuation, trace: nil)
          )
          #expect(mailbox.cancel(3))
        }
        return "resumed"
      } catch let error as RaftError {
        return "\(error == .cancelled)"
      } catch {
        return "other"
      }
    }.value
    #expect(outcome == "true")
    #expect(!mailbox.cancel(3), "a proposal is removed once cancelled")
    #expect(mailbox.takeAll().proposals.isEmpty)
  }

  @Test("a closed mailbox refuses proposals with the error it closed with and fails those waiting with it")
  func closedMailboxRefuses() async throws {
    let mailbox = Mailbox()
    mailbox.setPump {}
    let error = RaftError.storageFailed("disk gone")
    let (waitingFailed, laterFailed) = await Task {
      async let waiting: RaftError? = Self.propose(to: mailbox, requestID: 1)
      // Let the first proposal reach the queue, then close.
      while mailbox.queuedProposalCount == 0 { await Task.yield() }
      mailbox.close(because: error)
      let later = await Self.propose(to: mailbox, requestID: 2)
      return (await waiting, later)
    }.value
    #expect(waitingFailed == error)
    #expect(laterFailed == error)
  }

  @Test(
    "the parked pump task runs once per wake, also for a wake that came before it parked",
    .timeLimit(.minutes(1)))
  func parkedPumpTaskRunsPerWake() async throws {
    let mailbox = Mailbox()
    let (runs, continuation) = AsyncStream.makeStream(of: Int.self)
    let count = Mutex(0)
    mailbox.setPump {
      _ = mailbox.takeAll()
      let run = count.withLock { count -> Int in
        count += 1
        return count
      }
      _ = mailbox.finishIfIdle()
      continuation.yield(run)
    }
    // Posted right after the task started, most likely before it parked: the wake must not be
    // lost.
    mailbox.post(RaftMessage(from: "a", to: "b", term: 1, body: .timeoutNow))
    var iterator = runs.makeAsyncIterator()
    #expect(await iterator.next() == 1)
    for expected in 2...4 {
      mailbox.post(RaftMessage(from: "a", to: "b", term: 1, body: .timeoutNow))
      #expect(await iterator.next() == expected)
    }
    mailbox.close(because: .shutdown)
    mailbox.post(RaftMessage(from: "a", to: "b", term: 1, body: .timeoutNow))
    try await Task.sleep(for: .milliseconds(20))
    #expect(count.withLock { $0 } == 4, "a closed mailbox runs no pump")
  }

  /// Proposes through `mailbox` and returns the error the proposal failed with, nil on success.
  private static func propose(to mailbox: Mailbox, requestID: UInt64) async -> RaftError? {
    do {
      _ = try await withUnsafeThrowingContinuation {
        (continuation: UnsafeContinuation<any Sendable, any Error>) in
        if let refused = mailbox.propose(
          QueuedProposal(
            command: Data(), requestID: requestID, started: 0, deadline: 10, continuation: continuation,
            trace: nil))
        {
          continuation.resume(throwing: refused)
        }
      }
      return nil
    } catch {
      return error as? RaftError
    }
  }

  @Test("closing a mailbox woken before its pump task parked leaves it idle: shutdown does not wait for ever")
  func closeAfterAnEarlyWakeLeavesItIdle() async throws {
    for _ in 0..<50 {
      let mailbox = Mailbox()
      // The pump task starts parked only once it first runs; a wake before that is a pending
      // claim on the pump, which closing must release.
      mailbox.setPump { _ = mailbox.finishIfIdle() }
      mailbox.wake()
      mailbox.close(because: .shutdown)
      // A waiter that never returns must not hang the test: it is left behind, and polled.
      let returned = Atomic(false)
      let waiter = Task {
        await mailbox.waitUntilIdle()
        returned.store(true, ordering: .relaxed)
      }
      var idle = false
      for _ in 0..<200 {
        if returned.load(ordering: .relaxed) {
          idle = true
          break
        }
        try await Task.sleep(for: .milliseconds(10))
      }
      if idle { await waiter.value }
      #expect(idle, "waitUntilIdle did not return after close")
      if !idle { return }
    }
  }
}
