// A child process for the file storage crash tests: it appends batches, changes the hard state
// and takes snapshots in a FileStorage directory, forever, until the test kills it.
//
// Usage: StorageCrashChild <directory> <seed>
//
// It reports on standard output, one line per write(2), so that the parent knows what was
// acknowledged when it killed the child:
//
//   R <lastIndex>                                    opened; the log ends at lastIndex
//   P <first> <count> <term> <hsTerm|-> <vote|-> <commit|->
//                                                    about to persist entries first..<first+count
//                                                    of `term`, with that hard state (- for none)
//   A                                                the last P returned: it is durable
//   S <index> <term> <size>                          about to commit a snapshot of `size` bytes
//   C                                                the last S returned
//
// Entry payloads and snapshot bytes are functions of their index and term (see `command` and
// `snapshotByte`), so the parent can check that what it reads back is intact.

import WebRaftFileStorage

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif
#if canImport(Glibc)
  import Glibc
#endif

/// The command of the entry at `index` with `term`: 8 to 31 bytes.
func command(index: UInt64, term: UInt64) -> Data {
  var state = index &* 0x9E37_79B9_7F4A_7C15 ^ term &* 0xC2B2_AE3D_27D4_EB4F
  let count = 8 + Int(index % 24)
  var bytes = [UInt8](repeating: 0, count: count)
  for position in 0..<count {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    bytes[position] = UInt8(truncatingIfNeeded: state >> 57)
  }
  return Data(bytes)
}

/// The byte at `position` of the snapshot at `index`.
func snapshotByte(index: UInt64, position: Int) -> UInt8 {
  UInt8(truncatingIfNeeded: (index &* 31 &+ UInt64(position) &* 7) ^ (UInt64(position) >> 8))
}

func report(_ line: String) {
  var text = line + "\n"
  text.withUTF8 { bytes in
    var done = 0
    while done < bytes.count {
      let written = write(1, bytes.baseAddress! + done, bytes.count - done)
      if written <= 0 { exit(3) }
      done += written
    }
  }
}

func fail(_ message: String) -> Never {
  let text = "StorageCrashChild: \(message)\n"
  _ = text.withCString { write(2, $0, strlen($0)) }
  exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count == 3, let seed = UInt64(arguments[2]) else {
  fail("usage: StorageCrashChild <directory> <seed>")
}
let storage: FileStorage
do {
  storage = try FileStorage(
    directory: arguments[1], configuration: FileStorage.Configuration(segmentSize: 32 << 10))
} catch {
  fail("cannot open: \(error)")
}

var random = SplitMix64(seed: seed)
@MainActor func roll(_ range: ClosedRange<UInt64>) -> UInt64 {
  UInt64.random(in: range, using: &random)
}

do {
  var state: PersistentState
  if let loaded = try await storage.load() {
    state = loaded
  } else {
    state = .initial(membership: ["a", "b", "c"])
    try await storage.initialize(state)
  }
  // Terms of the live entries, to snapshot with the right term.
  var terms = state.entries.map(\.term)
  var base = state.snapshot.index
  var hardState = state.hardState
  var lastIndex: UInt64 { base + UInt64(terms.count) }
  report("R \(lastIndex)")

  while true {
    let choice = roll(0...99)
    if choice < 6, terms.count > 10 {
      let index = base + roll(1...UInt64(terms.count - 5))
      let term = terms[Int(index - base) - 1]
      let size = Int(roll(0...40_000))
      report("S \(index) \(term) \(size)")
      let writer = try await storage.beginSnapshot(
        SnapshotMetadata(index: index, term: term, membership: ["a", "b", "c"]))
      var offset = 0
      while offset < size {
        let end = min(size, offset + 8_192)
        try await writer.write(Data((offset..<end).map { snapshotByte(index: index, position: $0) }))
        offset = end
      }
      try await writer.commit()
      terms.removeFirst(Int(index - base))
      base = index
      hardState.commitIndex = max(hardState.commitIndex, index)
      report("C")
      continue
    }
    var newHardState: HardState?
    var first = lastIndex + 1
    if choice < 15 {
      hardState.term += 1
      hardState.votedFor = ["a", "b", "c", nil][Int(roll(0...3))]
      hardState.commitIndex = max(hardState.commitIndex, lastIndex / 2)
      newHardState = hardState
      if choice < 10, !terms.isEmpty {
        // A new leader replaced some of our suffix.
        first = max(base + 1, lastIndex + 1 - roll(0...min(5, UInt64(terms.count))))
      }
    }
    let count = choice == 99 ? roll(100...400) : roll(0...20)
    if count == 0 && newHardState == nil { continue }
    let term = hardState.term
    let entries = (0..<count).map { offset in
      let index = first + offset
      return LogEntry(index: index, term: term, payload: .command(command(index: index, term: term)))
    }
    let stateText =
      newHardState.map { "\($0.term) \($0.votedFor?.rawValue ?? "-") \($0.commitIndex)" } ?? "- - -"
    report("P \(first) \(count) \(term) \(stateText)")
    try await storage.persist(hardState: newHardState, entries: entries)
    report("A")
    if count > 0 {
      terms.removeLast(terms.count - Int(first - base - 1))
      terms.append(contentsOf: repeatElement(term, count: Int(count)))
    }
  }
} catch {
  fail("\(error)")
}
