import NIOCore
import Testing
import WebRaft

@testable import WebRaftNIO

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Random and mutated inputs for the codec and the frame decoder: 20,000 by default, any number
/// with the environment variable WEBRAFT_CODEC_FUZZ (and a seed with WEBRAFT_CODEC_FUZZ_SEED).
@Suite("Fuzzing")
struct FuzzTests {
  @Test("random and mutated inputs are rejected or decode consistently")
  func fuzzCodecAndFrames() throws {
    let environment = ProcessInfo.processInfo.environment
    let count = environment["WEBRAFT_CODEC_FUZZ"].flatMap { Int($0) } ?? 20_000
    let seed = environment["WEBRAFT_CODEC_FUZZ_SEED"].flatMap { UInt64($0) } ?? 0x5EED_CAFE
    var fuzzer = WireFuzzer(seed: seed) { frame in
      switch frame.kind {
      case .hello: _ = try? Hello.decode(frame.payload)
      case .refusal: _ = try? Refusal.decode(frame.payload)
      case .message: break
      }
    }
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<count {
      do {
        try fuzzer.runOne()
      } catch {
        Issue.record("seed \(seed), input \(fuzzer.tally.inputs): \(error)")
        return
      }
    }
    let tally = fuzzer.tally
    #expect(tally.inputs == count)
    // The mix must exercise both outcomes on both layers.
    if count >= 1_000 {
      #expect(tally.messagesDecoded > 0)
      #expect(tally.messagesRejected > 0)
      #expect(tally.framesDecoded > 0)
      #expect(tally.streamsRejected > 0)
    }
    if environment["WEBRAFT_CODEC_FUZZ"] != nil {
      print("fuzz: seed \(seed), \(tally), \(clock.now - start)")
    }
  }
}
