import Testing

@testable import WebRaft

/// The leader's table of follower progress: sorted members, linear lookup, in-place changes.
@Suite("Core: the progress map")
struct ProgressMapTests {
  private func progress(next: UInt64) -> Progress {
    Progress(next: next, inflightCapacity: 4)
  }

  @Test("members stay sorted whatever the order they are added and removed in")
  func membersStaySorted() {
    var map = ProgressMap()
    for member: NodeID in ["n3", "n1", "n5", "n2", "n4"] { map[member] = progress(next: 1) }
    #expect(map.members == ["n1", "n2", "n3", "n4", "n5"])
    map["n3"] = nil
    map["n1"] = nil
    #expect(map.members == ["n2", "n4", "n5"])
    #expect(map["n3"] == nil)
    map["n0"] = progress(next: 9)
    #expect(map.members == ["n0", "n2", "n4", "n5"])
    #expect(map["n0"]?.next == 9)
    #expect(map.all.map(\.0) == map.members)
  }

  @Test("update and read reach the member's own entry; unknown members give nil")
  func updateAndRead() {
    var map = ProgressMap()
    map["a"] = progress(next: 1)
    map["b"] = progress(next: 1)
    let advanced = map.update("b") { $0.acknowledge(5) }
    #expect(advanced == true)
    #expect(map.read("b") { $0.match } == 5)
    #expect(map.read("a") { $0.match } == 0)
    #expect(map.update("zz") { $0.acknowledge(5) } == nil)
    #expect(map.read("zz") { $0.match } == nil)
    map.updateAll { $0.recentActive = true }
    #expect(map.read("a") { $0.recentActive } == true && map.read("b") { $0.recentActive } == true)
    map.removeAll()
    #expect(map.isEmpty)
  }
}
