import WebRaft
import WebRaftTesting

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// What a storage holds: its state as `load()` returns it and the bytes of its snapshot (empty
/// when the log starts at index 0).
struct StoredState: Equatable {
  var state: PersistentState
  var snapshotData: Data

  init(state: PersistentState, snapshotData: Data) {
    self.state = state
    self.snapshotData = snapshotData
  }

  /// What the simulator says a node's storage holds.
  init(_ storage: SimulatedStorage) {
    state = storage.state
    snapshotData = storage.snapshotData
  }

  /// One line: snapshot, hard state and the range of entries.
  var summary: String {
    let hard = state.hardState
    var text =
      "snapshot \(state.snapshot.index)/\(state.snapshot.term) (\(snapshotData.count) bytes), term \(hard.term) "
      + "vote \(hard.votedFor?.rawValue ?? "none") commit \(hard.commitIndex), "
    if let first = state.entries.first, let last = state.entries.last {
      text += "entries \(first.index)...\(last.index) (last term \(last.term))"
    } else {
      text += "no entries"
    }
    return text
  }
}

/// The write a crash interrupted, as the storage contract sees it.
enum InterruptedWrite {
  /// `initialize(_:)` of a new node.
  case initialize
  /// `persist(hardState:entries:)`.
  case persist(hardState: HardState?, entries: [LogEntry])
  /// A snapshot commit.
  case snapshot(SnapshotMetadata)

  var summary: String {
    switch self {
    case .initialize:
      return "initialize"
    case .persist(let hardState, let entries):
      var parts: [String] = []
      if let hardState {
        parts.append(
          "term \(hardState.term) vote \(hardState.votedFor?.rawValue ?? "none") commit \(hardState.commitIndex)"
        )
      }
      if let first = entries.first, let last = entries.last {
        parts.append("entries \(first.index)...\(last.index)")
      }
      return "persist " + (parts.isEmpty ? "nothing" : parts.joined(separator: ", "))
    case .snapshot(let metadata):
      return "snapshot commit at \(metadata.index)/\(metadata.term)"
    }
  }
}

/// The `RaftStorage` contract for a crash in the middle of one write, checked on what a storage
/// recovered.
///
/// Everything acknowledged before the write (`before`) must be there, identical; the term and
/// vote must not go back; what the storage holds beyond it must come from the interrupted write
/// only: its hard state, and a prefix of its entries in their places (a conflicting suffix they
/// replace may be gone only when some of them are there); a snapshot must be the old one with
/// the old log or the new one with the log its commit leaves.
enum StorageContractCheck {
  /// The ways `recovered` breaks the contract, empty when it keeps it.
  ///
  /// - Parameters:
  ///   - recovered: What the storage loaded, nil for a new node.
  ///   - before: What was acknowledged before the write, nil when the write initialized the node.
  ///   - write: The interrupted write.
  ///   - after: What the storage holds once the write is done.
  static func violations(
    recovered: StoredState?, before: StoredState?, write: InterruptedWrite, after: StoredState
  ) -> [String] {
    guard let before else {
      // Initialization: either nothing (the node starts as new again) or the initial state.
      if let recovered, recovered != after {
        return ["after an interrupted initialization it holds \(recovered.summary), not \(after.summary)"]
      }
      return []
    }
    guard let recovered else {
      return ["it came back as a new node although it had acknowledged \(before.summary)"]
    }
    var problems: [String] = []
    let old = before.state.hardState
    let now = recovered.state.hardState
    if now.term < old.term {
      problems.append("the term went back from \(old.term) to \(now.term)")
    } else if now.term == old.term, let vote = old.votedFor, now.votedFor != vote {
      problems.append(
        "the vote of term \(old.term) changed from \(vote) to \(now.votedFor?.rawValue ?? "none")")
    }
    if now != old, now != after.state.hardState {
      problems.append(
        "the hard state \(now) is neither the acknowledged one \(old) nor the one being written "
          + "\(after.state.hardState)")
    }
    switch write {
    case .initialize:
      if recovered != before { problems.append("it holds \(recovered.summary), not \(before.summary)") }
    case .snapshot:
      if recovered != before, recovered != after {
        problems.append(
          "it holds \(recovered.summary), which is neither the state before the snapshot commit "
            + "(\(before.summary)) nor after it (\(after.summary))")
      }
    case .persist(_, let batch):
      if recovered.state.snapshot != before.state.snapshot || recovered.snapshotData != before.snapshotData {
        problems.append(
          "the snapshot changed from \(before.state.snapshot.index)/\(before.state.snapshot.term) to "
            + "\(recovered.state.snapshot.index)/\(recovered.state.snapshot.term) in a write of entries")
      } else if let problem = entriesProblem(
        recovered.state.entries, acknowledged: before.state.entries, base: before.state.snapshot.index,
        batch: batch)
      {
        problems.append(problem)
      }
    }
    return problems
  }

  /// Why `entries` is not the acknowledged log with a prefix of `batch` written in place, or nil.
  static func entriesProblem(
    _ entries: [LogEntry], acknowledged: [LogEntry], base: UInt64, batch: [LogEntry]
  ) -> String? {
    if entries == acknowledged { return nil }
    let live = batch.filter { $0.index > base }
    // Acknowledged entries before the first one the batch replaces must be there, identical.
    let keep = live.first.map { Int($0.index - base - 1) } ?? acknowledged.count
    let common = zip(entries, acknowledged).prefix { $0 == $1 }.count
    if common < min(keep, acknowledged.count) {
      let index = base + UInt64(common) + 1
      if common >= entries.count {
        return
          "acknowledged entry \(index) (term \(acknowledged[common].term)) and the ones after it are missing"
      }
      return
        "entry \(index) holds term \(entries[common].term) \(entries[common].payload), but term "
        + "\(acknowledged[common].term) \(acknowledged[common].payload) was acknowledged there"
    }
    guard entries.count > keep else {
      return
        "acknowledged entries \(base + UInt64(entries.count) + 1)...\(base + UInt64(acknowledged.count)) are gone, "
        + "and none of the entries replacing them is there"
    }
    let extra = entries[keep...]
    guard extra.count <= live.count, zip(extra, live).allSatisfy({ $0 == $1 }) else {
      let position = zip(extra, live).prefix { $0 == $1 }.count
      let entry = extra[extra.startIndex + position]
      return
        "entry \(entry.index) (term \(entry.term)) beyond the acknowledged log is not the entry that was "
        + "being written there (entries written: \(live.first?.index ?? 0)...\(live.last?.index ?? 0))"
    }
    return nil
  }
}
