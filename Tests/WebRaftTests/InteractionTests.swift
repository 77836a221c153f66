import Foundation
import Testing

@testable import WebRaft

/// Interaction scripts in the style of etcd's datadriven tests: each file under `testdata/` drives
/// a few cores step by step (``InteractionHarness`` lists the commands) and holds, after each
/// command and a `----` line, the output it must produce: the messages, writes and commits a
/// reviewer reads as the protocol at work.
///
/// A script is a list of blocks separated by blank lines; lines starting with `#` are comments.
/// `WEBRAFT_REWRITE_TESTDATA=1 swift test --filter InteractionTests` rewrites the expected output
/// from what the code does now (then read the diff before committing it).
@Suite("Interaction scripts (testdata/)")
struct InteractionTests {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("testdata")

  static let scripts: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasSuffix(".txt") }.sorted()
  }()

  @Test("the scripts are there")
  func scriptsExist() {
    #expect(Self.scripts.count >= 14, "found \(Self.scripts) in \(Self.directory.path)")
  }

  @Test("each script produces its recorded output", arguments: scripts)
  func script(name: String) throws {
    let url = Self.directory.appendingPathComponent(name)
    let text = try String(contentsOf: url, encoding: .utf8)
    var harness = InteractionHarness()
    var rewritten: [String] = []
    var lines = text.components(separatedBy: "\n")[...]
    var failures = 0
    while let line = lines.first {
      lines = lines.dropFirst()
      if line.isEmpty || line.hasPrefix("#") {
        rewritten.append(line)
        continue
      }
      // A command, `----`, then the expected output up to a blank line.
      guard lines.first == "----" else {
        Issue.record("\(name): the command \"\(line)\" is not followed by ----")
        return
      }
      lines = lines.dropFirst()
      var expected: [String] = []
      while let next = lines.first, !next.isEmpty {
        expected.append(next)
        lines = lines.dropFirst()
      }
      let actual: [String]
      do {
        actual = try harness.run(line)
      } catch {
        actual = ["error: \(error)"]
      }
      let shown = actual.isEmpty ? ["(nothing)"] : actual
      rewritten += [line, "----"] + shown
      if shown != expected && failures < 3 {
        failures += 1
        Issue.record(
          """
          \(name): "\(line)" produced
          \(shown.joined(separator: "\n"))
          but the script expects
          \(expected.joined(separator: "\n"))
          """)
      }
    }
    if ProcessInfo.processInfo.environment["WEBRAFT_REWRITE_TESTDATA"] != nil {
      var output = rewritten.joined(separator: "\n")
      if !output.hasSuffix("\n") { output += "\n" }
      try output.write(to: url, atomically: true, encoding: .utf8)
    }
  }
}
