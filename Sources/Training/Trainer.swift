import DataParallel
import Datasets
import Detection
import Evaluation
import Foundation
import NN
import TensorCore

/// Errors that stop training, with what to do about them.
public struct TrainingError: Error, CustomStringConvertible {
  public let message: String
  /// Every rank of a data-parallel run raised it at the same step (a non-finite loss or weights), so the job can end
  /// without aborting the other ranks.
  public let onEveryRank: Bool
  public var description: String { message }
  public init(message: String, onEveryRank: Bool = false) {
    self.message = message
    self.onEveryRank = onEveryRank
  }
}

/// The optimisation loop: seeded shuffling, AdamW with parameter groups and a warm-up + cosine schedule, gradient
/// clipping, non-finite-loss detection, `metrics.jsonl` and a final checkpoint (safetensors with the resolved config
/// in its metadata).
///
/// With a `communicator` of several ranks it trains one model data-parallel: `train.batch_size` is the global batch,
/// each rank takes its share of each step's seeded sample order, the loss normalisers and the logged loss terms are
/// reduced over the ranks, gradients are averaged before clipping, and only rank 0 writes files and evaluates.
public final class Trainer {
  public let detector: GroundingDetector
  public let batches: BatchBuilder
  public let options: TrainingOptions
  public let optimizer: any ResumableOptimizer
  public let schedule: ComposedSchedule
  public let communicator: any Communicator
  /// Averages the gradients over the ranks; its timings measure the communication.
  public let gradients: GradientAverager

  /// `validation`, when set, is scored every `options.evalEvery` steps.
  public init(
    detector: GroundingDetector, batches: BatchBuilder, options: TrainingOptions, groups: [ParameterGroupRule],
    validation: DataSource? = nil, communicator: any Communicator = SingleProcess()
  ) throws {
    try Trainer.checkDataParallel(detector: detector, batchSize: options.batchSize, ranks: communicator.size)
    self.detector = detector
    self.validation = validation?.isSet == true ? validation : nil
    self.batches = batches
    self.options = options
    self.communicator = communicator
    gradients = GradientAverager(communicator: communicator)
    let parameters = try optimizedParameters(of: detector, groups: groups, noDecayOnNormsAndBiases: true)
    switch options.optimizer {
    case .adamw:
      optimizer = AdamW(parameters, learningRate: options.learningRate, weightDecay: options.weightDecay)
    case .sgd:
      optimizer = SGD(
        parameters, learningRate: options.learningRate, momentum: options.momentum, weightDecay: options.weightDecay)
    }
    schedule = ComposedSchedule([
      LinearWarmup(iterations: options.warmup, startFactor: 0.1),
      CosineSchedule(iterations: max(options.iterations, 1), minFactor: 0.05),
    ])
  }

  /// Images per step on each rank.
  public var batchPerRank: Int { options.batchSize / communicator.size }

  /// Throws unless `ranks` can share the global batch: it divides evenly, and no batch norm uses the statistics of a
  /// rank's share alone (there is no synchronised batch norm).
  static func checkDataParallel(detector: GroundingDetector, batchSize: Int, ranks: Int) throws {
    guard ranks > 1 else { return }
    guard batchSize % ranks == 0 else {
      throw TrainingError(
        message: "train.batch_size \(batchSize) is the global batch and must divide evenly over the \(ranks) ranks")
    }
    if let key = detector.namedModules().first(where: { $0.module is BatchNorm2d })?.key {
      throw TrainingError(
        message: "'\(key)' is a batch norm in training mode: over \(ranks) ranks each would normalise with its own "
          + "share's statistics and the ranks would train different models; use norm: frozen_bn or gn, or train in "
          + "one process")
    }
  }

  /// Record indices of step `iteration` over all ranks: a seeded permutation per pass over the data.
  public func indices(for iteration: Int) -> [Int] {
    Trainer.indices(for: iteration, records: batches.records.count, options: options)
  }

