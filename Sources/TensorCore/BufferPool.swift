import CMemory
import Foundation

/// Reuses large tensor buffers instead of returning them to the system, without letting kept buffers raise the
/// process's peak memory.
///
/// Fresh pages from the kernel cost a page fault each on first touch: for a 38 MB im2col buffer that is more time than
/// the copy itself. Buffers of at least `minimumPooledBytes` are rounded up to one of a few sizes per power of two,
/// mapped directly from the system, and kept on release for the next request of their size.
///
/// What is kept is bounded by what has been needed: live and kept bytes together stay within the most ever live at
/// once (`peakLiveBytes`) plus an eighth of it, or 128 MB if that is more. A request that finds no buffer of its size
/// and would pass that bound resizes the kept buffer closest in size instead (its resident pages serve the request,
/// and only the part it grows by is fresh), and returns the least recently released ones to the system if it still
/// does not fit. Left to `malloc`, freed buffers stay in its heap, where the buffers of later training steps land in
/// different places, so the resident size crept up step after step. Smaller buffers go straight to `malloc`, which is
/// fast for them.
public final class BufferPool: @unchecked Sendable {
  public static let shared = BufferPool()

  public static let minimumPooledBytes = 256 << 10
  /// Cap on bytes held while unused, below the budget (`GLIP_BUFFER_POOL_MB`; 0 disables pooling, nil: the budget
  /// alone).
  public let limitBytes: Int?
  /// Kept buffers by capacity, each list in release order (oldest first) and never empty.
  private var freeLists: [Int: [CachedBuffer]] = [:]
  private var cachedBytes = 0
  /// Bytes of pooled sizes handed out and not yet released, and the most there have been at once.
  private var liveBytes = 0
  private var peakLive = 0
  private var releaseCount = 0
  private let lock = NSLock()

  private struct CachedBuffer {
    let pointer: UnsafeMutableRawPointer
    let released: Int
  }

  /// Room kept buffers may take beyond the live peak when an eighth of it is less (`exceedsBudget`).
  let minimumRoomBytes: Int

  init(
    limitBytes: Int? = ProcessInfo.processInfo.environment["GLIP_BUFFER_POOL_MB"].flatMap(Int.init).map { $0 << 20 },
    minimumRoomBytes: Int = 128 << 20
  ) {
    self.limitBytes = limitBytes.map { Swift.max(0, $0) }
    self.minimumRoomBytes = minimumRoomBytes
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
    guard capacity >= BufferPool.minimumPooledBytes else { return (Self.allocateSmall(capacity), capacity) }
    lock.lock()
    if freeLists[capacity] != nil {
      let reused = takeCached(capacity, newest: true)
      liveBytes += capacity
      lock.unlock()
      return (reused, capacity)
    }
    let (repurposed, evicted) = takeForMiss(of: capacity)
    liveBytes += capacity
    peakLive = Swift.max(peakLive, liveBytes)
    lock.unlock()
    for buffer in evicted { Self.unmap(buffer) }
    if let repurposed {
      if let resized = glip_remap(repurposed.0, repurposed.1, capacity) { return (resized, capacity) }
      Self.unmap(repurposed)
    }
    return (Self.map(capacity), capacity)
  }

  /// Memory for `count` elements (at least one), and the capacity to release it with.
  func allocate<Element>(count: Int, of _: Element.Type) -> (pointer: UnsafeMutablePointer<Element>, capacity: Int) {
    let elements = Swift.max(count, 1)
    let (raw, capacity) = allocate(bytes: elements * MemoryLayout<Element>.stride)
    return (raw.bindMemory(to: Element.self, capacity: elements), capacity)
  }

  func release(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
    guard capacity >= BufferPool.minimumPooledBytes else { return free(pointer) }
    lock.lock()
    liveBytes -= capacity
    if cachedBytes + capacity <= limitBytes ?? Int.max {
      releaseCount += 1
      freeLists[capacity, default: []].append(CachedBuffer(pointer: pointer, released: releaseCount))
      cachedBytes += capacity
      lock.unlock()
      return
    }
    lock.unlock()
    Self.unmap((pointer, capacity))
  }

