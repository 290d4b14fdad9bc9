import Foundation
import TensorCore

#if canImport(Glibc)
  import Glibc
#endif

/// Builds the batches of the next training steps on a background thread while the current step runs: images are
/// decoded and resized ahead, at most `depth` batches beyond the one asked for.
///
/// A step's batch depends only on its iteration (its random draws come from a generator seeded by the iteration), so
/// building it early changes nothing: the same batches, in the same order, bit for bit. The background work runs with
/// `Parallel.serially`, so it does not change how the step's products split, on its own thread at a lower scheduling
/// priority, so that on a machine whose cores the step keeps busy it fills the step's idle moments instead of
/// competing with it. An error building a batch is thrown by `batch(_:)` for that iteration, as it would be without
/// prefetching.
final class BatchPrefetcher: @unchecked Sendable {
  typealias Build = (Int) throws -> BatchBuilder.Batch

  private let build: Build
  private let depth: Int
  private let end: Int
  private let condition = NSCondition()
  private var ready: [Int: Result<BatchBuilder.Batch, Error>] = [:]
  /// Iterations handed to the worker and not yet taken, and those of them not yet started, in order.
  private var pending: Set<Int> = []
  private var waiting: [Int] = []
  /// The next iteration not yet handed to the worker.
  private var nextScheduled = 0
  private var stopped = false
  /// Seconds spent building batches in the background, and waiting for them in `batch(_:)`.
  private(set) var buildSeconds = 0.0
  private(set) var waitSeconds = 0.0

  /// Prefetches up to `depth` batches ahead, never past iteration `end - 1`. Call `stop()` when done.
  init(depth: Int, end: Int, build: @escaping Build) {
    self.depth = depth
    self.end = end
    self.build = build
    let worker = Thread { [self] in work() }
    worker.name = "glip.batch-prefetch"
    worker.start()
  }

  /// Ends the worker thread after the batch it is building, if any.
  func stop() {
    condition.lock()
    stopped = true
    condition.broadcast()
    condition.unlock()
  }

  /// The batch of `iteration`, built in the background when it was scheduled, after which the next `depth` are
  /// scheduled. Asking out of order (a resumed or restarted run) drops what was scheduled for other iterations;
  /// iterations from `end` on are built on the calling thread.
  func batch(_ iteration: Int) throws -> BatchBuilder.Batch {
    guard iteration < end else { return try build(iteration) }
    condition.lock()
    defer { condition.unlock() }
    if !pending.contains(iteration) {
      ready.removeAll()
      pending.removeAll()
      waiting.removeAll()
      nextScheduled = iteration
    }
    while nextScheduled <= min(iteration + depth, end - 1) {
      pending.insert(nextScheduled)
      waiting.append(nextScheduled)
      nextScheduled += 1
    }
    condition.broadcast()
    let waited = Date()
    while ready[iteration] == nil { condition.wait() }
    let result = ready.removeValue(forKey: iteration)!
    pending.remove(iteration)
    waitSeconds += Date().timeIntervalSince(waited)
    return try result.get()
  }

  /// The worker: builds the waiting iterations in order until stopped.
  private func work() {
    lowerPriority()
    while true {
      condition.lock()
      while waiting.isEmpty && !stopped { condition.wait() }
      if stopped {
        condition.unlock()
        return
      }
      let iteration = waiting.removeFirst()
      condition.unlock()
      let started = Date()
      let result = Result { try Parallel.serially { try withNoGrad { try build(iteration) } } }
      condition.lock()
      buildSeconds += Date().timeIntervalSince(started)
      // A batch no longer asked for (the trainer moved elsewhere) is not kept.
      if pending.contains(iteration) && ready[iteration] == nil { ready[iteration] = result }
      condition.broadcast()
      condition.unlock()
    }
  }

  /// Nice 10 for this thread alone (Linux schedules threads as tasks), so the step's threads come first.
  private func lowerPriority() {
    #if os(Linux)
      // Linux gives each thread its own nice value, and `who` 0 is the calling thread.
      _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
    #else
      Thread.current.qualityOfService = .utility
    #endif
  }
}