  static func indices(for iteration: Int, records count: Int, options: TrainingOptions) -> [Int] {
    (0..<options.batchSize).map { slot in
      let position = iteration * options.batchSize + slot
      var random = SeededGenerator(seed: UInt64(options.seed) &* 1_000_003 &+ UInt64(position / count))
      let permutation = Array(0..<count).shuffled(using: &random)
      return permutation[position % count]
    }
  }

  /// This rank's share of step `iteration`'s batch. It depends on nothing but the iteration (its draws come from a
  /// generator seeded by it), which is what lets `BatchPrefetcher` build it ahead.
  func batchBuilder() -> (Int) throws -> BatchBuilder.Batch {
    let (batches, options) = (self.batches, self.options)
    let share = communicator.rank * batchPerRank..<(communicator.rank + 1) * batchPerRank
    return { iteration in
      var random = SeededGenerator(seed: UInt64(options.seed) &+ 0x5EED &+ UInt64(iteration))
      let indices = Trainer.indices(for: iteration, records: batches.records.count, options: options)
      return try batches.batch(indices, random: &random, keeping: share)
    }
  }

  /// Builds the next batches in the background during `train` (`train.prefetch_batches`).
  private var prefetcher: BatchPrefetcher?

  /// Seconds the last `train` spent building batches in the background, and waiting for them between steps.
  public private(set) var dataSeconds: (build: Double, wait: Double) = (0, 0)

  /// One optimisation step; returns the loss terms.
  public func step(_ iteration: Int) throws -> [String: Float] {
    detector.train()
    detector.reseedRandomModules(UInt64(options.seed) &+ 0xD209 &+ UInt64(iteration))
    let batch = try prefetcher?.batch(iteration) ?? batchBuilder()(iteration)
    let terms = Collectives.$communicator.withValue(communicator) {
      detector.loss(batch.images, tokens: batch.tokens, targets: batch.targets)
    }
    let values = meanOverRanks(terms.mapValues(\.item))
    guard values.values.allSatisfy(\.isFinite) else {
      throw TrainingError(
        message: "non-finite loss at step \(iteration): \(values); training stopped", onEveryRank: true)
    }
    terms["loss"]!.backward()
    gradients.average(detector.trainableParameters())
    if options.clipNorm > 0 { clipGradientNorm(detector.trainableParameters(), maxNorm: options.clipNorm) }
    optimizer.learningRate = schedule.learningRate(base: options.learningRate, at: iteration)
    optimizer.step()
    optimizer.zeroGrad()
    return values
  }

  /// Loss terms averaged over the ranks (each rank's terms are its share of the global ones); a non-finite term on any
  /// rank makes the mean non-finite on every rank.
  func meanOverRanks(_ values: [String: Float]) -> [String: Float] {
    guard communicator.size > 1 else { return values }
    let keys = values.keys.sorted()
    return Dictionary(uniqueKeysWithValues: zip(keys, communicator.mean(keys.map { values[$0]! })))
  }

  /// Where `run` reports to: each step's numbers, evaluations and checkpoints.
  public enum Event {
    /// A step finished; `step` counts the steps done.
    case step(StepReport)
    /// `train.eval_every` evaluation after `step` steps; `isBest` when it beat every earlier one.
    case evaluated(step: Int, metrics: [(name: String, value: Double)], isBest: Bool)
    /// A checkpoint was written.
    case checkpoint(path: String)
  }

  /// One step's numbers for progress displays.
  public struct StepReport {
    public var step: Int
    public var total: Int
    public var terms: [String: Float]
    public var learningRate: Float
    public var stepsPerSecond: Double
    public var secondsLeft: Double
    public var loss: Float { terms["loss"] ?? .nan }
  }

  /// The best evaluation so far: which metric, its value and after how many steps.
  public struct Best: Equatable {
    public var metric: String
    public var value: Double
    public var step: Int
  }

  /// The evaluation data of `train.eval_every` (`data.val`); set by `init(experiment:records:)`.
  public var validation: DataSource?
  /// The best evaluation so far (restored by `resume(from:)`).
  public private(set) var best: Best?

