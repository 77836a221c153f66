import Metrics

/// The metrics a node reports through swift-metrics, under the `webraft_` prefix with a `node`
/// dimension. Bootstrap any swift-metrics backend (Prometheus, StatsD, …) to collect them.
struct RaftMetrics: Sendable {
  let term: Gauge
  let commitIndex: Gauge
  let appliedIndex: Gauge
  let isLeader: Gauge
  let leaderChanges: Counter
  let elections: Counter
  let proposals: Counter
  let proposalFailures: Counter
  let proposalDuration: Timer
  let persistDuration: Timer
  let applyDuration: Timer
  let snapshots: Counter
  let snapshotBytes: Gauge
  let messagesSent: Counter
  let entryBytesSent: Counter
  let readRequests: Counter

  init(node: NodeID) {
    let dimensions = [("node", node.rawValue)]
    term = Gauge(label: "webraft_term", dimensions: dimensions)
    commitIndex = Gauge(label: "webraft_commit_index", dimensions: dimensions)
    appliedIndex = Gauge(label: "webraft_applied_index", dimensions: dimensions)
    isLeader = Gauge(label: "webraft_is_leader", dimensions: dimensions)
    leaderChanges = Counter(label: "webraft_leader_changes_total", dimensions: dimensions)
    elections = Counter(label: "webraft_elections_total", dimensions: dimensions)
    proposals = Counter(label: "webraft_proposals_total", dimensions: dimensions)
    proposalFailures = Counter(label: "webraft_proposal_failures_total", dimensions: dimensions)
    proposalDuration = Timer(label: "webraft_proposal_duration_seconds", dimensions: dimensions)
    persistDuration = Timer(label: "webraft_persist_duration_seconds", dimensions: dimensions)
    applyDuration = Timer(label: "webraft_apply_duration_seconds", dimensions: dimensions)
    snapshots = Counter(label: "webraft_snapshots_total", dimensions: dimensions)
    snapshotBytes = Gauge(label: "webraft_snapshot_bytes", dimensions: dimensions)
    messagesSent = Counter(label: "webraft_messages_sent_total", dimensions: dimensions)
    entryBytesSent = Counter(label: "webraft_entry_bytes_sent_total", dimensions: dimensions)
    readRequests = Counter(label: "webraft_read_requests_total", dimensions: dimensions)
  }
}

extension Timer {
  /// Records a duration measured with a Swift clock.
  func record(duration: Duration) {
    let (seconds, attoseconds) = duration.components
    recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
  }
}