  /// What a request of `capacity` bytes that found no buffer of its size takes from the cache, under the lock.
  ///
  /// While live, kept and requested bytes stay within the bound (`exceedsBudget`), nothing: the request maps fresh
  /// memory. Otherwise the kept buffer closest in size (the smaller of two as close, so the choice does not follow the
  /// dictionary's order) is resized to it (`repurposed`), so its resident pages serve the request: growing faults in
  /// only the difference, and the buffers far from this size stay for their own requests. If that is not enough, the
  /// least recently released buffers are returned to the system (`evicted`). The caller resizes and unmaps outside
  /// the lock.
  private func takeForMiss(of capacity: Int) -> (
    repurposed: (UnsafeMutableRawPointer, Int)?, evicted: [(UnsafeMutableRawPointer, Int)]
  ) {
    guard cachedBytes > 0, exceedsBudget(adding: capacity) else { return (nil, []) }
    let size = freeLists.keys.min { (abs($0 - capacity), $0) < (abs($1 - capacity), $1) }!
    let repurposed = (takeCached(size, newest: false), size)
    var evicted: [(UnsafeMutableRawPointer, Int)] = []
    while exceedsBudget(adding: capacity),
      let oldest = freeLists.min(by: { $0.value[0].released < $1.value[0].released })?.key
    {
      evicted.append((takeCached(oldest, newest: false), oldest))
    }
    return (repurposed, evicted)
  }

  /// Removes a kept buffer of `capacity` bytes from the cache, under the lock: the most recently released (still warm
  /// in cache) to serve its own size, or the oldest.
  private func takeCached(_ capacity: Int, newest: Bool) -> UnsafeMutableRawPointer {
    let buffer = newest ? freeLists[capacity]!.removeLast() : freeLists[capacity]!.removeFirst()
    if freeLists[capacity]!.isEmpty { freeLists[capacity] = nil }
    cachedBytes -= capacity
    return buffer.pointer
  }

  /// Whether live and kept bytes with `capacity` more would pass the most that has been live at once plus the room
  /// that lets kept buffers of one size wait for their next use while others are resized: an eighth of that peak, or
  /// `minimumRoomBytes` if that is more.
  private func exceedsBudget(adding capacity: Int) -> Bool {
    liveBytes + cachedBytes + capacity > peakLive + Swift.max(peakLive / 8, minimumRoomBytes)
  }

  private static func allocateSmall(_ capacity: Int) -> UnsafeMutableRawPointer {
    var raw: UnsafeMutableRawPointer?
    guard posix_memalign(&raw, 64, capacity) == 0, let raw else {
      fatalError("BufferPool: out of memory allocating \(capacity) bytes")
    }
    return raw
  }

  /// Fresh zero pages straight from the system (`capacity` is a multiple of the page size).
  private static func map(_ capacity: Int) -> UnsafeMutableRawPointer {
    let raw = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    guard let raw, raw != MAP_FAILED else {
      fatalError("BufferPool: out of memory mapping \(capacity) bytes")
    }
    return raw
  }

  private static func unmap(_ buffer: (UnsafeMutableRawPointer, Int)) {
    munmap(buffer.0, buffer.1)
  }

  /// Returns every cached buffer to the system.
  public func drain() {
    lock.lock()
    let lists = freeLists
    freeLists = [:]
    cachedBytes = 0
    lock.unlock()
    for (capacity, buffers) in lists {
      for buffer in buffers { Self.unmap((buffer.pointer, capacity)) }
    }
  }

  public var cachedByteCount: Int {
    lock.lock()
    defer { lock.unlock() }
    return cachedBytes
  }

  /// Bytes of pooled sizes handed out and not yet released.
  public var liveByteCount: Int {
    lock.lock()
    defer { lock.unlock() }
    return liveBytes
  }

  /// The most bytes of pooled sizes that have been in use at once.
  public var peakLiveBytes: Int {
    lock.lock()
    defer { lock.unlock() }
    return peakLive
  }
}

/// Scratch memory of `count` elements from the buffer pool, returned to it when the object goes: for kernels' large
/// temporary buffers, which would otherwise be fresh pages from `malloc` on every call.
final class PooledScratch<Element>: @unchecked Sendable {
  let pointer: UnsafeMutablePointer<Element>
  private let capacity: Int

  init(count: Int) {
    (pointer, capacity) = BufferPool.shared.allocate(count: count, of: Element.self)
  }

  deinit { BufferPool.shared.release(UnsafeMutableRawPointer(pointer), capacity: capacity) }
}
