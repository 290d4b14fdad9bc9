import Dispatch
import Foundation
import TensorCore

/// Builds the batches of the next training steps on one background thread while the current step runs: images are
/// decoded and resized ahead, at most `depth` batches beyond the one asked for.
///
/// A step's batch depends only on its iteration (its random draws come from a generator seeded by the iteration), so
/// building it early changes nothing: the same batches, in the same order, bit for bit. The background work runs with
/// `Parallel.serially`, so it neither takes the cores from the step nor changes how the step's products split. An
/// error building a batch is thrown by `batch(_:)` for that iteration, as it would be without prefetching.
final class BatchPrefetcher: @unchecked Sendable {
  typealias Build = @Sendable (Int) throws -> BatchBuilder.Batch

  private let build: Build
  private let depth: Int
  private let end: Int
  private let queue = DispatchQueue(label: "glip.batch-prefetch", qos: .userInitiated)
  private let condition = NSCondition()
  private var ready: [Int: Result<BatchBuilder.Batch, Error>] = [:]
  /// Iterations handed to the queue and not yet taken.
  private var pending: Set<Int> = []
  /// The next iteration not yet handed to the queue.
  private var nextScheduled = 0
  /// Seconds spent building batches in the background, and waiting for them in `batch(_:)`.
  private(set) var buildSeconds = 0.0
  private(set) var waitSeconds = 0.0

  /// Prefetches up to `depth` batches ahead, never past iteration `end - 1`.
  init(depth: Int, end: Int, build: @escaping Build) {
    self.depth = depth
    self.end = end
    self.build = build
  }

  /// The batch of `iteration`, built in the background when it was scheduled, after which the next `depth` are
  /// scheduled. Asking out of order (a resumed or restarted run) drops what was scheduled for other iterations;
  /// iterations from `end` on are built on the calling thread.
  func batch(_ iteration: Int) throws -> BatchBuilder.Batch {
    guard iteration < end else { return try build(iteration) }
    condition.lock()
    if !pending.contains(iteration) {
      ready.removeAll()
      pending.removeAll()
      nextScheduled = iteration
    }
    scheduleLocked(through: iteration + depth)
    let waited = Date()
    while ready[iteration] == nil { condition.wait() }
    let result = ready.removeValue(forKey: iteration)!
    pending.remove(iteration)
    waitSeconds += Date().timeIntervalSince(waited)
    condition.unlock()
    return try result.get()
  }

  /// Hands the iterations up to `last` (and before `end`) to the queue; the caller holds the lock.
  private func scheduleLocked(through last: Int) {
    while nextScheduled <= min(last, end - 1) {
      let iteration = nextScheduled
      pending.insert(iteration)
      nextScheduled += 1
      queue.async { [self] in
        let started = Date()
        let result = Result { try Parallel.serially { try withNoGrad { try build(iteration) } } }
        condition.lock()
        buildSeconds += Date().timeIntervalSince(started)
        // A batch no longer asked for (the trainer moved elsewhere, or took it already) is not kept.
        if pending.contains(iteration) && ready[iteration] == nil { ready[iteration] = result }
        condition.broadcast()
        condition.unlock()
      }
    }
  }
}
