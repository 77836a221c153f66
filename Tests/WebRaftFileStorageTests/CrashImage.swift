import WebRaft

@testable import WebRaftFileStorage

#if canImport(Glibc)
  import Glibc
#endif

/// The files of a storage directory by name, without `LOCK` (which only carries a lock).
typealias DirectoryImage = [String: [UInt8]]

/// Reading and writing whole directory images.
enum DirectoryImages {
  /// The files of `path`, without `LOCK`.
  static func read(_ path: String) -> DirectoryImage {
    var image: DirectoryImage = [:]
    for name in fileNames(in: path) where name != "LOCK" {
      image[name] = readFile(path + "/" + name)
    }
    return image
  }

  /// Makes `path` hold exactly the files of `image` (and no `LOCK`).
  static func write(_ image: DirectoryImage, to path: String) {
    for name in fileNames(in: path) {
      unlink(path + "/" + name)
    }
    for (name, bytes) in image {
      writeFile(path + "/" + name, bytes)
    }
  }

  /// A short description of an image: each file and its size, in name order.
  static func describe(_ image: DirectoryImage) -> String {
    image.keys.sorted().map { "\($0) (\(image[$0]!.count) bytes)" }.joined(separator: ", ")
  }
}

/// One call that changed a ``FileStorage``'s directory, seen from outside: the directory before the
/// call, the directory once the call returned, and the files deleted earlier whose deletion may
/// not be durable yet.
struct StorageStep {
  /// Which call it was.
  enum Kind: Equatable {
    /// `initialize(_:)` of a new node.
    case initialize
    /// `persist(hardState:entries:)`.
    case persist
    /// A snapshot writer's `commit()` (the temporary file was written before).
    case snapshot
  }

  var kind: Kind
  var before: DirectoryImage
  var after: DirectoryImage
  var ghosts: DirectoryImage
}

/// How a directory changed between two images.
struct ImageDiff {
  /// Files that grew: the old contents are a prefix of the new.
  var appended: [String] = []
  /// Files that appeared.
  var created: [String] = []
  /// Files that disappeared.
  var removed: [String] = []
  /// Files whose old contents changed: a FileStorage call never does that.
  var rewritten: [String] = []

  init(_ before: DirectoryImage, _ after: DirectoryImage) {
    for name in after.keys.sorted() {
      guard let old = before[name] else {
        created.append(name)
        continue
      }
      let new = after[name]!
      if new == old { continue }
      if new.count > old.count, new.starts(with: old) {
        appended.append(name)
      } else {
        rewritten.append(name)
      }
    }
    removed = before.keys.filter { after[$0] == nil }.sorted()
  }
}

/// A directory a power loss can leave while a ``StorageStep`` is under way.
struct CrashImage {
  /// The files on disk after the crash.
  var files: DirectoryImage
  /// Whether the step took effect: a storage opening the image must recover the state after the
  /// step; otherwise the state before it.
  var completesStep: Bool
  /// What the crash kept and lost, for failure messages.
  var description: String
}

/// A ``StorageStep`` that the crash model does not know how to cut (a FileStorage call changed
/// files in a way the model does not expect, such as rewriting bytes it had written before).
struct CrashModelError: Error, CustomStringConvertible {
  let description: String
}

/// The "lost unsynced writes" crash mode of the simulator, applied to the files of a
/// ``FileStorage``: the directories a power loss can leave while one call is under way.
///
/// The rules, as a file system without battery-backed cache gives them:
/// - what a sync covered is on disk, unchanged (data after `fdatasync`, directory entries after a
///   sync of the directory);
/// - bytes appended to a file since its last sync: any length of them reached the disk, and within
///   that length each 512-byte block (aligned on file offsets) holds what was written or zeros
///   (blocks written out of order, a file size that got ahead of its data);
/// - a file renamed into place after its data was synced is absent or complete; a `.tmp` file may
///   hold any torn prefix;
/// - a file deleted since the last directory sync may come back, whole ("ghosts");
/// - nothing written after a sync is on disk unless everything the sync covered is.
///
/// And what each call of a ``FileStorage`` with ``FileStorage/SyncPolicy/fdatasync`` does, in order:
/// - `persist`: appends one record to the last segment and syncs it; or, when the segment is full,
///   first creates the next segment with its header, syncs it and the directory;
/// - a snapshot commit: writes and syncs `*.tmp`, renames it to `snapshot-*.snap`, syncs the
///   directory, appends a compaction record to the last segment and syncs it, then deletes the
///   previous snapshot and the segments it made obsolete without syncing the directory;
/// - `initialize`: writes and syncs the first snapshot and the first segment, each as `*.tmp`
///   renamed into place and followed by a directory sync.
///
/// A step's images are cut from the directory before and after the call (``ImageDiff``), so the
/// test needs no hook inside the storage: the model checks that the difference has the expected
/// shape and throws ``CrashModelError`` otherwise.
struct CrashImageModel {
  /// The block size of torn writes.
  static let blockSize = 512

