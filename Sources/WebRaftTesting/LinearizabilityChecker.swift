/// Checks that a history of key-value operations is linearizable (Wing & Gong's search with
/// Lowe's memoization, checked key by key as in Porcupine).
///
/// Each operation has the time it was called and the time it returned. An operation whose
/// outcome is unknown (it timed out, or the client crashed) returns at `UInt64.max` and has no
/// observed result: it may have taken effect at any time after its call, or never.
public struct LinearizabilityChecker: Sendable {
  /// One client operation on one key.
  public struct Operation: Hashable, Sendable, CustomStringConvertible {
    /// Who made it (for messages).
    public var client: Int
    /// The key.
    public var key: String
    /// When it was called.
    public var call: UInt64
    /// When it returned, or `UInt64.max` when its outcome is unknown.
    public var returned: UInt64
    /// What it did and what it saw.
    public var kind: Kind

    /// Creates an operation.
    public init(client: Int, key: String, call: UInt64, returned: UInt64, kind: Kind) {
      self.client = client
      self.key = key
      self.call = call
      self.returned = returned
      self.kind = kind
    }

    /// What an operation did.
    public enum Kind: Hashable, Sendable {
      /// Read the value (nil: absent).
      case read(observed: String?)
      /// Wrote the value (nil: deleted).
      case write(String?)
      /// Compared with `from` and, if equal, set `to`; `succeeded` is nil when unknown.
      case compareAndSet(from: String?, to: String, succeeded: Bool?)
    }

    /// A short description for failure messages.
    public var description: String {
      let end = returned == .max ? "?" : "\(returned)"
      switch kind {
      case .read(let observed):
        return "client \(client) [\(call), \(end)] read \(key) -> \(observed ?? "absent")"
      case .write(let value):
        return "client \(client) [\(call), \(end)] write \(key) = \(value ?? "absent")"
      case .compareAndSet(let from, let to, let succeeded):
        let outcome = succeeded.map { $0 ? "ok" : "failed" } ?? "unknown"
        return "client \(client) [\(call), \(end)] cas \(key) \(from ?? "absent") -> \(to): \(outcome)"
      }
    }

    /// Applies the operation to `state`: the new state if the operation can take effect there
    /// with the result it observed, nil otherwise.
    func step(_ state: String?) -> String?? {
      switch kind {
      case .read(let observed):
        return observed == state ? .some(state) : nil
      case .write(let value):
        return .some(value)
      case .compareAndSet(let from, let to, let succeeded):
        let matches = state == from
        switch succeeded {
        case true?: return matches ? .some(to) : nil
        case false?: return matches ? nil : .some(state)
        case nil: return .some(matches ? to : state)
        }
      }
    }
  }

  /// The verdict.
  public enum Verdict: Equatable, Sendable {
    /// Every key's history is linearizable.
    case linearizable
    /// The history of `key` is not; `operations` are its operations.
    case violation(key: String, operations: [Operation])
    /// The search for `key` gave up after its step budget.
    case undecided(key: String)
  }

  /// The most search steps per key before giving up.
  public var stepBudget: Int

  /// Creates a checker.
  public init(stepBudget: Int = 5_000_000) {
    self.stepBudget = stepBudget
  }

  /// Checks a whole history, key by key.
  public func check(_ history: [Operation]) -> Verdict {
    let byKey = Dictionary(grouping: history, by: \.key)
    for key in byKey.keys.sorted() {
      let operations = byKey[key] ?? []
      switch checkKey(operations) {
      case true?: continue
      case false?: return .violation(key: key, operations: operations.sorted { $0.call < $1.call })
      case nil: return .undecided(key: key)
      }
    }
    return .linearizable
  }

  /// Whether one key's operations are linearizable, starting from an absent value; nil when the
  /// step budget ran out.
  func checkKey(_ operations: [Operation]) -> Bool? {
    if operations.isEmpty { return true }
    // Events: calls and returns in time order (calls before returns at equal times).
    struct Event {
      var time: UInt64
      var isCall: Bool
      var operation: Int
    }
    var events: [Event] = []
    for (position, operation) in operations.enumerated() {
      events.append(Event(time: operation.call, isCall: true, operation: position))
      events.append(Event(time: operation.returned, isCall: false, operation: position))
    }
    events.sort { ($0.time, $0.isCall ? 0 : 1) < ($1.time, $1.isCall ? 0 : 1) }
    // A doubly linked list over the events, so that linearized operations can be lifted out.
    let count = events.count
    var next = Array(1...count)
    var previous = Array(-1..<(count - 1))
    var head = 0
    var callPosition = [Int](repeating: 0, count: operations.count)
    var returnPosition = [Int](repeating: 0, count: operations.count)
    for (position, event) in events.enumerated() {
      if event.isCall {
        callPosition[event.operation] = position
      } else {
        returnPosition[event.operation] = position
      }
    }
    func unlink(_ position: Int) {
      let before = previous[position]
      let after = next[position]
      if before >= 0 { next[before] = after } else { head = after }
      if after < count { previous[after] = before }
    }
    func relink(_ position: Int) {
      let before = previous[position]
      let after = next[position]
      if before >= 0 { next[before] = position } else { head = position }
      if after < count { previous[after] = position }
    }

    var linearized = Bits(count: operations.count)
    var seen = Set<Memo>()
    var stack: [(operation: Int, state: String?)] = []
    var state: String? = nil
    var cursor = head
    var steps = 0
    while head < count {
      steps += 1
      if steps > stepBudget { return nil }
      if cursor >= count {
        return false
      }
      let event = events[cursor]
      if event.isCall {
        let operation = event.operation
        if let newState = operations[operation].step(state) {
          var candidate = linearized
          candidate.set(operation)
          if seen.insert(Memo(bits: candidate, state: newState)).inserted {
            stack.append((operation, state))
            state = newState
            linearized = candidate
            unlink(callPosition[operation])
            unlink(returnPosition[operation])
            cursor = head
            continue
          }
        }
        cursor = next[cursor]
      } else {
        // A return before its operation was linearized: undo the last choice.
        guard let last = stack.popLast() else { return false }
        state = last.state
        linearized.clear(last.operation)
        relink(returnPosition[last.operation])
        relink(callPosition[last.operation])
        cursor = next[callPosition[last.operation]]
      }
    }
    return true
  }

  private struct Memo: Hashable {
    var bits: Bits
    var state: String?
  }

  private struct Bits: Hashable {
    var words: [UInt64]

    init(count: Int) {
      words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    mutating func set(_ position: Int) {
      words[position / 64] |= 1 << UInt64(position % 64)
    }

    mutating func clear(_ position: Int) {
      words[position / 64] &= ~(1 << UInt64(position % 64))
    }
  }
}
