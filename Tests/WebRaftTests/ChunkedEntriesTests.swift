import Testing

@testable import WebRaft

/// The chunked entry store under the core's log and the in-memory storage, checked against a
/// plain array doing the same operations.
@Suite("Core: chunked log entries")
struct ChunkedEntriesTests {
  private let chunk = ChunkedEntries.chunkCapacity

  private func entries(_ range: ClosedRange<UInt64>) -> [LogEntry] {
    range.map { entry($0, 1, "c\($0)") }
  }

  @Test("appending across chunk boundaries keeps order, positions and the last entry")
  func appendAcrossChunks() {
    let model = entries(1...UInt64(3 * chunk + 5))
    var held = ChunkedEntries()
    for entry in model { held.append(entry) }
    #expect(held.count == model.count)
    #expect(held.array == model)
    #expect(held.last == model.last)
    for position in [0, chunk - 1, chunk, 2 * chunk, model.count - 1] {
      #expect(held[position] == model[position], "position \(position)")
    }
    #expect(held.copy((chunk - 2)..<(chunk + 3)) == Array(model[(chunk - 2)..<(chunk + 3)]))
  }

  @Test("dropping a prefix across chunks, then appending, matches the array")
  func removeFirstThenAppend() {
    var model = entries(1...UInt64(2 * chunk + 10))
    var held = ChunkedEntries(model)
    held.removeFirst(chunk + 3)
    model.removeFirst(chunk + 3)
    #expect(held.array == model)
    #expect(held[0] == model[0])
    let more = entries(UInt64(2 * chunk + 11)...UInt64(3 * chunk + 20))
    held.append(contentsOf: more)
    model.append(contentsOf: more)
    #expect(held.array == model)
    #expect(held.count == model.count)
  }

  @Test("dropping a suffix back into an earlier chunk, then appending, matches the array")
  func removeLastThenAppend() {
    var model = entries(1...UInt64(3 * chunk))
    var held = ChunkedEntries(model)
    held.removeFirst(7)
    model.removeFirst(7)
    held.removeLast(chunk + 5)
    model.removeLast(chunk + 5)
    #expect(held.array == model)
    let replacement = entries(900_000...900_010)
    held.append(contentsOf: replacement)
    model.append(contentsOf: replacement)
    #expect(held.array == model)
    #expect(held.last == model.last)
  }

  @Test("removing everything from either end leaves an empty store that works again")
  func removeEverything() {
    var held = ChunkedEntries(entries(1...UInt64(chunk + 1)))
    held.removeFirst(held.count)
    #expect(held.isEmpty && held.last == nil && held.array.isEmpty)
    held.append(contentsOf: entries(1...3))
    held.removeLast(3)
    #expect(held.isEmpty)
    held.append(entry(1, 2))
    #expect(held.array == [entry(1, 2)])
  }

  @Test("a copy is independent of later changes to the original")
  func valueSemantics() {
    var held = ChunkedEntries(entries(1...UInt64(chunk + 2)))
    let copy = held
    held.removeLast(3)
    held.append(entry(9_999, 4))
    held.removeFirst(1)
    #expect(copy.array == entries(1...UInt64(chunk + 2)))
    #expect(copy != held)
    #expect(copy == ChunkedEntries(entries(1...UInt64(chunk + 2))))
  }

  @Test("seeded random operations agree with an array model", arguments: [1, 2, 3, 4] as [UInt64])
  func randomAgainstModel(seed: UInt64) {
    var random = SplitMix64(seed: seed)
    var model: [LogEntry] = []
    var held = ChunkedEntries()
    var next: UInt64 = 1
    for step in 0..<3_000 {
      switch random.next() % 4 {
      case 0, 1:
        let batch = Int(random.next() % UInt64(chunk / 2))
        let added = (0..<batch).map { offset in entry(next + UInt64(offset), 1) }
        next += UInt64(batch)
        model.append(contentsOf: added)
        held.append(contentsOf: added)
      case 2:
        let k = model.isEmpty ? 0 : Int(random.next() % UInt64(model.count + 1))
        model.removeFirst(k)
        held.removeFirst(k)
      default:
        let k = model.isEmpty ? 0 : Int(random.next() % UInt64(min(model.count, chunk * 2) + 1))
        model.removeLast(k)
        held.removeLast(k)
      }
      #expect(held.count == model.count, "seed \(seed) step \(step)")
      if !model.isEmpty {
        let position = Int(random.next() % UInt64(model.count))
        #expect(held[position] == model[position], "seed \(seed) step \(step)")
        #expect(held.last == model.last, "seed \(seed) step \(step)")
      }
    }
    #expect(held.array == model, "seed \(seed)")
  }
}
