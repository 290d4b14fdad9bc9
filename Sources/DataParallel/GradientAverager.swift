import Foundation
import NN
import TensorCore

/// Averages gradients over the ranks, in buckets of about 25 MiB filled in reverse parameter order (PyTorch DDP's
/// defaults: the last layers' gradients are ready first), so each collective moves a large buffer and the buffer stays
/// bounded whatever the model's size.
///
/// A parameter without a gradient on one rank (unused by its share of the batch) counts as zeros there; one without
/// a gradient on every rank keeps none, so the optimizer skips it as it does in one process.
public final class GradientAverager {
  public let communicator: any Communicator
  /// Bucket capacity in floats.
  public let bucketCapacity: Int
  /// Seconds spent averaging, over `steps` calls.
  public private(set) var seconds: Double = 0
  public private(set) var steps = 0
  /// Gradient bytes summed by the last call, and in how many buckets.
  public private(set) var lastBytes = 0
  public private(set) var lastBucketCount = 0

  public static let defaultBucketBytes = 25 << 20

  public init(communicator: any Communicator, bucketBytes: Int = GradientAverager.defaultBucketBytes) {
    self.communicator = communicator
    bucketCapacity = max(bucketBytes / MemoryLayout<Float>.size, 1)
  }

  /// Consecutive groups of `counts` indices (element counts in the order they are filled) that each fit in
  /// `capacity` floats; a larger one gets a bucket of its own.
  public static func buckets(counts: [Int], capacity: Int) -> [[Int]] {
    var buckets: [[Int]] = []
    var current: [Int] = []
    var filled = 0
    for (index, count) in counts.enumerated() {
      if !current.isEmpty && filled + count > capacity {
        buckets.append(current)
        (current, filled) = ([], 0)
      }
      current.append(index)
      filled += count
    }
    if !current.isEmpty { buckets.append(current) }
    return buckets
  }

  /// The gradient bytes a step sums when every parameter of `parameters` has a gradient, and in how many buckets.
  public func plan(for parameters: [Parameter]) -> (bytes: Int, buckets: Int) {
    let counts = parameters.reversed().map(\.count)
    let bytes = counts.reduce(0, +) * MemoryLayout<Float>.size
    return (bytes, GradientAverager.buckets(counts: counts, capacity: bucketCapacity).count)
  }

  /// Mean seconds per averaging call so far (0 before the first).
  public var secondsPerStep: Double { steps == 0 ? 0 : seconds / Double(steps) }

  /// Replaces each parameter's gradient by its mean over the ranks. `parameters` is in registration order.
  public func average(_ parameters: [Parameter]) {
    guard communicator.size > 1 else { return }
    let clock = Date()
    let reduced = Array(parametersWithGradients(parameters).reversed())
    let groups = GradientAverager.buckets(counts: reduced.map(\.count), capacity: bucketCapacity)
    let totals = groups.map { $0.reduce(0) { $0 + reduced[$1].count } }
    var buffer = [Float](repeating: 0, count: totals.max() ?? 0)
    buffer.withUnsafeMutableBufferPointer { pointer in
      for (group, total) in zip(groups, totals) {
        let members = group.map { reduced[$0] }
        pack(members, into: pointer)
        communicator.sum(UnsafeMutableBufferPointer(rebasing: pointer[0..<total]))
        unpack(members, from: pointer, dividingBy: Float(communicator.size))
      }
    }
    lastBytes = reduced.reduce(0) { $0 + $1.count } * MemoryLayout<Float>.size
    lastBucketCount = groups.count
    seconds += Date().timeIntervalSince(clock)
    steps += 1
  }

  /// The parameters with a gradient on at least one rank (one small collective over presence flags).
  func parametersWithGradients(_ parameters: [Parameter]) -> [Parameter] {
    var present = parameters.map { $0.grad == nil ? Float(0) : 1 }
    communicator.sum(&present)
    return zip(parameters, present).compactMap { $1 > 0 ? $0 : nil }
  }

  private func pack(_ members: [Parameter], into buffer: UnsafeMutableBufferPointer<Float>) {
    var offset = 0
    for parameter in members {
      let destination = buffer.baseAddress! + offset
      if let grad = parameter.grad {
        grad.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: parameter.count) }
      } else {
        destination.update(repeating: 0, count: parameter.count)
      }
      offset += parameter.count
    }
  }

  private func unpack(
    _ members: [Parameter], from buffer: UnsafeMutableBufferPointer<Float>, dividingBy ranks: Float
  ) {
    var offset = 0
    for parameter in members {
      let values = buffer[offset..<(offset + parameter.count)].map { $0 / ranks }
      parameter.setGrad(Tensor(shape: parameter.shape, values: values))
      offset += parameter.count
    }
  }
}
