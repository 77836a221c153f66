import Testing

@testable import WebRaft

@Suite("Inflights: the bounded window of appends in flight")
struct InflightsTests {
  @Test("the window fills at its capacity and frees by acknowledged index")
  func fillAndFree() {
    var window = Inflights(capacity: 3)
    #expect(window.count == 0)
    #expect(!window.isFull)
    window.add(2)
    window.add(5)
    #expect(!window.isFull)
    window.add(9)
    #expect(window.count == 3)
    #expect(window.isFull)
    window.free(upTo: 1)
    #expect(window.count == 3, "nothing at or below index 1 was in flight")
    window.free(upTo: 5)
    #expect(window.count == 1, "the appends ending at 2 and 5 are acknowledged")
    #expect(!window.isFull)
    window.free(upTo: 4)
    #expect(window.count == 1, "an older acknowledgement frees nothing more")
    window.free(upTo: 100)
    #expect(window.count == 0)
  }

  @Test("an acknowledgement between two appends frees only the ones it covers")
  func partialAcknowledgement() {
    var window = Inflights(capacity: 10)
    for index in [10, 20, 30, 40] as [UInt64] { window.add(index) }
    window.free(upTo: 25)
    #expect(window.count == 2)
    window.add(50)
    window.free(upTo: 40)
    #expect(window.count == 1)
  }

  @Test("the window also fills by payload bytes, but always lets one append through")
  func byteLimit() {
    var window = Inflights(capacity: 10, byteCapacity: 100)
    #expect(!window.isFull)
    window.add(1, bytes: 60)
    #expect(!window.isFull)
    window.add(2, bytes: 50)
    #expect(window.bytes == 110)
    #expect(window.isFull, "110 bytes in flight of 100")
    window.free(upTo: 1)
    #expect(window.bytes == 50)
    #expect(!window.isFull)
    window.free(upTo: 2)
    #expect(window.bytes == 0)
    window.add(3, bytes: 5000)
    #expect(window.count == 1, "an append larger than the byte window is sent alone")
    #expect(window.isFull)
    window.reset()
    #expect(window.bytes == 0)
    #expect(!window.isFull)
  }

  @Test("freeFirst forgets exactly the oldest append")
  func freeFirst() {
    var window = Inflights(capacity: 2)
    window.add(3)
    window.add(7)
    #expect(window.isFull)
    window.freeFirst()
    #expect(window.count == 1)
    #expect(!window.isFull)
    window.freeFirst()
    #expect(window.count == 0)
    window.freeFirst()
    #expect(window.count == 0, "freeing an empty window does nothing")
  }

  @Test("reset forgets everything")
  func reset() {
    var window = Inflights(capacity: 4)
    for index in 1...4 as ClosedRange<UInt64> { window.add(index) }
    window.reset()
    #expect(window.count == 0)
    #expect(!window.isFull)
    window.add(9)
    window.free(upTo: 8)
    #expect(window.count == 1)
  }

  @Test("a long-running window stays correct as it reuses its storage")
  func longRun() {
    var window = Inflights(capacity: 300)
    var next: UInt64 = 1
    var acknowledged: UInt64 = 0
    var inFlight: [UInt64] = []
    var random = SplitMix64(seed: 42)
    for _ in 0..<10_000 {
      if !window.isFull, Bool.random(using: &random) {
        window.add(next)
        inFlight.append(next)
        next += UInt64.random(in: 1...3, using: &random)
      } else if let last = inFlight.last {
        acknowledged = min(last, acknowledged + UInt64.random(in: 0...8, using: &random))
        window.free(upTo: acknowledged)
        inFlight.removeAll { $0 <= acknowledged }
      }
      #expect(window.count == inFlight.count)
      #expect(window.isFull == (inFlight.count >= 300))
    }
  }
}
