extension FileStorage {
  /// How a ``FileStorage`` lays out and syncs its files.
  public struct Configuration: Hashable, Sendable {
    /// The size in bytes at which the log starts a new segment file. Compaction deletes whole
    /// segments, so smaller segments give disk space back sooner; each new segment costs two
    /// extra syncs. A batch larger than this gets a segment of its own. Default: 64 MiB.
    public var segmentSize: Int
    /// When data reaches the disk. Default: ``SyncPolicy/fdatasync``.
    public var syncPolicy: SyncPolicy

    /// Creates a configuration.
    public init(segmentSize: Int = 64 << 20, syncPolicy: SyncPolicy = .fdatasync) {
      self.segmentSize = segmentSize
      self.syncPolicy = syncPolicy
    }
  }

  /// When a ``FileStorage`` makes its writes durable.
  public enum SyncPolicy: Hashable, Sendable {
    /// Every ``FileStorage/persist(hardState:entries:)`` call ends with one `fdatasync` of the
    /// log (group commit), and files that are created or renamed are followed by a sync of the
    /// directory. Nothing is acknowledged before it is durable. Use this in production.
    case fdatasync
    /// UNSAFE: never syncs. Writes reach the operating system's cache only, so a machine crash or
    /// power loss can lose acknowledged entries and votes, which breaks Raft's safety. A process
    /// crash alone loses nothing. For tests and benchmarks only.
    case none
  }
}