  var random: SplitMix64

  init(seed: UInt64) {
    random = SplitMix64(seed: seed)
  }

  private mutating func number(_ range: Range<Int>) -> Int {
    Int.random(in: range, using: &random)
  }

  private mutating func chance(_ percent: Int) -> Bool {
    number(0..<100) < percent
  }

  /// `count` crash images of `step`.
  mutating func images(of step: StorageStep, count: Int) throws(CrashModelError) -> [CrashImage] {
    var images: [CrashImage] = []
    for _ in 0..<count {
      images.append(try image(of: step))
    }
    return images
  }

  /// One crash image of `step`.
  mutating func image(of step: StorageStep) throws(CrashModelError) -> CrashImage {
    let diff = ImageDiff(step.before, step.after)
    guard diff.rewritten.isEmpty else {
      throw CrashModelError(description: "the call rewrote bytes it had written before in \(diff.rewritten)")
    }
    switch step.kind {
    case .initialize: return try initializeImage(step, diff)
    case .persist: return try persistImage(step, diff)
    case .snapshot: return try snapshotImage(step, diff)
    }
  }

  /// The image of a crash before any byte of the step reached the disk.
  mutating func untouched(_ step: StorageStep) -> CrashImage {
    var files = step.before
    var notes = ["nothing of the write"]
    bringBack(step.ghosts, into: &files, notes: &notes)
    return CrashImage(
      files: files, completesStep: step.before == step.after, description: notes.joined(separator: "; "))
  }

  /// The files deleted, without a directory sync, by the time `step` returned.
  static func ghosts(after step: StorageStep) -> DirectoryImage {
    let diff = ImageDiff(step.before, step.after)
    var ghosts: DirectoryImage
    switch step.kind {
    case .initialize:
      ghosts = [:]
    case .persist:
      // Starting a segment syncs the directory.
      ghosts = diff.created.isEmpty ? step.ghosts : [:]
    case .snapshot:
      // Installing syncs the directory after the rename; the deletions come after that sync.
      guard !diff.created.isEmpty else { return step.ghosts }
      ghosts = [:]
      for name in diff.removed {
        ghosts[name] = step.before[name]
      }
    }
    return ghosts.filter { step.after[$0.key] == nil }
  }

  /// A crash while a storage opened `crashed` and repaired it into `repaired`.
  ///
  /// Recovery first deletes temporary files and a segment whose creation was interrupted, then
  /// cuts the torn tail of the last segment and syncs it, appends the compaction record of a
  /// snapshot installation that a crash interrupted and syncs it, and last deletes old snapshots
  /// and obsolete segments; no deletion is followed by a directory sync. The image is cut before
  /// the changes of content are complete (with only early deletions), or after them (with any
  /// deletions).
  mutating func interruptedRecovery(crashed: DirectoryImage, repaired: DirectoryImage) throws(CrashModelError)
    -> CrashImage
  {
    var files: DirectoryImage = [:]
    var notes: [String] = []
    let lastSegment = repaired.keys.compactMap(StorageDirectory.segmentSequence).max() ?? 0
    let contentDone = chance(50)
    for name in crashed.keys.sorted() where repaired[name] == nil {
      let early = name.hasSuffix(".tmp") || (StorageDirectory.segmentSequence(name) ?? 0) > lastSegment
      if (early || contentDone) && chance(50) {
        notes.append("\(name) deleted")
      } else {
        files[name] = crashed[name]
      }
    }
    for name in repaired.keys.sorted() {
      guard let old = crashed[name] else {
        throw CrashModelError(description: "recovery created \(name)")
      }
      let new = repaired[name]!
      if old == new || contentDone {
        files[name] = new
        continue
      }
      // Cut at the common prefix (synced), then a torn part of what was appended after it.
      let common = zip(old, new).prefix { $0 == $1 }.count
      if chance(30) {
        files[name] = old
        notes.append("\(name) not repaired yet")
      } else {
        let (bytes, note) = torn(new[common...], at: common)
        files[name] = Array(new[..<common]) + bytes
        notes.append("\(name) cut at \(common), then \(note)")
      }
    }
    if contentDone { notes.insert("repairs durable", at: 0) }
    return CrashImage(
      files: files, completesStep: true, description: "recovery: " + notes.joined(separator: "; "))
  }

