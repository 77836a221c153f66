#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An open file descriptor with the few calls the storage needs, each retried on `EINTR` and
/// turned into a ``FileStorageError`` on failure.
struct SystemFile: Sendable {
  /// The descriptor.
  let descriptor: Int32
  /// The path it was opened with, for error messages.
  let path: String

  /// Opens `path` with `flags` (`O_CLOEXEC` is added).
  static func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(FileStorageError) -> SystemFile
  {
    while true {
      let descriptor = systemOpen(path, flags | O_CLOEXEC, mode)
      if descriptor >= 0 { return SystemFile(descriptor: descriptor, path: path) }
      if errno == EINTR { continue }
      throw .ioFailure(operation: "open", path: path, errno: errno)
    }
  }

  /// Closes the descriptor; errors are ignored (the data was synced before, or is not needed).
  func close() {
    systemClose(descriptor)
  }

  /// Writes all of `bytes` at `offset`.
  func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(FileStorageError) {
    guard let base = bytes.baseAddress else { return }
    var done = 0
    while done < bytes.count {
      let written = pwrite(descriptor, base + done, bytes.count - done, off_t(offset) + off_t(done))
      if written < 0 {
        if errno == EINTR { continue }
        throw .ioFailure(operation: "write", path: path, errno: errno)
      }
      if written == 0 { throw .ioFailure(operation: "write", path: path, errno: EIO) }
      done += written
    }
  }

  /// Writes all of `bytes` at `offset`.
  func write(_ bytes: [UInt8], at offset: UInt64) throws(FileStorageError) {
    let failure = bytes.withUnsafeBytes { (buffer) -> FileStorageError? in
      do throws(FileStorageError) {
        try write(buffer, at: offset)
        return nil
      } catch {
        return error
      }
    }
    if let failure { throw failure }
  }

  /// Reads up to `buffer.count` bytes at `offset`; fewer only at the end of the file.
  func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(FileStorageError) -> Int {
    guard let base = buffer.baseAddress else { return 0 }
    var done = 0
    while done < buffer.count {
      let count = pread(descriptor, base + done, buffer.count - done, off_t(offset) + off_t(done))
      if count < 0 {
        if errno == EINTR { continue }
        throw .ioFailure(operation: "read", path: path, errno: errno)
      }
      if count == 0 { break }
      done += count
    }
    return done
  }

  /// Reads `count` bytes at `offset` (fewer only at the end of the file).
  func read(count: Int, at offset: UInt64) throws(FileStorageError) -> [UInt8] {
    var failure: FileStorageError?
    let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
      do throws(FileStorageError) {
        initialized = try read(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
      } catch {
        failure = error
        initialized = 0
      }
    }
    if let failure { throw failure }
    return bytes
  }

  /// The size of the file.
  func size() throws(FileStorageError) -> UInt64 {
    var info = stat()
    guard fstat(descriptor, &info) == 0 else {
      throw .ioFailure(operation: "fstat", path: path, errno: errno)
    }
    return UInt64(info.st_size)
  }

  /// Flushes the file's data (and the size, if it changed) to the device.
  func syncData() throws(FileStorageError) {
    while fdatasync(descriptor) != 0 {
      if errno == EINTR { continue }
      throw .ioFailure(operation: "fdatasync", path: path, errno: errno)
    }
  }

  /// Flushes the file's data and metadata to the device.
  func sync() throws(FileStorageError) {
    while fsync(descriptor) != 0 {
      if errno == EINTR { continue }
      throw .ioFailure(operation: "fsync", path: path, errno: errno)
    }
  }

  /// Cuts the file to `size` bytes.
  func truncate(to size: UInt64) throws(FileStorageError) {
    while ftruncate(descriptor, off_t(size)) != 0 {
      if errno == EINTR { continue }
      throw .ioFailure(operation: "ftruncate", path: path, errno: errno)
    }
  }

  /// Takes an exclusive advisory lock without waiting; returns false when someone else holds it.
  func tryLock() throws(FileStorageError) -> Bool {
    while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
      if errno == EINTR { continue }
      if errno == EWOULDBLOCK { return false }
      throw .ioFailure(operation: "flock", path: path, errno: errno)
    }
    return true
  }
}

private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
  open(path, flags, mode)
}

private func systemClose(_ descriptor: Int32) {
  _ = close(descriptor)
}
