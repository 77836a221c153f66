import Testing
import WebRaftTesting

private typealias Operation = LinearizabilityChecker.Operation

private func read(_ client: Int, _ call: UInt64, _ returned: UInt64, _ value: String?) -> Operation {
  Operation(client: client, key: "k", call: call, returned: returned, kind: .read(observed: value))
}

private func write(_ client: Int, _ call: UInt64, _ returned: UInt64, _ value: String?) -> Operation {
  Operation(client: client, key: "k", call: call, returned: returned, kind: .write(value))
}

private func cas(
  _ client: Int, _ call: UInt64, _ returned: UInt64, _ from: String?, _ to: String, _ ok: Bool?
)
  -> Operation
{
  Operation(
    client: client, key: "k", call: call, returned: returned,
    kind: .compareAndSet(from: from, to: to, succeeded: ok))
}

@Suite("Linearizability checker")
struct LinearizabilityCheckerTests {
  let checker = LinearizabilityChecker()

  @Test("sequential and overlapping histories that have a linearization pass")
  func linearizableHistories() {
    #expect(checker.check([write(1, 0, 10, "a"), read(2, 20, 30, "a")]) == .linearizable)
    // Overlapping write and read: the read may see either value.
    #expect(
      checker.check([write(1, 0, 10, "a"), write(1, 20, 40, "b"), read(2, 25, 35, "a")]) == .linearizable)
    #expect(
      checker.check([write(1, 0, 10, "a"), write(1, 20, 40, "b"), read(2, 25, 35, "b")]) == .linearizable)
    #expect(
      checker.check([read(1, 0, 5, nil), cas(2, 6, 9, nil, "x", true), read(1, 10, 12, "x")]) == .linearizable
    )
  }

  @Test("a stale read after a completed write is a violation")
  func staleReadIsCaught() {
    let history = [write(1, 0, 10, "a"), write(1, 20, 30, "b"), read(2, 40, 50, "a")]
    guard case .violation(let key, _) = checker.check(history) else {
      Issue.record("stale read accepted")
      return
    }
    #expect(key == "k")
  }

  @Test("a compare-and-set that claims success on the wrong value is a violation")
  func wrongCasIsCaught() {
    let history = [write(1, 0, 10, "a"), cas(2, 20, 30, "b", "c", true)]
    #expect(checker.check(history) != .linearizable)
    #expect(checker.check([write(1, 0, 10, "a"), cas(2, 20, 30, "a", "c", false)]) != .linearizable)
  }

  @Test("an operation with an unknown outcome may have happened or not")
  func unknownOutcomes() {
    // The timed-out write may have applied...
    #expect(checker.check([write(1, 0, .max, "a"), read(2, 20, 30, "a")]) == .linearizable)
    // ... or not.
    #expect(checker.check([write(1, 0, .max, "a"), read(2, 20, 30, nil)]) == .linearizable)
    // But it cannot apply before it was called.
    #expect(checker.check([read(2, 0, 5, "a"), write(1, 10, .max, "a")]) != .linearizable)
    #expect(checker.check([cas(1, 0, .max, nil, "z", nil), read(2, 10, 20, "z")]) == .linearizable)
  }

  @Test("keys are checked independently and a violation names its key")
  func keysAreIndependent() {
    var other = write(1, 0, 10, "q")
    other.key = "other"
    var stale = read(3, 40, 50, "old")
    stale.key = "other"
    let history = [write(1, 0, 10, "a"), read(2, 20, 30, "a"), other, stale]
    guard case .violation(let key, let operations) = checker.check(history) else {
      Issue.record("violation not found")
      return
    }
    #expect(key == "other" && operations.count == 2)
  }

  @Test("a larger concurrent history of a correct register passes quickly")
  func largerHistory() {
    var history: [Operation] = []
    var value: String? = nil
    var time: UInt64 = 0
    for step in 0..<400 {
      // Operations take effect at `time + 1` and overlap their neighbours.
      let call = time
      let returned = time + 3
      switch step % 3 {
      case 0:
        value = "v\(step)"
        history.append(write(step % 5, call, returned, value))
      case 1:
        history.append(read(step % 5, call, returned, value))
      default:
        history.append(cas(step % 5, call, returned, value, "c\(step)", true))
        value = "c\(step)"
      }
      time += 2
    }
    #expect(checker.check(history) == .linearizable)
  }
}
