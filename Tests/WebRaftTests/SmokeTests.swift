import Testing
import WebRaft

@Test func singleNodeElectsItself() throws {
  var core = try RaftCore(id: "a", state: .initial(membership: Membership(voters: ["a"])), seed: 1)
  core.tick(now: 1000)
  #expect(core.role == .leader)
}
