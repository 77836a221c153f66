import Testing
import WebRaft
import WebRaftTesting

/// Every fuzzer seed that once found a bug, run again on every `swift test`. The simulator has
/// changed since (a seed's schedule follows the simulator's own choices), so a seed no longer
/// replays its original run step for step; each still runs the mix of faults it drew, and the
/// scenario tests named beside each one pin the bug itself.
@Suite("Simulation: fuzzer seeds that once found a bug")
struct PinnedSeedTests {
  @Test("seed 326: a removed voter that held back its vote left the cluster without a leader for good")
  func seed326() throws {
    try FuzzTests.fuzz(seed: 326)
  }

  @Test("seed 497: duplicated answers to snapshot chunks multiplied the transfers")
  func seed497() throws {
    try FuzzTests.fuzz(seed: 497)
  }

  @Test("seed 535: an older snapshot could be restored over a newer one being installed")
  func seed535() throws {
    try FuzzTests.fuzz(seed: 535)
  }

  @Test("seed 1367: a late answer to a resent snapshot chunk moved the leader past the follower for ever")
  func seed1367() throws {
    try FuzzTests.fuzz(seed: 1367)
  }

  @Test("seed 23195: the invariant checker raised a false alarm")
  func seed23195() throws {
    try FuzzTests.fuzz(seed: 23195)
  }
}