  // MARK: Pieces

  /// `tail`, written at `offset` of a file after bytes that are durable, as a crash may leave it:
  /// a random length of it, with some 512-byte blocks zeroed.
  private mutating func torn(_ tail: ArraySlice<UInt8>, at offset: Int) -> (bytes: [UInt8], note: String) {
    let count = tail.count
    let length: Int
    switch number(0..<8) {
    case 0: length = 0
    case 1, 2: length = count
    default: length = number(0..<(count + 1))
    }
    var bytes = Array(tail.prefix(length))
    var zeroed = 0
    if length > 0, chance(40) {
      let blocks = (offset / Self.blockSize)...((offset + length - 1) / Self.blockSize)
      for block in blocks where chance(35) {
        let start = max(block * Self.blockSize, offset) - offset
        let end = min((block + 1) * Self.blockSize, offset + length) - offset
        for position in start..<end { bytes[position] = 0 }
        zeroed += 1
      }
    }
    var note = "\(length) of \(count) bytes at \(offset)"
    if zeroed > 0 { note += " with \(zeroed) blocks zeroed" }
    return (bytes, note)
  }

  /// Adds a random choice of `ghosts` whose names are free.
  private mutating func bringBack(
    _ ghosts: DirectoryImage, into files: inout DirectoryImage, notes: inout [String]
  ) {
    for name in ghosts.keys.sorted() where files[name] == nil && chance(50) {
      files[name] = ghosts[name]
      notes.append("deleted \(name) came back")
    }
  }

  private static func isSegment(_ name: String) -> Bool {
    StorageDirectory.segmentSequence(name) != nil
  }

  private static func isSnapshot(_ name: String) -> Bool {
    StorageDirectory.snapshotIndex(name) != nil
  }

  /// The size of the header record at the start of a segment.
  private static func headerLength(_ segment: [UInt8]) throws(CrashModelError) -> Int {
    let parsed = segment.withUnsafeBytes { RecordFrame.parse($0, at: 0) }
    guard case .record(.segmentHeader, let payload) = parsed else {
      throw CrashModelError(description: "a new segment does not start with its header")
    }
    return payload.upperBound
  }

  // MARK: Calls

  private mutating func persistImage(_ step: StorageStep, _ diff: ImageDiff) throws(CrashModelError)
    -> CrashImage
  {
    let changed = diff.created + diff.appended
    guard diff.removed.isEmpty, changed.count <= 1, changed.allSatisfy(Self.isSegment) else {
      throw CrashModelError(
        description:
          "persist created \(diff.created), appended to \(diff.appended) and removed \(diff.removed)")
    }
    var files = step.before
    var notes: [String] = []
    if let name = diff.created.first {
      let contents = step.after[name]!
      let header = try Self.headerLength(contents)
      if chance(50) {
        // Before the new segment and the directory were synced: its header is torn or missing.
        bringBack(step.ghosts, into: &files, notes: &notes)
        if chance(30) {
          notes.append("new \(name) missing")
        } else {
          let (bytes, note) = torn(contents[..<header], at: 0)
          files[name] = bytes
          notes.append("new \(name) header: \(note)")
        }
        return CrashImage(files: files, completesStep: false, description: notes.joined(separator: "; "))
      }
      let (bytes, note) = torn(contents[header...], at: header)
      files[name] = Array(contents[..<header]) + bytes
      notes.append("new \(name) synced header, record: \(note)")
      return CrashImage(
        files: files, completesStep: files[name] == contents, description: notes.joined(separator: "; "))
    }
    bringBack(step.ghosts, into: &files, notes: &notes)
    guard let name = diff.appended.first else {
      return CrashImage(files: files, completesStep: true, description: "nothing written")
    }
    let old = step.before[name]!
    let new = step.after[name]!
    let (bytes, note) = torn(new[old.count...], at: old.count)
    files[name] = old + bytes
    notes.append("\(name) record: \(note)")
    return CrashImage(
      files: files, completesStep: files[name] == new, description: notes.joined(separator: "; "))
  }

