import Testing

@testable import WebRaft

@Suite("RaftConfiguration: the seed's timeouts and the limits, validated")
struct RaftConfigurationTests {
  @Test(
    "the defaults are the seed's: elections after 150-300 ms, a heartbeat every 100 ms, a 200 ms follower timeout"
  )
  func seedDefaults() throws {
    let configuration = RaftConfiguration()
    #expect(configuration.electionTimeout == .milliseconds(150)...(.milliseconds(300)))
    #expect(configuration.heartbeatInterval == .milliseconds(100))
    #expect(configuration.heartbeatTimeout == .milliseconds(200))
    #expect(configuration.preVote)
    #expect(configuration.checkQuorum)
    try configuration.validate()
  }

  @Test("the seed's three timeouts can be given together")
  func seedInitializer() throws {
    let configuration = RaftConfiguration(
      electionTimeout: .milliseconds(500)...(.milliseconds(900)), heartbeatInterval: .milliseconds(50),
      heartbeatTimeout: .milliseconds(400))
    #expect(configuration.electionTimeout == .milliseconds(500)...(.milliseconds(900)))
    #expect(configuration.heartbeatInterval == .milliseconds(50))
    #expect(configuration.heartbeatTimeout == .milliseconds(400))
    #expect(configuration.maxInflightAppends == RaftConfiguration().maxInflightAppends)
    try configuration.validate()
  }

  /// One way to get a setting wrong, and the words its error must contain.
  enum BadSetting: String, CaseIterable, Sendable {
    case zeroHeartbeatInterval
    case negativeHeartbeatInterval
    case zeroElectionTimeout
    case heartbeatTimeoutEqualToInterval
    case heartbeatTimeoutBelowInterval
    case electionTimeoutNotAboveHeartbeat
    case zeroInflightAppends
    case zeroEntriesPerAppend
    case zeroBytesPerAppend
    case zeroUncommittedBytes
    case zeroApplyBatch
    case zeroInflightBytes
    case zeroSnapshotEntryInterval
    case negativeSnapshotLogBytes
    case zeroSnapshotChunkSize
    case negativeClockDrift
    case clockDriftNotBelowHeartbeatTimeout

    var configuration: RaftConfiguration {
      var configuration = RaftConfiguration()
      switch self {
      case .zeroHeartbeatInterval: configuration.heartbeatInterval = .zero
      case .negativeHeartbeatInterval: configuration.heartbeatInterval = .milliseconds(-5)
      case .zeroElectionTimeout: configuration.electionTimeout = .zero...(.milliseconds(300))
      case .heartbeatTimeoutEqualToInterval: configuration.heartbeatTimeout = .milliseconds(100)
      case .heartbeatTimeoutBelowInterval: configuration.heartbeatTimeout = .milliseconds(50)
      case .electionTimeoutNotAboveHeartbeat:
        configuration.electionTimeout = .milliseconds(100)...(.milliseconds(300))
      case .zeroInflightAppends: configuration.maxInflightAppends = 0
      case .zeroEntriesPerAppend: configuration.maxEntriesPerAppend = 0
      case .zeroBytesPerAppend: configuration.maxBytesPerAppend = 0
      case .zeroUncommittedBytes: configuration.maxUncommittedBytes = 0
      case .zeroApplyBatch: configuration.maxApplyBatch = -1
      case .zeroInflightBytes: configuration.maxInflightBytes = 0
      case .zeroSnapshotEntryInterval: configuration.snapshotEntryInterval = 0
      case .negativeSnapshotLogBytes: configuration.snapshotLogBytes = -1
      case .zeroSnapshotChunkSize: configuration.snapshotChunkSize = 0
      case .negativeClockDrift: configuration.maxClockDrift = .milliseconds(-1)
      case .clockDriftNotBelowHeartbeatTimeout: configuration.maxClockDrift = .milliseconds(200)
      }
      return configuration
    }