  /// Runs the steps from `start` on, appending a JSON line per step to `metrics.jsonl` in `directory`, writing
  /// `checkpoints/step_<n>.safetensors` every `checkpoint_every` steps and `checkpoints/final.safetensors` at the end.
  /// `progress` gets a line every `log_every` steps. Returns the total loss of each step run.
  @discardableResult
  public func run(directory: String, config: String, start: Int = 0, progress: (String) -> Void) throws -> [Float] {
    try train(directory: directory, config: config, start: start) { event in
      switch event {
      case .step(let report):
        if (report.step - 1) % max(options.logEvery, 1) == 0 || report.step == report.total {
          progress(Trainer.line(report))
        }
      case .evaluated(let step, let metrics, let isBest):
        progress(Trainer.line(evaluation: metrics, step: step, isBest: isBest))
      case .checkpoint: break
      }
    }
  }

  /// The plain progress line of a step.
  public static func line(_ report: StepReport) -> String {
    String(
      format: "step %5d/%d  loss %.4f  lr %.2e  %.2f it/s  ETA %@", report.step, report.total, report.loss,
      report.learningRate, report.stepsPerSecond, duration(report.secondsLeft))
  }

  /// The line of an evaluation: the headline numbers (metrics.jsonl has them all).
  public static func line(evaluation metrics: [(name: String, value: Double)], step: Int, isBest: Bool) -> String {
    let shown = metrics.filter { ["AP", "AP50", "AP75", "AR100", "R@1", "R@5", "R@10"].contains($0.name) }
    return "eval after step \(step): "
      + shown.map { String(format: "%@ %.4f", $0.name, $0.value) }.joined(separator: "  ")
      + (isBest ? "  (best so far)" : "")
  }

