import Foundation

@testable import WebRaft

// Snapshots as the shared driver and the simulator carry them out: a node takes one of its state
// machine and compacts its log; a leader reads the chunks a follower needs from its stored
// snapshot; a follower writes the chunks it receives and, after the last one, stores the snapshot,
// restores its state machine from it and tells its core.
extension InteractionHarness {
  /// Takes a snapshot of `id`'s state machine at `index` (everything applied when nil), stores it
  /// and compacts the log through it.
  mutating func compact(_ id: NodeID, through index: UInt64?) throws -> [String] {
    guard let core = nodes[id]?.core else { throw HarnessError("\(id) is not running") }
    let index = index ?? core.appliedIndex
    guard let metadata = core.snapshotMetadata(at: index) else {
      throw HarnessError(
        "\(id) cannot take a snapshot at \(index): it applied \(core.appliedIndex), its log starts after "
          + "\(core.snapshotIndex)")
    }
    let state = Array(nodes[id]!.applied.prefix(Int(index)))
    let data = Self.snapshotBytes(takenBy: id, metadata: metadata, state: state)
    commitSnapshot(metadata, data: data, on: id)
    nodes[id]!.core!.snapshotCommitted(metadata)
    return [
      "\(id) took snapshot \(metadata.index)/\(metadata.term) of \(data.count) bytes; its log starts after it"
    ]
  }

  /// Makes `data` the stored snapshot of `id`, as storage does when a snapshot is committed:
  /// stored entries it covers go, and the rest stay only if the log holds its last entry.
  private mutating func commitSnapshot(_ metadata: SnapshotMetadata, data: Data, on id: NodeID) {
    var stored = nodes[id]!.stored
    guard metadata.index > stored.snapshot.index else { return }
    if let last = stored.entries.first(where: { $0.index == metadata.index }), last.term == metadata.term {
      stored.entries.removeAll { $0.index <= metadata.index }
    } else {
      stored.entries.removeAll()
    }
    stored.snapshot = metadata
    stored.hardState.commitIndex = max(stored.hardState.commitIndex, metadata.index)
    nodes[id]!.stored = stored
    nodes[id]!.snapshotData = data
  }

  /// Writes the snapshot chunks of a `Ready` in order, and installs a snapshot after its last
  /// chunk, before the next chunk is written (as ``RaftDriver`` does).
  mutating func receiveChunks(_ chunks: [InstallSnapshot], on id: NodeID, core: inout RaftCore) throws
    -> [String]
  {
    var output: [String] = []
    for chunk in chunks {
      let name = "\(chunk.metadata.index)/\(chunk.metadata.term)"
      if chunk.offset == 0 { nodes[id]!.incoming = (chunk.metadata, Data()) }
      guard var incoming = nodes[id]!.incoming, incoming.metadata == chunk.metadata else {
        // The host has no snapshot under way that the chunk belongs to: a last chunk must not
        // install an incomplete snapshot.
        output.append("write snapshot \(name) offset=\(chunk.offset): no such snapshot under way, ignored")
        continue
      }
      incoming.data.append(chunk.data)
      nodes[id]!.incoming = incoming
      output.append(
        "write snapshot \(name) offset=\(chunk.offset) len=\(chunk.data.count)" + (chunk.done ? " done" : ""))
      if chunk.done { output += try install(chunk.metadata, on: id, core: &core) }
    }
    return output
  }

  /// Stores the snapshot received, restores the state machine from it and tells the core.
  private mutating func install(_ metadata: SnapshotMetadata, on id: NodeID, core: inout RaftCore) throws
    -> [String]
  {
    guard let incoming = nodes[id]!.incoming, incoming.metadata == metadata else { return [] }
    nodes[id]!.incoming = nil
    let state = try Self.state(in: incoming.data, metadata: metadata)
    let applied = nodes[id]!.applied.count
    var line = "install snapshot \(metadata.index)/\(metadata.term): state of \(state.count) entries"
    if applied > state.count {
      // What the simulator's checker reports as a failure: the state machine goes back.
      line += ", over \(applied) entries applied: THE STATE MACHINE GOES BACK"
    }
    commitSnapshot(metadata, data: incoming.data, on: id)
    nodes[id]!.applied = state
    core.snapshotInstalled(metadata)
    return [line]
  }

  /// Reads the chunks leaders asked for from their stored snapshot and hands them to the core,
  /// which sends them with its next `Ready`.
  mutating func readChunks(_ requests: [SnapshotChunkRequest], on id: NodeID, core: inout RaftCore)
    -> [String]
  {
    var output: [String] = []
    for request in requests {
      let metadata = nodes[id]!.stored.snapshot
      let data = nodes[id]!.snapshotData
      guard metadata.index > 0 else {
        output.append("read snapshot for \(request.peer) offset=\(request.offset): no snapshot stored")
        continue
      }
      let start = Int(min(request.offset, UInt64(data.count)))
      let end = min(start + request.maxLength, data.count)
      output.append(
        "read snapshot \(metadata.index)/\(metadata.term) for \(request.peer) offset=\(request.offset) "
          + "len=\(end - start)")
      core.sendSnapshotChunk(
        to: request.peer, metadata: metadata, totalSize: UInt64(data.count), offset: request.offset,
        data: data.subdata(in: start..<end))
    }
    return output
  }

  /// The state machine of `id` as its stored snapshot holds it (empty when there is none).
  func restoredState(of id: NodeID) throws -> [String] {
    guard let node = nodes[id], node.stored.snapshot.index > 0 else { return [] }
    return try Self.state(in: node.snapshotData, metadata: node.stored.snapshot)
  }

  /// The bytes of a snapshot: a line naming the node that took it and its index and term, then
  /// one line per entry applied.
  static func snapshotBytes(takenBy id: NodeID, metadata: SnapshotMetadata, state: [String]) -> Data {
    Data((["\(id) \(metadata.index)/\(metadata.term)"] + state).joined(separator: "\n").utf8)
  }

  /// The state machine a snapshot's bytes hold; an error when they are not the snapshot
  /// `metadata` describes (chunks lost, repeated or mixed on the way).
  static func state(in data: Data, metadata: SnapshotMetadata) throws -> [String] {
    var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
    let header = lines.removeFirst().split(separator: " ")
    guard header.count == 2, header[1] == "\(metadata.index)/\(metadata.term)", lines.count == metadata.index
    else {
      throw HarnessError("the snapshot bytes received are not snapshot \(metadata.index)/\(metadata.term)")
    }
    return lines
  }

  func describeState(_ id: NodeID) -> [String] {
    guard let node = nodes[id] else { return ["no node \(id)"] }
    guard node.core != nil else { return ["\(id) down"] }
    return node.applied.isEmpty ? ["(nothing applied)"] : node.applied
  }
}
