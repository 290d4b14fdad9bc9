import Components
import Datasets
import Detection
import Foundation
import NN
import TensorCore

/// Errors that stop training, with what to do about them.
public struct TrainingError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
  public init(message: String) { self.message = message }
}

/// The optimisation loop: seeded shuffling, AdamW with parameter groups and a warm-up + cosine schedule, gradient
/// clipping, non-finite-loss detection, `metrics.jsonl` and a final checkpoint (safetensors with the resolved config
/// in its metadata).
public final class Trainer {
  public let detector: GroundingDetector
  public let batches: BatchBuilder
  public let options: TrainingOptions
  public let optimizer: AdamW
  public let schedule: ComposedSchedule

  public init(
    detector: GroundingDetector, batches: BatchBuilder, options: TrainingOptions, groups: [ParameterGroupRule]
  ) throws {
    self.detector = detector
    self.batches = batches
    self.options = options
    optimizer = AdamW(
      try optimizedParameters(of: detector, groups: groups, noDecayOnNormsAndBiases: true),
      learningRate: options.learningRate, weightDecay: options.weightDecay)
    schedule = ComposedSchedule([
      LinearWarmup(iterations: options.warmup, startFactor: 0.1),
      CosineSchedule(iterations: max(options.iterations, 1), minFactor: 0.05),
    ])
  }

  /// Record indices of step `iteration`: a seeded permutation per pass over the data.
  public func indices(for iteration: Int) -> [Int] {
    let count = batches.records.count
    return (0..<options.batchSize).map { slot in
      let position = iteration * options.batchSize + slot
      var random = SeededGenerator(seed: UInt64(options.seed) &* 1_000_003 &+ UInt64(position / count))
      let permutation = Array(0..<count).shuffled(using: &random)
      return permutation[position % count]
    }
  }

  /// One optimisation step; returns the loss terms.
  public func step(_ iteration: Int) throws -> [String: Float] {
    detector.train()
    var random = SeededGenerator(seed: UInt64(options.seed) &+ 0x5EED &+ UInt64(iteration))
    let batch = try batches.batch(indices(for: iteration), random: &random)
    let terms = detector.loss(batch.images, tokens: batch.tokens, targets: batch.targets)
    let values = terms.mapValues(\.item)
    guard values.values.allSatisfy(\.isFinite) else {
      throw TrainingError(message: "non-finite loss at step \(iteration): \(values); training stopped")
    }
    terms["loss"]!.backward()
    if options.clipNorm > 0 { clipGradientNorm(detector.trainableParameters(), maxNorm: options.clipNorm) }
    optimizer.learningRate = schedule.learningRate(base: options.learningRate, at: iteration)
    optimizer.step()
    optimizer.zeroGrad()
    return values
  }

  /// Runs every step, appending a JSON line per step to `metrics.jsonl` in `directory` and writing
  /// `checkpoints/final.safetensors`. Returns the total loss of each step.
  @discardableResult
  public func run(directory: String, config: String, progress: (String) -> Void) throws -> [Float] {
    let root = URL(fileURLWithPath: directory)
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
    try config.write(to: root.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
    let metricsPath = root.appendingPathComponent("metrics.jsonl").path
    FileManager.default.createFile(atPath: metricsPath, contents: nil)
    let metrics = try FileHandle(forWritingTo: URL(fileURLWithPath: metricsPath))
    defer { try? metrics.close() }
    var losses: [Float] = []
    let start = Date()
    for iteration in 0..<options.iterations {
      let values = try step(iteration)
      losses.append(values["loss"]!)
      let fields =
        ["\"step\": \(iteration)", "\"lr\": \(optimizer.learningRate)"]
        + values.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }
      metrics.write(("{" + fields.joined(separator: ", ") + "}\n").data(using: .utf8)!)
      if iteration % max(options.logEvery, 1) == 0 || iteration == options.iterations - 1 {
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(iteration + 1) / max(elapsed, 1e-9)
        progress(
          String(
            format: "step %5d/%d  loss %.4f  lr %.2e  %.2f it/s  ETA %.0fs", iteration + 1, options.iterations,
            values["loss"]!, optimizer.learningRate, rate, Double(options.iterations - iteration - 1) / rate))
      }
    }
    try SafetensorsFile(
      tensors: detector.state(), metadata: ["config": config, "iterations": "\(options.iterations)"]
    ).write(path: root.appendingPathComponent("checkpoints/final.safetensors").path)
    return losses
  }
}
