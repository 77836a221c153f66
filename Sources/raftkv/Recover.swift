import ArgumentParser
import Logging
import RaftKV
import WebRaft

/// `raftkv recover`: recovery from a lost quorum, on one surviving node's data directory.
struct Recover: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "UNSAFE: make a stopped node the only voter of its cluster after a quorum is lost for good.",
    discussion: """
      Use it only when a majority of the voters is gone for good and the cluster cannot elect a \
      leader. It rewrites the stored configuration of the node in --data-dir (stop it first) so \
      that --id alone (or --members) are the voters, from the node's own data. Then start the \
      node with `raftkv serve` on the same directory and ID: it elects itself, and new nodes can \
      join it with `serve --join`. Recover one survivor only, the one with the most recent data.

      What can be lost: writes the lost nodes committed that never reached this node; writes this \
      node holds that were never acknowledged become committed. Lost nodes must not come back \
      with their old directories.
      """)

  @Option(help: "The stopped node's data directory.")
  var dataDir: String

  @Option(help: "The node's ID (as in its serve command).")
  var id: String

  @Option(help: "The new voters, id,id,... (this node included); this node alone by default.")
  var members: String?

  func run() async throws {
    var logger = Logger(label: "raftkv.recover")
    logger.logLevel = .warning
    let voters = members.map { text in
      Set(text.split(separator: ",").map { NodeID($0.trimmingCharacters(in: " ")) })
    }
    let outcome = try await RaftKVRecovery.recover(
      dataDirectory: dataDir, id: NodeID(id), voters: voters, logger: logger)
    let possiblyUncommitted = outcome.entriesPossiblyUncommitted
    let unconfirmed =
      possiblyUncommitted == 0
      ? ""
      : " Entries \(outcome.storedCommitIndex + 1)-\(outcome.previousLastIndex) (\(possiblyUncommitted)) were "
        + "not known to be committed here; they will be committed now, even if the old cluster never did."
    let names = { (set: Set<NodeID>) in set.map(\.rawValue).sorted().joined(separator: ",") }
    print(
      """
      recovered \(id) in \(dataDir):
        configuration was: voters \(names(outcome.previousMembership.voters))\
      \(outcome.previousMembership.learners.isEmpty ? "" : ", learners \(names(outcome.previousMembership.learners))")
        configuration now: voters \(names(outcome.membership.voters)) (entry \(outcome.index), term \(outcome.term))
        log: last entry \(outcome.previousLastIndex), known committed through \(outcome.storedCommitIndex)
      WARNING: this bypasses Raft's safety. Writes the lost nodes committed after entry \
      \(outcome.previousLastIndex) never reached this node and are lost.\(unconfirmed)
      Next: start it with `raftkv serve --id \(id) --data-dir \(dataDir) --raft ... --http ...`; add new \
      nodes with `raftkv serve ... --join URL`. Never restart the lost nodes on their old data directories.
      """)
  }
}
