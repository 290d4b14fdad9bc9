import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file write that either replaces the file whole or leaves the previous one untouched.
///
/// The bytes go to a temporary file beside the target, are flushed to disk, and are then renamed over the target in
/// one step, so a process killed at any point, or a disk that fills up mid-write, never leaves a partial file at
/// `path`. A failed write removes its temporary file.
public enum AtomicFile {
  /// Why a write failed: the target path and the system's reason.
  public struct WriteError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "\(path): \(reason)" }
  }

  public static func write(_ data: Data, to path: String) throws {
    let temporary = path + ".tmp-\(getpid())"
    func fail(_ action: String) -> WriteError {
      let reason = String(cString: strerror(errno))
      unlink(temporary)
      return WriteError(path: path, reason: "cannot \(action): \(reason)")
    }
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else { throw fail("create a temporary file beside it") }
    var written = 0
    let complete = data.withUnsafeBytes { raw -> Bool in
      while written < raw.count {
        let result = systemWrite(descriptor, raw.baseAddress! + written, raw.count - written)
        if result < 0 && errno == EINTR { continue }
        guard result > 0 else { return false }
        written += result
      }
      return true
    }
    guard complete, fsync(descriptor) == 0 else {
      let error = fail("write \(data.count) bytes (\(written) written)")
      close(descriptor)
      throw error
    }
    guard close(descriptor) == 0 else { throw fail("close the temporary file") }
    guard rename(temporary, path) == 0 else { throw fail("rename the temporary file into place") }
  }
}

/// The C `write`, out of reach of `AtomicFile.write`'s own name.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
  write(descriptor, bytes, count)
}
