import BenchmarkSupport
// core-batch1 / core-batch64 / core-batch1000: the pure RaftCore, three nodes in one process,
// messages handed over in memory, storage in memory (a Ready's entries count as stored at once),
// 16-byte commands, committed proposals applied on the leader. The same loop as etcd's rawbench:
// propose `batch` commands on the leader, pump every node's Ready and deliver every message until
// the cluster is quiet, check that all were applied on the leader, repeat.
//
//   swift run -c release CoreBenchmark [--batch 64] [--count 200000] [--size 16]
import Foundation
import MallocCounter
import WebRaft

struct Options {
  var batch = 1
  var count = 200_000
  var size = 16

  init(_ arguments: [String]) {
    for (flag, value) in integerFlags(arguments) {
      switch flag {
      case "--batch", "-batch": batch = value
      case "--count", "-n": count = value
      case "--size", "-size": size = value
      default: break
      }
    }
  }
}

let options = Options(CommandLine.arguments)
let ids: [NodeID] = ["n1", "n2", "n3"]
var configuration = RaftConfiguration()
configuration.maxInflightAppends = 256
configuration.maxBytesPerAppend = 1 << 20
configuration.maxUncommittedBytes = 1 << 30
configuration.checkQuorum = false
var cores: [RaftCore] = try ids.enumerated().map { position, id in
  try RaftCore(
    id: id, configuration: configuration, state: .initial(membership: Membership(voters: Set(ids))),
    seed: UInt64(position + 1))
}
var appliedOnLeader = 0
var inFlight: [RaftMessage] = []
inFlight.reserveCapacity(4096)

/// Carries out every node's Ready and delivers every message until nothing is left to do.
@MainActor func pump() {
  while true {
    var progress = false
    for position in cores.indices {
      while let ready = cores[position].ready() {
        progress = true
        inFlight.append(contentsOf: ready.messages)
        if position == 0 {
          for entry in ready.committedEntries {
            if case .command = entry.payload { appliedOnLeader += 1 }
          }
        }
        cores[position].advance()
      }
    }
    if !inFlight.isEmpty {
      progress = true
      let delivering = inFlight
      inFlight.removeAll(keepingCapacity: true)
      for message in delivering {
        switch message.to {
        case "n1": cores[0].step(message)
        case "n2": cores[1].step(message)
        default: cores[2].step(message)
        }
      }
    }
    if !progress { return }
  }
}

pump()
cores[0].campaign()
pump()
guard cores[0].role == .leader else {
  fatalError("n1 did not become leader")
}
let command = Data(repeating: 7, count: options.size)
var latencies: [UInt64] = []
latencies.reserveCapacity(options.count / options.batch + 1)
var requestID: UInt64 = 0
let allocationsBefore = webraft_allocation_count()
let start = DispatchTime.now().uptimeNanoseconds
var done = 0
var lastTick: UInt64 = 0
while done < options.count {
  let roundStart = DispatchTime.now().uptimeNanoseconds
  // Time passes as it does for a real node: timers (heartbeats, delayed commit notices) run.
  let milliseconds = (roundStart - start) / 1_000_000
  if milliseconds > lastTick {
    lastTick = milliseconds
    for position in cores.indices { cores[position].tick(now: milliseconds) }
  }
  let target = appliedOnLeader + options.batch
  for _ in 0..<options.batch {
    requestID += 1
    _ = try cores[0].propose(command, requestID: requestID)
  }
  pump()
  guard appliedOnLeader == target else {
    fatalError("applied \(appliedOnLeader), expected \(target)")
  }
  latencies.append(DispatchTime.now().uptimeNanoseconds - roundStart)
  done += options.batch
}
let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
let allocations = Double(webraft_allocation_count() - allocationsBefore) / Double(done)
latencies.sort()
let p50 = Double(latencies[latencies.count / 2]) / 1000
let p99 = Double(latencies[latencies.count * 99 / 100]) / 1000
print(
  String(
    format:
      "core-batch%d: n=%d size=%d  %.0f commits/s  round p50=%.1fus p99=%.1fus  allocations/commit=%.1f",
    options.batch, done, options.size, Double(done) / elapsed, p50, p99, allocations))
