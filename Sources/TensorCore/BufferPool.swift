import Foundation

/// Reuses large tensor buffers instead of returning them to the system.
///
/// Fresh pages from the kernel cost a page fault each on first touch: for a 38 MB im2col buffer that is more time than
/// the copy itself. Buffers of at least `minimumPooledBytes` are rounded up to one of a few sizes per power of two and
/// kept on release, up to `limitBytes` in total. Smaller buffers go straight to the allocator, which is fast for them.
public final class BufferPool: @unchecked Sendable {
  public static let shared = BufferPool()

  public static let minimumPooledBytes = 256 << 10
  /// Cap on bytes held while unused; `GLIP_BUFFER_POOL_MB` overrides it (0 disables pooling).
  public let limitBytes: Int
  private var freeLists: [Int: [UnsafeMutableRawPointer]] = [:]
  private var cachedBytes = 0
  private let lock = NSLock()

  init() {
    let megabytes = ProcessInfo.processInfo.environment["GLIP_BUFFER_POOL_MB"].flatMap(Int.init) ?? 256
    limitBytes = Swift.max(0, megabytes) << 20
  }

  /// The capacity a request of `bytes` is rounded up to (eight size classes per power of two).
  public static func capacity(for bytes: Int) -> Int {
    let aligned = Swift.max(64, (bytes + 63) & ~63)
    guard aligned >= minimumPooledBytes else { return aligned }
    let step = 1 << (Int.bitWidth - aligned.leadingZeroBitCount - 1 - 3)
    return (aligned + step - 1) / step * step
  }

  func allocate(bytes: Int) -> (pointer: UnsafeMutableRawPointer, capacity: Int) {
    let capacity = BufferPool.capacity(for: bytes)
    if capacity >= BufferPool.minimumPooledBytes {
      lock.lock()
      let reused = freeLists[capacity]?.popLast()
      if reused != nil { cachedBytes -= capacity }
      lock.unlock()
      if let reused { return (reused, capacity) }
    }
    var raw: UnsafeMutableRawPointer?
    guard posix_memalign(&raw, 64, capacity) == 0, let raw else {
      fatalError("BufferPool: out of memory allocating \(capacity) bytes")
    }
    return (raw, capacity)
  }

  func release(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
    if capacity >= BufferPool.minimumPooledBytes {
      lock.lock()
      if cachedBytes + capacity <= limitBytes {
        freeLists[capacity, default: []].append(pointer)
        cachedBytes += capacity
        lock.unlock()
        return
      }
      lock.unlock()
    }
    free(pointer)
  }

  /// Returns every cached buffer to the system.
  public func drain() {
    lock.lock()
    let lists = freeLists
    freeLists = [:]
    cachedBytes = 0
    lock.unlock()
    for pointer in lists.values.joined() { free(pointer) }
  }

  public var cachedByteCount: Int {
    lock.lock()
    defer { lock.unlock() }
    return cachedBytes
  }
}
