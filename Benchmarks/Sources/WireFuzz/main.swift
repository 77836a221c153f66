// The long fuzz run of WebRaft's wire formats: random and mutated inputs for the message codec
// and the TCP transport's frame decoder (the same fuzzer as WebRaftNIOTests' fuzz test, whose
// source this target shares), in release.
//
//   swift run -c release WireFuzz [--count 1000000] [--seed 1]
import Foundation
import NIOCore
import WebRaft
import WebRaftNIO

var count = 1_000_000
var seed: UInt64 = 0x5EED_CAFE
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let flag = arguments.next() {
  guard let value = arguments.next() else { break }
  switch flag {
  case "--count", "-n": count = Int(value) ?? count
  case "--seed": seed = UInt64(value) ?? seed
  default: break
  }
}

/// Decodes a handshake payload as the transport does (three strings, or one for a refusal).
func decodeHandshake(_ frame: RaftFrame) {
  var reader = BinaryReader(Array(frame.payload.readableBytesView))
  switch frame.kind {
  case .hello:
    _ = try? reader.readString()
    _ = try? reader.readString()
    _ = try? reader.readString()
  case .refusal:
    _ = try? reader.readString()
  case .message:
    break
  }
}

var fuzzer = WireFuzzer(seed: seed, checkHandshake: decodeHandshake)
let start = ContinuousClock.now
for _ in 0..<count {
  do {
    try fuzzer.runOne()
  } catch {
    print("FAILED at input \(fuzzer.tally.inputs) with seed \(seed): \(error)")
    exit(1)
  }
}
let elapsed = ContinuousClock.now - start
print("wire fuzz: seed \(seed), \(fuzzer.tally), \(elapsed)")