  private mutating func snapshotImage(_ step: StorageStep, _ diff: ImageDiff) throws(CrashModelError)
    -> CrashImage
  {
    guard diff.created.count <= 1, diff.created.allSatisfy(Self.isSnapshot), diff.appended.count <= 1,
      diff.appended.allSatisfy(Self.isSegment),
      diff.removed.allSatisfy({ Self.isSnapshot($0) || Self.isSegment($0) }),
      !diff.created.isEmpty || (diff.appended.isEmpty && diff.removed.isEmpty)
    else {
      throw CrashModelError(
        description:
          "a snapshot commit created \(diff.created), appended to \(diff.appended) and removed \(diff.removed)"
      )
    }
    var files = step.before
    var notes: [String] = []
    guard let name = diff.created.first else {
      // A snapshot that was not newer than the current one: only its temporary file existed.
      bringBack(step.ghosts, into: &files, notes: &notes)
      if chance(60) {
        files["snapshot-ignored.tmp"] = Array(repeating: 0x5A, count: number(0..<300))
        notes.append("temporary file of an ignored snapshot")
      }
      return CrashImage(files: files, completesStep: false, description: notes.joined(separator: "; "))
    }
    let contents = step.after[name]!
    switch number(0..<4) {
    case 0:
      // The temporary file is being written or synced; the rename did not reach the disk.
      bringBack(step.ghosts, into: &files, notes: &notes)
      if chance(70) {
        let (bytes, note) = torn(contents[...], at: 0)
        files[name + ".tmp"] = bytes
        notes.append("\(name).tmp: \(note)")
      } else {
        notes.append("no temporary file")
      }
      return CrashImage(files: files, completesStep: false, description: notes.joined(separator: "; "))
    case 1:
      // The rename reached the disk before the directory sync; no compaction record yet.
      bringBack(step.ghosts, into: &files, notes: &notes)
      files[name] = contents
      notes.append("\(name) renamed, no compaction record")
    case 2:
      // The directory is synced; the compaction record is being written.
      files[name] = contents
      if let segment = diff.appended.first {
        let old = step.before[segment]!
        let (bytes, note) = torn(step.after[segment]![old.count...], at: old.count)
        files[segment] = old + bytes
        notes.append("\(name) renamed, compaction record in \(segment): \(note)")
      }
    default:
      // The compaction record is durable; the deletions that followed may not be.
      files = step.after
      notes.append("\(name) installed")
      var gone: DirectoryImage = [:]
      for removed in diff.removed { gone[removed] = step.before[removed] }
      bringBack(gone, into: &files, notes: &notes)
    }
    return CrashImage(files: files, completesStep: true, description: notes.joined(separator: "; "))
  }

  private mutating func initializeImage(_ step: StorageStep, _ diff: ImageDiff) throws(CrashModelError)
    -> CrashImage
  {
    let snapshots = diff.created.filter(Self.isSnapshot)
    let segments = diff.created.filter(Self.isSegment)
    guard step.before.isEmpty, snapshots.count == 1, segments.count == 1, diff.created.count == 2 else {
      throw CrashModelError(description: "initialize created \(diff.created) in \(step.before.keys.sorted())")
    }
    let snapshot = snapshots[0]
    let segment = segments[0]
    var files: DirectoryImage = [:]
    var note = ""
    switch number(0..<4) {
    case 0:
      if chance(50) {
        let torn = torn(step.after[snapshot]![...], at: 0)
        files[snapshot + ".tmp"] = torn.bytes
        note = "\(snapshot).tmp: \(torn.note)"
      } else {
        note = "nothing"
      }
    case 1:
      files[snapshot] = step.after[snapshot]
      note = "\(snapshot) only"
    case 2:
      files[snapshot] = step.after[snapshot]
      let torn = torn(step.after[segment]![...], at: 0)
      files[segment + ".tmp"] = torn.bytes
      note = "\(snapshot), \(segment).tmp: \(torn.note)"
    default:
      return CrashImage(files: step.after, completesStep: true, description: "both files")
    }
    return CrashImage(files: files, completesStep: false, description: note)
  }
}
