import Foundation

/// The processes of one training job (the *ranks*) and the collectives they run together.
///
/// Every rank calls the same collectives in the same order with the same sizes. A failed collective cannot be
/// recovered from, so it ends the whole job (MPI's default error handler); the collectives therefore do not throw.
///
/// ```swift
/// var totals: [Float] = [positives, centernessSum]
/// communicator.sum(&totals)  // every rank now holds the sums over all ranks
/// ```
public protocol Communicator: AnyObject, Sendable {
  /// This process's index, `0..<size`; rank 0 writes the run's files.
  var rank: Int { get }
  /// The number of ranks.
  var size: Int { get }
  /// Replaces `values` by their elementwise sums over the ranks; every rank gets the same sums.
  func sum(_ values: UnsafeMutableBufferPointer<Float>)
  /// Copies rank `root`'s `bytes` into `bytes` on every other rank.
  func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int)
  /// Ends every rank of the job with `code`: for an error only this rank saw, which the others would wait on forever.
  func abort(code: Int32) -> Never
  /// Leaves the job; no collective may follow.
  func finish()
}

extension Communicator {
  /// Whether this rank writes metrics, evaluations and checkpoints.
  public var isPrimary: Bool { rank == 0 }

  /// `sum(_:)` on an array.
  public func sum(_ values: inout [Float]) {
    values.withUnsafeMutableBufferPointer { sum($0) }
  }

  /// The elementwise means of `values` over the ranks; `values` itself with one rank.
  public func mean(_ values: [Float]) -> [Float] {
    guard size > 1 else { return values }
    var sums = values
    sum(&sums)
    return sums.map { $0 / Float(size) }
  }

  /// Rank `root`'s value of a 64-bit integer on every rank.
  public func broadcast(_ value: UInt64, from root: Int) -> UInt64 {
    var copy = value
    withUnsafeMutableBytes(of: &copy) { broadcast($0, from: root) }
    return copy
  }

  /// How many ranks pass `true`, on every rank.
  public func count(_ flag: Bool) -> Int {
    var total: [Float] = [flag ? 1 : 0]
    sum(&total)
    return Int(total[0])
  }
}

/// One process on its own: every collective is the identity and does no arithmetic, so a one-process run is
/// bit for bit the run without data parallelism.
public final class SingleProcess: Communicator {
  public init() {}
  public var rank: Int { 0 }
  public var size: Int { 1 }
  public func sum(_ values: UnsafeMutableBufferPointer<Float>) {}
  public func broadcast(_ bytes: UnsafeMutableRawBufferPointer, from root: Int) {}
  public func abort(code: Int32) -> Never { exit(code) }
  public func finish() {}
}

/// The communicator of the training step running on this thread, for code deep inside a model (GLIP's loss
/// normalisers) that reduces over the ranks without every layer passing a communicator on. Outside a step, and
/// outside data-parallel training, it is a `SingleProcess`.
public enum Collectives {
  @TaskLocal public static var communicator: any Communicator = SingleProcess()
}

/// A data-parallel set-up that cannot work, with what to do about it.
public struct DataParallelError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
  public init(_ message: String) { self.message = message }
}
