extension RaftCore {
  /// AppendEntries receiver rules (Figure 2): reject when the log has no entry at
  /// `prevLogIndex` with `prevLogTerm`; delete a conflicting suffix only; append what is new;
  /// advance the commit index to min(`leaderCommit`, index of the last new entry).
  mutating func handleAppendEntries(_ append: AppendEntries, from sender: NodeID) {
    var previousIndex = append.prevLogIndex
    var previousTerm = append.prevLogTerm
    var offered = append.entries[...]
    let committed = log.commitIndex
    if previousIndex < committed {
      // Entries up to the commit index are in every later leader's log: skip them.
      offered = offered.drop { $0.index <= committed }
      previousIndex = committed
      guard let termAtCommit = log.term(at: committed) else { return }
      previousTerm = termAtCommit
      if offered.isEmpty {
        send(to: sender, .appendEntriesResponse(AppendEntriesResponse(success: true, index: committed)))
        return
      }
      guard offered.first?.index == committed + 1 else { return }  // A malformed append.
    }
    guard isContiguous(offered, after: previousIndex) else { return }
    switch log.offer(prevIndex: previousIndex, prevTerm: previousTerm, newEntries: Array(offered)) {
    case .mismatch:
      let response: AppendEntriesResponse
      if previousIndex > log.lastIndex {
        response = AppendEntriesResponse(
          success: false, index: previousIndex, conflictTerm: nil, conflictIndex: log.lastIndex + 1)
      } else {
        response = AppendEntriesResponse(
          success: false, index: previousIndex, conflictTerm: log.term(at: previousIndex),
          conflictIndex: log.firstIndex(ofTermAt: previousIndex))
      }
      send(to: sender, .appendEntriesResponse(response))
    case .appended(let lastNewIndex, let appendedFrom, let truncatedFrom):
      if let appendedFrom {
        membershipLogReplaced(
          truncatedFrom: truncatedFrom, appended: offered.drop { $0.index < appendedFrom })
      }
      _ = log.commit(to: min(append.leaderCommit, lastNewIndex))
      send(to: sender, .appendEntriesResponse(AppendEntriesResponse(success: true, index: lastNewIndex)))
    case .conflictsWithCommitted:
      // Only a broken or forged leader asks to overwrite committed entries: refuse silently.
      return
    }
  }

  private func isContiguous(_ entries: ArraySlice<LogEntry>, after index: UInt64) -> Bool {
    var expected = index &+ 1  // Wrapping: a nonsense index from a peer must not trap.
    for entry in entries {
      if entry.index != expected || entry.term > term { return false }
      expected &+= 1
    }
    return true
  }

  mutating func handleHeartbeat(_ heartbeat: Heartbeat, from sender: NodeID) {
    _ = log.commit(to: heartbeat.commit)
    send(to: sender, .heartbeatResponse(HeartbeatResponse(readRound: heartbeat.readRound)))
  }
}
