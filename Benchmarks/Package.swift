// swift-tools-version:6.2
import PackageDescription

// Benchmarks live in their own package so that users of WebRaft never resolve or build them.
// Build and run in release:  cd Benchmarks && swift build -c release && .build/release/StorageBenchmark
let package = Package(
  name: "WebRaftBenchmarks",
  platforms: [.macOS(.v15)],
  dependencies: [
    .package(name: "WebRaft", path: ".."),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
  ],
  targets: [
    // Counts heap allocations by interposing malloc and friends (benchmarks only).
    .target(name: "MallocCounter"),
    // What the benchmarks share: the closed loop, command-line flags, a counting state machine.
    .target(
      name: "BenchmarkSupport", dependencies: [.product(name: "WebRaft", package: "WebRaft")],
      swiftSettings: [.treatAllWarnings(as: .error)]),
    // core-batch1/64/1000: the pure core, three nodes in one process (compare: rawbench).
    .executableTarget(
      name: "CoreBenchmark",
      dependencies: [.product(name: "WebRaft", package: "WebRaft"), "MallocCounter", "BenchmarkSupport"],
      swiftSettings: [.treatAllWarnings(as: .error)]
    ),
    // runtime-w1/w256: the RaftNode runtime on the in-memory transport (compare: hcbench inmem).
    .executableTarget(
      name: "RuntimeBenchmark",
      dependencies: [
        .product(name: "WebRaft", package: "WebRaft"), "MallocCounter", "BenchmarkSupport",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: [.treatAllWarnings(as: .error)]
    ),
    // Appends with group commit against a raw write + fdatasync loop, and restart of a large log.
    .executableTarget(
      name: "StorageBenchmark",
      dependencies: [.product(name: "WebRaftFileStorage", package: "WebRaft")],
      swiftSettings: [.treatAllWarnings(as: .error)]
    ),
    // tcp-w1/w256: three RaftNodes over WebRaftNIO's TCP transport on loopback (compare: hcbench tcp).
    .executableTarget(
      name: "TCPBenchmark",
      dependencies: [
        .product(name: "WebRaft", package: "WebRaft"),
        .product(name: "WebRaftNIO", package: "WebRaft"), "MallocCounter", "BenchmarkSupport",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: [.treatAllWarnings(as: .error)]
    ),
    // The floor under tcp-w1: the kernel's cost of one commit's four loopback TCP messages, in C
    // with no Raft and no event-loop library.
    .executableTarget(name: "LoopbackFloor"),
    // The long fuzz run of the message codec and the frame decoder (shares its fuzzer source with
    // WebRaftNIOTests by a symbolic link).
    .executableTarget(
      name: "WireFuzz",
      dependencies: [
        .product(name: "WebRaft", package: "WebRaft"),
        .product(name: "WebRaftNIO", package: "WebRaft"),
        .product(name: "NIOCore", package: "swift-nio"),
      ],
      swiftSettings: [.treatAllWarnings(as: .error)]
    ),
  ],
  swiftLanguageModes: [.v6]
)
