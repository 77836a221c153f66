// swift-tools-version:6.2
import PackageDescription

/// Settings shared by every target we own: Swift 6 language mode and warnings as errors.
let strictSettings: [SwiftSetting] = [
  .treatAllWarnings(as: .error)
]

let package = Package(
  name: "WebRaft",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "WebRaft", targets: ["WebRaft"]),
    .library(name: "WebRaftTesting", targets: ["WebRaftTesting"]),
    .executable(name: "webraft-example", targets: ["WebRaftExample"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2")
  ],
  targets: [
    .target(
      name: "WebRaft",
      dependencies: [.product(name: "Logging", package: "swift-log")],
      swiftSettings: strictSettings
    ),
    .target(
      name: "WebRaftTesting",
      dependencies: ["WebRaft", .product(name: "Logging", package: "swift-log")],
      swiftSettings: strictSettings
    ),
    .executableTarget(
      name: "WebRaftExample",
      dependencies: ["WebRaft", "WebRaftTesting", .product(name: "Logging", package: "swift-log")],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "WebRaftTests",
      dependencies: ["WebRaft", "WebRaftTesting"],
      swiftSettings: strictSettings
    ),
    .testTarget(
      name: "WebRaftSimulationTests",
      dependencies: ["WebRaft", "WebRaftTesting"],
      swiftSettings: strictSettings
    ),
  ],
  swiftLanguageModes: [.v6]
)
