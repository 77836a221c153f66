#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A small key-value state machine for the simulator: string keys and values, puts and
/// compare-and-sets, built by replaying the entries a simulated node applied.
///
/// The ``ClusterSimulator`` keeps each node's state machine as the list of entries it applied (or
/// restored from a snapshot); this type gives that list a meaning. Every command carries an
/// operation identifier, and the store remembers the response it gave to each one (the client
/// session table of the Raft dissertation, §6.3): a command applied a second time changes nothing
/// and is counted in ``duplicates``. Entries that are not ``Command``s (no-ops, membership changes,
/// other tests' commands) are skipped.
public struct SimulatedKeyValueStore: Hashable, Sendable {
  /// A write a client asks for: a put or a compare-and-set on one key.
  public struct Command: Hashable, Sendable {
    /// What the command does to its key.
    public enum Action: Hashable, Sendable {
      /// Sets the key to the value.
      case put(String)
      /// Sets the key to `new` if it holds `expected` (nil: the key is absent).
      case compareAndSet(expected: String?, new: String)
    }

    /// Identifies the client operation, unique within a workload.
    public var operationID: UInt64
    /// The key.
    public var key: String
    /// What it does.
    public var action: Action

    /// Creates a command. Keys and values must not contain spaces, and a value must not be `-`
    /// (the encoding of an absent value).
    public init(operationID: UInt64, key: String, action: Action) {
      self.operationID = operationID
      self.key = key
      self.action = action
    }

    /// The command as the bytes of a log entry: readable text such as `kv 7 cas x - c1.3`.
    public var encoded: Data {
      switch action {
      case .put(let value):
        return Data("kv \(operationID) put \(key) \(value)".utf8)
      case .compareAndSet(let expected, let new):
        return Data("kv \(operationID) cas \(key) \(expected ?? "-") \(new)".utf8)
      }
    }

    /// Decodes a command from the bytes of a log entry; nil when they are not one.
    public init?(decoding data: Data) {
      let words = String(decoding: data, as: UTF8.self).split(separator: " ").map(String.init)
      guard words.count >= 5, words[0] == "kv", let operationID = UInt64(words[1]) else { return nil }
      switch (words[2], words.count) {
      case ("put", 5):
        self.init(operationID: operationID, key: words[3], action: .put(words[4]))
      case ("cas", 6):
        let expected = words[4] == "-" ? nil : words[4]
        self.init(
          operationID: operationID, key: words[3], action: .compareAndSet(expected: expected, new: words[5]))
      default:
        return nil
      }
    }
  }

  /// What the store answered to a command.
  public enum Response: Hashable, Sendable {
    /// The put was applied.
    case written
    /// The compare-and-set found the expected value (and set the new one) or did not.
    case compared(succeeded: Bool)
  }

  /// The value of every present key.
  public private(set) var values: [String: String] = [:]
  /// The response to every command applied so far, by operation identifier.
  public private(set) var responses: [UInt64: Response] = [:]
  /// The index of the last entry applied.
  public private(set) var appliedIndex: UInt64 = 0
  /// The number of commands found in the log a second time (and ignored).
  public private(set) var duplicates = 0

  /// Creates an empty store.
  public init() {}

  /// Creates the store that results from applying `entries` in order.
  public init(replaying entries: some Sequence<LogEntry>) {
    for entry in entries { apply(entry) }
  }

  /// The value of `key`, nil when absent.
  public subscript(key: String) -> String? { values[key] }

  /// Applies one log entry (the next one after ``appliedIndex``).
  public mutating func apply(_ entry: LogEntry) {
    appliedIndex = entry.index
    guard case .command(let data) = entry.payload, let command = Command(decoding: data) else { return }
    guard responses[command.operationID] == nil else {
      duplicates += 1
      return
    }
    switch command.action {
    case .put(let value):
      values[command.key] = value
      responses[command.operationID] = .written
    case .compareAndSet(let expected, let new):
      let succeeded = values[command.key] == expected
      if succeeded { values[command.key] = new }
      responses[command.operationID] = .compared(succeeded: succeeded)
    }
  }
}
