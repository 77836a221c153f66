// swift-tools-version:6.2
import PackageDescription

/// Settings shared by every target we own: warnings are errors (Swift 6 mode is set below).
let strictSettings: [SwiftSetting] = [
  .treatAllWarnings(as: .error)
]

let package = Package(
  name: "WebRaft",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "WebRaft", targets: ["WebRaft"]),
    .library(name: "WebRaftTesting", targets: ["WebRaftTesting"]),
    .library(name: "WebRaftFileStorage", targets: ["WebRaftFileStorage"]),
    .library(name: "WebRaftNIO", targets: ["WebRaftNIO"]),
    .library(name: "WebRaftNIOTLS", targets: ["WebRaftNIOTLS"]),
    .executable(name: "webraft-example", targets: ["WebRaftExample"]),
    .library(name: "RaftKV", targets: ["RaftKV"]),
    .executable(name: "raftkv", targets: ["raftkv"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    // raftkv only: the HTTP server, the command line and the Prometheus backend.
    .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
  ],
  targets: [
    // The protocol core, the runtime, the binary codec, in-memory storage and transport.
    .target(
      name: "WebRaft",
      dependencies: [
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
      ],
      swiftSettings: strictSettings
    ),
    // The deterministic simulator, the invariant checker and the storage conformance suite.
    .target(
      name: "WebRaftTesting",
      dependencies: [
        "WebRaft",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
      ],
      swiftSettings: strictSettings
    ),
    // CRC-32C with the CPU's instruction where there is one (C, no dependencies).
    .target(name: "CWebRaftCRC32C"),
    // Durable storage: a segmented, checksummed log on local files.
    .target(
      name: "WebRaftFileStorage",
      dependencies: ["WebRaft", "CWebRaftCRC32C", .product(name: "Logging", package: "swift-log")],
      swiftSettings: strictSettings
    ),
    // TCP transport on SwiftNIO.
    .target(
      name: "WebRaftNIO",
      dependencies: [
        "WebRaft",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),
    // Mutual TLS for the TCP transport (builds BoringSSL; only for users who ask for it).
    .target(
      name: "WebRaftNIOTLS",
      dependencies: [
        "WebRaftNIO",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "WebRaftExample",
      dependencies: ["WebRaft", "WebRaftTesting", .product(name: "Logging", package: "swift-log")],
      swiftSettings: strictSettings
    ),
    // A child process for the storage crash tests: appends and acknowledges until killed.
    .executableTarget(
      name: "StorageCrashChild",
      dependencies: ["WebRaft", "WebRaftFileStorage"],
      swiftSettings: strictSettings
    ),
    // The replicated key-value service behind `raftkv`: state machine, HTTP API, dashboard,
    // Maelstrom adapter and a small HTTP/1.1 client.
    .target(
      name: "RaftKV",
      dependencies: [
        "WebRaft", "WebRaftFileStorage", "WebRaftNIO",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
      ],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "raftkv",
      dependencies: [
        "RaftKV",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "WebRaftTests",
      dependencies: [
        "WebRaft", "WebRaftTesting",
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
      ],
      // Interaction scripts, read from the source tree by InteractionTests.
      exclude: ["testdata"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "WebRaftSimulationTests",
      dependencies: ["WebRaft", "WebRaftTesting"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "WebRaftFileStorageTests",
      dependencies: ["WebRaft", "WebRaftTesting", "WebRaftFileStorage"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "WebRaftNIOTests",
      dependencies: [
        "WebRaft", "WebRaftTesting", "WebRaftNIO", "WebRaftNIOTLS", "WebRaftFileStorage",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "RaftKVTests",
      dependencies: [
        "RaftKV", "WebRaft", "WebRaftTesting", "WebRaftNIO",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: strictSettings
    ),
  ],
  swiftLanguageModes: [.v6]
)