  /// `1h02m`, `3m05s` or `42s`.
  public static func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let total = Int(seconds.rounded())
    if total >= 3600 { return String(format: "%dh%02dm", total / 3600, total % 3600 / 60) }
    if total >= 60 { return String(format: "%dm%02ds", total / 60, total % 60) }
    return "\(total)s"
  }

  /// `run`, reporting each step, evaluation and checkpoint to `events`.
  ///
  /// Writes, in `directory`: `config.yaml`; `metrics.jsonl` with one line per step (`{"step": i, "lr", loss terms}`,
  /// `i` from 0) and one per evaluation (`{"step": i, "eval": {…}}` after step `i`); every `checkpoint_every` steps
  /// `checkpoints/step_<n>.safetensors` (the model, the optimizer's state under `optimizer/`, and in the metadata the
  /// config and the optimizer, schedule and random state), keeping the newest `keep_checkpoints`; every `eval_every`
  /// steps an evaluation on `validation`, and `checkpoints/best.safetensors` when it is the best so far; at the end
  /// `checkpoints/final.safetensors`. A non-finite loss, or non-finite weights before a checkpoint or evaluation,
  /// stops the run with an error that names the last good checkpoint; no checkpoint is written after it.
  ///
  /// With several ranks, rank 0's parameters and buffers are first broadcast and every rank checks that it holds the
  /// same model, optimizer state and start step; only rank 0 writes, evaluates and reports `events`.
  @discardableResult
  public func train(
    directory: String, config: String, start: Int = 0, events: (Event) -> Void
  ) throws -> [Float] {
    if options.evalEvery > 0 && validation?.isSet != true {
      throw TrainingError(message: "train.eval_every is \(options.evalEvery) but data.val is not set")
    }
    let root = URL(fileURLWithPath: directory)
    try synchronise(start: start)
    let metrics = communicator.isPrimary ? try openMetrics(in: root, config: config, start: start) : nil
    defer { try? metrics?.close() }
    var losses: [Float] = []
    var lastGood = start > 0 ? lastCheckpoint(in: root, atMost: start) : nil
    if options.prefetchBatches > 0 {
      prefetcher = BatchPrefetcher(depth: options.prefetchBatches, end: options.iterations, build: batchBuilder())
    }
    defer {
      prefetcher?.stop()
      dataSeconds = (prefetcher?.buildSeconds ?? 0, prefetcher?.waitSeconds ?? 0)
      prefetcher = nil
    }
    let clock = Date()
    for iteration in start..<max(start, options.iterations) {
      let values: [String: Float]
      do {
        values = try step(iteration)
      } catch let error as TrainingError where error.message.hasPrefix("non-finite") {
        throw TrainingError(
          message: "\(error.message); \(Trainer.lastGoodNote(lastGood))", onEveryRank: error.onEveryRank)
      }
      losses.append(values["loss"]!)
      let fields =
        ["\"step\": \(iteration)", "\"lr\": \(optimizer.learningRate)"]
        + values.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \($0.value)" }
      metrics?.write(("{" + fields.joined(separator: ", ") + "}\n").data(using: .utf8)!)
      let rate = Double(iteration + 1 - start) / max(Date().timeIntervalSince(clock), 1e-9)
      if communicator.isPrimary {
        events(
          .step(
            StepReport(
              step: iteration + 1, total: options.iterations, terms: values, learningRate: optimizer.learningRate,
              stepsPerSecond: rate, secondsLeft: Double(options.iterations - iteration - 1) / rate)))
      }
      let evaluates = options.evalEvery > 0 && (iteration + 1) % options.evalEvery == 0
      let checkpoints = options.checkpointEvery > 0 && (iteration + 1) % options.checkpointEvery == 0
      if evaluates || checkpoints { try checkFiniteWeights(after: iteration + 1, lastGood: lastGood) }
      guard let metrics else {
        if checkpoints { lastGood = stepCheckpointPath(after: iteration + 1, in: root) }
        continue
      }
      if evaluates {
        let (named, isBest) = try evaluate(after: iteration + 1, config: config, root: root)
        let object = named.map { "\"\($0.name)\": \($0.value)" }.joined(separator: ", ")
        metrics.write(("{\"step\": \(iteration), \"eval\": {" + object + "}}\n").data(using: .utf8)!)
        events(.evaluated(step: iteration + 1, metrics: named, isBest: isBest))
        if isBest { events(.checkpoint(path: root.appendingPathComponent("checkpoints/best.safetensors").path)) }
      }
      if checkpoints {
        let path = try writeResumable(after: iteration + 1, config: config, to: root)
        lastGood = path
        events(.checkpoint(path: path))
      }
    }
    try checkFiniteWeights(after: max(start, options.iterations), lastGood: lastGood)
    if communicator.isPrimary {
      let final = root.appendingPathComponent("checkpoints/final.safetensors").path
      try SafetensorsFile(
        tensors: detector.state(), metadata: ["config": config, "iterations": "\(options.iterations)"]
      ).write(path: final)
      events(.checkpoint(path: final))
    }
    return losses
  }

  /// Creates the run directory with `config.yaml`, and opens `metrics.jsonl` for appending after step `start - 1`
  /// (the lines of later steps, left by an interrupted run, are dropped).
  func openMetrics(in root: URL, config: String, start: Int) throws -> FileHandle {
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
    try config.write(to: root.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
    let metricsPath = root.appendingPathComponent("metrics.jsonl").path
    if start == 0 || !FileManager.default.fileExists(atPath: metricsPath) {
      guard FileManager.default.createFile(atPath: metricsPath, contents: nil) else {
        throw TrainingError(message: "\(metricsPath): cannot be created")
      }
    }
    let metrics = try FileHandle(forWritingTo: URL(fileURLWithPath: metricsPath))
    try metrics.truncate(atOffset: try Trainer.offsetAfter(step: start - 1, inMetrics: metricsPath))
    try metrics.seekToEnd()
    return metrics
  }

  /// With several ranks: rank 0's parameters and buffers on every rank, then a check that every rank holds the same
  /// model, optimizer state (resumed from the same checkpoint) and start step before the first step.
  func synchronise(start: Int) throws {
    guard communicator.size > 1 else { return }
    communicator.broadcastState(of: detector, from: 0)
    var state = detector.state()
    for (key, value) in optimizer.state() { state[Trainer.optimizerPrefix + key] = value }
    do {
      try communicator.verifyAgreement(
        state, numbers: [start, options.seed], what: "the model, the optimizer state and the start step")
    } catch {
      throw TrainingError(message: "\(error)", onEveryRank: true)
    }
  }

  /// Evaluates on `validation` (its format's primary metric: AP for COCO data, R@1 for captions), and writes `checkpoints/best.safetensors`
  /// when the primary metric beats every earlier evaluation.
  func evaluate(after steps: Int, config: String, root: URL) throws -> ([(name: String, value: Double)], Bool) {
    guard let validation else { return ([], false) }
    detector.eval()
    defer { detector.train() }
    let predictor = try Predictor(detector: detector, sizing: batches.sizing)
    let format = try DatasetFormats.format(of: validation)
    let named = try format.evaluate(predictor: predictor, source: validation, progress: { _, _ in }).metrics
    let primary = format.primaryMetric
    guard let value = named.first(where: { $0.name == primary })?.value else {
      throw TrainingError(message: "dataset format '\(format.name)' reported no '\(primary)' (its primary metric)")
    }
    guard best.map({ value > $0.value }) ?? true else { return (named, false) }
    best = Best(metric: primary, value: value, step: steps)
    var metadata = trainingMetadata(after: steps, config: config)
    metadata["eval"] = "{" + named.map { "\"\($0.name)\": \($0.value)" }.joined(separator: ", ") + "}"
    try SafetensorsFile(tensors: detector.state(), metadata: metadata)
      .write(path: root.appendingPathComponent("checkpoints/best.safetensors").path)
    return (named, true)
  }

  public static let optimizerPrefix = "optimizer/"

  /// The first trainable parameter holding a NaN or an infinity (a non-finite gradient can put one there while the
  /// loss was still finite), so no checkpoint is written from a broken model.
  func nonFiniteParameter() -> String? {
    for (key, parameter) in detector.namedParameters() where !parameter.isFrozen {
      let values = parameter.value.data
      for index in 0..<parameter.value.count where !values[index].isFinite { return key }
    }
    return nil
  }

  /// Throws when the weights are no longer finite; `lastGood` is named in the message.
  func checkFiniteWeights(after steps: Int, lastGood: String?) throws {
    guard let key = nonFiniteParameter() else { return }
    throw TrainingError(
      message: "non-finite weights after step \(steps) (first in '\(key)'); training stopped; "
        + Trainer.lastGoodNote(lastGood), onEveryRank: true)
  }

  static func lastGoodNote(_ lastGood: String?) -> String {
    lastGood.map { "the last good checkpoint is \($0)" }
      ?? "no checkpoint was written before it (set train.checkpoint_every to keep one)"
  }

  /// The metadata of a checkpoint after `steps` steps: the resolved config, and the optimizer, schedule and random
  /// state as JSON. Sampling, flips and dropout are seeded from `train.seed` and the step index alone, so the seed
  /// and the next step are the whole random state.
  func trainingMetadata(after steps: Int, config: String) -> [String: String] {
    var metadata = [
      "config": config, "steps": "\(steps)",
      "optimizer": optimizer.metadataJSON(
        baseLearningRate: options.learningRate, stateLocation: "tensors under \(Trainer.optimizerPrefix)"),
      "scheduler":
        "{\"type\": \"linear_warmup_cosine\", \"warmup\": \(options.warmup), \"iterations\": \(options.iterations), "
        + "\"last_step\": \(steps - 1), \"lr\": \(optimizer.learningRate)}",
      "rng": "{\"seed\": \(options.seed), \"next_step\": \(steps)}",
    ]
    if let best {
      metadata["best"] = "{\"metric\": \"\(best.metric)\", \"value\": \(best.value), \"step\": \(best.step)}"
    }
    return metadata
  }

  /// Model and optimizer state after `steps` steps; `resume(from:)` continues from it. Older step checkpoints
  /// beyond `keep_checkpoints` are removed. Returns the path written.
  @discardableResult
  func writeResumable(after steps: Int, config: String, to root: URL) throws -> String {
    var tensors = detector.state()
    for (key, value) in optimizer.state() { tensors[Trainer.optimizerPrefix + key] = value }
    let path = stepCheckpointPath(after: steps, in: root)
    var metadata = trainingMetadata(after: steps, config: config)
    // SGD without momentum has no state tensors; the flag says the (empty) state is complete.
    metadata["resumable"] = "true"
    try SafetensorsFile(tensors: tensors, metadata: metadata).write(path: path)
    if options.keepCheckpoints > 0 {
      for (_, old) in stepCheckpoints(in: root).dropLast(options.keepCheckpoints) {
        try? FileManager.default.removeItem(atPath: old)
      }
    }
    return path
  }

  func stepCheckpointPath(after steps: Int, in root: URL) -> String {
    root.appendingPathComponent("checkpoints/step_\(steps).safetensors").path
  }

  /// The `step_<n>.safetensors` files of a run, oldest first.
  public func stepCheckpoints(in root: URL) -> [(steps: Int, path: String)] {
    let directory = root.appendingPathComponent("checkpoints")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.compactMap { name -> (Int, String)? in
      guard name.hasPrefix("step_"), name.hasSuffix(".safetensors"),
        let steps = Int(name.dropFirst("step_".count).dropLast(".safetensors".count))
      else { return nil }
      return (steps, directory.appendingPathComponent(name).path)
    }.sorted { $0.0 < $1.0 }
  }

  func lastCheckpoint(in root: URL, atMost steps: Int) -> String? {
    stepCheckpoints(in: root).last { $0.steps <= steps }?.path
  }

  /// Loads a checkpoint from `checkpoint_every` and returns the step to continue from.
  public func resume(from path: String) throws -> Int {
    let file = try SafetensorsFile.read(path: path)
    let hasOptimizerState =
      file.metadata["resumable"] == "true" || file.tensors.keys.contains { $0.hasPrefix(Trainer.optimizerPrefix) }
    guard let steps = file.metadata["steps"].flatMap(Int.init), hasOptimizerState else {
      throw TrainingError(
        message: "\(path): not a resumable checkpoint (no 'steps' metadata or optimizer state; use a step_<n> file)")
    }
    if let rng = file.metadata["rng"].flatMap(Trainer.jsonObject), let seed = (rng["seed"] as? NSNumber)?.intValue,
      seed != options.seed
    {
      throw TrainingError(
        message:
          "\(path): was trained with train.seed \(seed), but the config has \(options.seed); resume with the same seed")
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
    if let object = file.metadata["best"].flatMap(Trainer.jsonObject), let metric = object["metric"] as? String,
      let value = (object["value"] as? NSNumber)?.doubleValue, let step = (object["step"] as? NSNumber)?.intValue
    {
      best = Best(metric: metric, value: value, step: step)
    }
    return steps
  }

  static func jsonObject(_ text: String) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
  }

  /// Byte offset just past the last metrics line of `step` (its evaluation, if any), so a resumed run rewrites later
  /// lines.
  static func offsetAfter(step: Int, inMetrics path: String) throws -> UInt64 {
    guard step >= 0, let data = FileManager.default.contents(atPath: path) else { return 0 }
    var offset = 0
    var end: Int?
    for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
      let next = offset + line.count + 1
      if String(decoding: line, as: UTF8.self).hasPrefix("{\"step\": \(step),") { end = min(next, data.count) }
      offset = next
    }
    guard let end else { throw TrainingError(message: "\(path): has no line for step \(step) to resume after") }
    return UInt64(end)
  }
}
