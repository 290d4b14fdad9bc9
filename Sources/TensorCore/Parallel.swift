import COpenBLAS
import Dispatch
import Foundation

/// Splits loops across cores without oversubscribing them: while our own threads run, OpenBLAS runs single-threaded.
public enum Parallel {
  /// Number of worker threads our own loops use (the machine's active cores).
  public static let coreCount = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)

  /// Below this many elements of work a loop runs on the calling thread.
  public static let minimumWork = 1 << 15

  /// Chunks per core that a large loop is cut into. The threads take chunks as they come free, so when a core is
  /// shared with other work the loop is not left waiting on one late half.
  public static let chunksPerCore = 4

  /// Calls `body` on disjoint chunks covering `0..<count`, in parallel when `count * costPerItem` is large enough.
  /// The chunks depend only on `count`, `costPerItem` and the core count, never on timing.
  public static func forEachChunk(
    _ count: Int, costPerItem: Int = 1, _ body: (Range<Int>) -> Void
  ) {
    guard count > 0 else { return }
    let chunks = Swift.min(chunksPerCore * coreCount, Swift.max(1, count * costPerItem / minimumWork), count)
    if chunks <= 1 {
      body(0..<count)
      return
    }
    if isSerial {
      // The same chunks, one after the other: a chunked reduction gives the same bits as on many threads.
      for chunk in 0..<chunks { body(count * chunk / chunks..<count * (chunk + 1) / chunks) }
      return
    }
    BLAS.withThreads(1) {
      DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let start = count * chunk / chunks
        let end = count * (chunk + 1) / chunks
        body(start..<end)
      }
    }
  }

  /// Calls `body(index)` for every index in `0..<count` on all cores, handing the indices out one at a time as threads
  /// come free. For a modest number of sizeable, independent items (their results must not depend on which thread
  /// runs them): on a core shared with other work, fixed halves leave one thread idle while the other's half waits
  /// for its core; handed out one by one, the items go to whichever thread runs.
  public static func forEachBalanced(_ count: Int, _ body: (Int) -> Void) {
    guard count > 1, coreCount > 1, !isSerial else {
      for index in 0..<count { body(index) }
      return
    }
    BLAS.withThreads(1) { DispatchQueue.concurrentPerform(iterations: count, execute: body) }
  }

  private static let serialKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  /// True inside `serially` on the current thread.
  public static var isSerial: Bool { pthread_getspecific(serialKey) != nil }

  /// Runs `body` with this thread's parallel loops on the calling thread alone, for background work (decoding the
  /// next batch) that must neither take the cores from the foreground nor make its products run single-threaded
  /// (`BLAS.isInParallelRegion` is process-wide). The loops keep their chunks, so results are bit for bit the same.
  public static func serially<Result>(_ body: () throws -> Result) rethrows -> Result {
    let outer = pthread_getspecific(serialKey)
    pthread_setspecific(serialKey, UnsafeRawPointer(bitPattern: 1))
    defer { pthread_setspecific(serialKey, outer) }
    return try body()
  }

  /// Calls `body(index)` for every index in `0..<count`, split into chunks as `forEachChunk` does.

  public static func forEach(_ count: Int, costPerItem: Int = 1, _ body: (Int) -> Void) {
    forEachChunk(count, costPerItem: costPerItem) { range in
      for index in range { body(index) }
    }
  }
}

/// OpenBLAS threading and kernel identification.
///
/// OpenBLAS runs single-threaded: `Tensor.gemm` splits large products over the cores itself (see there for why), so
/// OpenBLAS's worker threads never get work and go to sleep instead of spinning between calls.
public enum BLAS {
  private static let lock = NSLock()
  nonisolated(unsafe) private static var singleThreadDepth = 0
  public static let defaultThreads = 1

  private static let configured: Bool = {
    _ = OpenBLASKernel.selection
    openblas_set_num_threads(Int32(defaultThreads))
    return true
  }()

  /// Settles OpenBLAS's kernel (`OpenBLASKernel`) and sets it to `defaultThreads`, once, before the first product.
  /// The command line calls it first thing, while the process has one thread.
  @inline(__always)
  public static func configure() { _ = configured }

  /// Whether one of our parallel loops is running (products inside it must not split again).
  static var isInParallelRegion: Bool {
    lock.lock()
    defer { lock.unlock() }
    return singleThreadDepth > 0
  }

  /// Runs `body` with OpenBLAS limited to `threads` threads, restoring the default afterwards.

  public static func withThreads<Result>(_ threads: Int, _ body: () throws -> Result) rethrows -> Result {
    enter(threads)
    defer { leave() }
    return try body()
  }

  static func enter(_ threads: Int) {
    lock.lock()
    defer { lock.unlock() }
    singleThreadDepth += 1
    if singleThreadDepth == 1 && threads != defaultThreads { openblas_set_num_threads(Int32(threads)) }
  }

  static func leave() {
    lock.lock()
    defer { lock.unlock() }
    singleThreadDepth -= 1
    if singleThreadDepth == 0 && BLAS.threadCount != defaultThreads { openblas_set_num_threads(Int32(defaultThreads)) }
  }

  /// The kernel products run on (for example "Haswell" or "SkylakeX"), after `OpenBLASKernel`'s correction.
  public static var coreName: String {
    configure()
    return reportedCoreName
  }

  /// The kernel as `openblas_get_corename` reports it now.
  static var reportedCoreName: String {
    guard let name = openblas_get_corename() else { return "unknown" }
    return String(cString: name).trimmingCharacters(in: .whitespaces)
  }

  public static var threadCount: Int { Int(openblas_get_num_threads()) }
}
