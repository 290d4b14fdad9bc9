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

  /// The trainer an experiment describes: its detector, `data` sizing and flips, `train` options and parameter groups.
  public convenience init(experiment: CheckedExperiment, records: [GroundingRecord]) throws {
    try self.init(
      detector: experiment.detector,
      batches: BatchBuilder(
        records: records, encoder: try TrainedModel.tokenizingEncoder(of: experiment.detector),
        pixelFormat: experiment.detector.pixelFormat, imageSize: experiment.data.imageSize,
        flip: experiment.data.flip, samplePrompts: experiment.data.samplePrompts),
      options: experiment.training, groups: experiment.tuning.parameterGroups)
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
    detector.reseedRandomModules(UInt64(options.seed) &+ 0xD209 &+ UInt64(iteration))
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

  /// Runs the steps from `start` on, appending a JSON line per step to `metrics.jsonl` in `directory`, writing
  /// `checkpoints/step_<n>.safetensors` every `checkpoint_every` steps and `checkpoints/final.safetensors` at the end.
  /// Returns the total loss of each step run.
  @discardableResult
  public func run(directory: String, config: String, start: Int = 0, progress: (String) -> Void) throws -> [Float] {
    let root = URL(fileURLWithPath: directory)
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
    try config.write(to: root.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
    let metricsPath = root.appendingPathComponent("metrics.jsonl").path
    if start == 0 || !FileManager.default.fileExists(atPath: metricsPath) {
      FileManager.default.createFile(atPath: metricsPath, contents: nil)
    }
    let metrics = try FileHandle(forWritingTo: URL(fileURLWithPath: metricsPath))
    defer { try? metrics.close() }
    try metrics.truncate(atOffset: try Trainer.offsetAfter(step: start - 1, inMetrics: metricsPath))
    try metrics.seekToEnd()
    var losses: [Float] = []
    let clock = Date()
    for iteration in start..<max(start, options.iterations) {
      let values = try step(iteration)
      losses.append(values["loss"]!)
      let fields =
        ["\"step\": \(iteration)", "\"lr\": \(optimizer.learningRate)"]
        + values.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }
      metrics.write(("{" + fields.joined(separator: ", ") + "}\n").data(using: .utf8)!)
      if iteration % max(options.logEvery, 1) == 0 || iteration == options.iterations - 1 {
        let rate = Double(iteration + 1 - start) / max(Date().timeIntervalSince(clock), 1e-9)
        progress(
          String(
            format: "step %5d/%d  loss %.4f  lr %.2e  %.2f it/s  ETA %.0fs", iteration + 1, options.iterations,
            values["loss"]!, optimizer.learningRate, rate, Double(options.iterations - iteration - 1) / rate))
      }
      if options.checkpointEvery > 0 && (iteration + 1) % options.checkpointEvery == 0 {
        try writeResumable(after: iteration + 1, config: config, to: root)
      }
    }
    try SafetensorsFile(
      tensors: detector.state(), metadata: ["config": config, "iterations": "\(options.iterations)"]
    ).write(path: root.appendingPathComponent("checkpoints/final.safetensors").path)
    return losses
  }

  static let optimizerPrefix = "optimizer/"

  /// Model and optimizer state after `steps` steps; `resume(from:)` continues from it.
  func writeResumable(after steps: Int, config: String, to root: URL) throws {
    var tensors = detector.state()
    for (key, value) in optimizer.state() { tensors[Trainer.optimizerPrefix + key] = value }
    try SafetensorsFile(tensors: tensors, metadata: ["config": config, "steps": "\(steps)"])
      .write(path: root.appendingPathComponent("checkpoints/step_\(steps).safetensors").path)
  }

  /// Loads a checkpoint from `checkpoint_every` and returns the step to continue from.
  public func resume(from path: String) throws -> Int {
    let file = try SafetensorsFile.read(path: path)
    guard let steps = file.metadata["steps"].flatMap(Int.init) else {
      throw TrainingError(message: "\(path): not a resumable checkpoint (no 'steps' metadata; use a step_<n> file)")
    }
    let model = file.tensors.filter { !$0.key.hasPrefix(Trainer.optimizerPrefix) }
    let optimizerState = Dictionary(
      uniqueKeysWithValues: file.tensors.compactMap { key, value in
        key.hasPrefix(Trainer.optimizerPrefix) ? (String(key.dropFirst(Trainer.optimizerPrefix.count)), value) : nil
      })
    do {
      try detector.load(parameters: model)
      try optimizer.load(state: optimizerState)
    } catch {
      throw TrainingError(message: "\(path): does not fit this run's model and optimizer: \(error)")
    }
    return steps
  }

  /// Byte offset just past the metrics line of `step` (0 when there is none), so a resumed run rewrites later lines.
  static func offsetAfter(step: Int, inMetrics path: String) throws -> UInt64 {
    guard step >= 0, let data = FileManager.default.contents(atPath: path) else { return 0 }
    var offset = 0
    for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
      let next = offset + line.count + 1
      if String(decoding: line, as: UTF8.self).hasPrefix("{\"step\": \(step),") { return UInt64(min(next, data.count)) }
      offset = next
    }
    throw TrainingError(message: "\(path): has no line for step \(step) to resume after")
  }
}