    /// Words the error message must contain: the setting's name, and what is wrong.
    var expectedWords: [String] {
      switch self {
      case .zeroHeartbeatInterval, .negativeHeartbeatInterval: return ["heartbeatInterval", "at least 1 ms"]
      case .zeroElectionTimeout: return ["electionTimeout", "at least 1 ms"]
      case .heartbeatTimeoutEqualToInterval, .heartbeatTimeoutBelowInterval:
        return ["heartbeatTimeout", "must be above heartbeatInterval"]
      case .electionTimeoutNotAboveHeartbeat: return ["electionTimeout", "above heartbeatInterval"]
      case .zeroInflightAppends: return ["maxInflightAppends", "at least 1", "got 0"]
      case .zeroEntriesPerAppend: return ["maxEntriesPerAppend", "at least 1", "got 0"]
      case .zeroBytesPerAppend: return ["maxBytesPerAppend", "at least 1", "got 0"]
      case .zeroUncommittedBytes: return ["maxUncommittedBytes", "at least 1", "got 0"]
      case .zeroApplyBatch: return ["maxApplyBatch", "at least 1", "got -1"]
      case .zeroInflightBytes: return ["maxInflightBytes", "at least 1", "got 0"]
      case .zeroSnapshotEntryInterval: return ["snapshotEntryInterval", "at least 1 or nil", "got 0"]
      case .negativeSnapshotLogBytes: return ["snapshotLogBytes", "at least 1 or nil", "got -1"]
      case .zeroSnapshotChunkSize: return ["snapshotChunkSize", "at least 1", "got 0"]
      case .negativeClockDrift, .clockDriftNotBelowHeartbeatTimeout:
        return ["maxClockDrift", "below heartbeatTimeout"]
      }
    }
  }

  @Test(
    "validate() rejects every bad setting with invalidConfiguration naming it", arguments: BadSetting.allCases
  )
  func validateRejects(setting: BadSetting) throws {
    let configuration = setting.configuration
    let error = #expect(throws: RaftError.self) { try configuration.validate() }
    guard case .invalidConfiguration(let reason)? = error else {
      Issue.record("expected invalidConfiguration, got \(String(describing: error))")
      return
    }
    for word in setting.expectedWords {
      #expect(reason.contains(word), "\"\(reason)\" should say \"\(word)\"")
    }
    #expect(error?.description.hasPrefix("invalid configuration: ") == true)
  }

  @Test("a core refuses an invalid configuration", arguments: BadSetting.allCases)
  func coreRefusesInvalidConfiguration(setting: BadSetting) {
    #expect(throws: RaftError.self) {
      try RaftCore(id: "a", configuration: setting.configuration, state: .initial(membership: ["a"]), seed: 1)
    }
  }

  @Test("the snapshot triggers can be switched off")
  func snapshotTriggersOptional() throws {
    var configuration = RaftConfiguration()
    configuration.snapshotEntryInterval = nil
    configuration.snapshotLogBytes = nil
    configuration.maxClockDrift = .zero
    try configuration.validate()
  }

  @Test(
    "a heartbeat timeout just above the interval and an election timeout just above the heartbeat are valid")
  func boundariesAreValid() throws {
    let configuration = RaftConfiguration(
      electionTimeout: .milliseconds(101)...(.milliseconds(101)), heartbeatInterval: .milliseconds(100),
      heartbeatTimeout: .milliseconds(101))
    try configuration.validate()
  }

  @Test("a core refuses a stored log with a gap, naming the missing index")
  func coreRefusesNonContiguousLog() {
    let state = PersistentState(
      hardState: HardState(term: 1), snapshot: SnapshotMetadata(index: 0, term: 0, membership: ["a"]),
      entries: [entry(1, 1), entry(3, 1)])
    #expect(throws: RaftError.storageFailed("stored log is not contiguous: expected index 2, found 3")) {
      try RaftCore(id: "a", state: state, seed: 1)
    }
  }

  @Test("durations convert to whole milliseconds for the logical clock")
  func wholeMilliseconds() {
    #expect(Duration.milliseconds(150).wholeMilliseconds == 150)
    #expect(Duration.seconds(2).wholeMilliseconds == 2000)
    #expect(Duration.microseconds(1500).wholeMilliseconds == 1)
    #expect(Duration.milliseconds(-3).wholeMilliseconds == 0)
  }
}
