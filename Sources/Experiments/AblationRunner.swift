import Config
import Datasets
import Detection
import Foundation
import Training

/// Trains and evaluates every run of an `AblationPlan` into one directory, and picks up where an interrupted
/// ablation stopped:
///
/// ```
/// DIR/results.json, DIR/results.csv       every finished run, rewritten after each one
/// DIR/runs/<variant>/seed<k>/             a `glip train` run directory, plus result.json and timing.json
/// ```
///
/// A run with `result.json` is skipped; one with a final checkpoint is only evaluated; one with a `step_<n>`
/// checkpoint continues from it (bit-exact, through `Trainer.resume`); anything else trains from scratch. When the
/// config sets no `train.checkpoint_every`, runs checkpoint every quarter of their steps so they can be resumed;
/// only the newest step checkpoint is kept, and none once the run is finished.
public final class AblationRunner {
  public enum Event: Equatable {
    case skipped(String)
    case trained(String, from: Int)
    case evaluated(String)
  }

  public let plan: AblationPlan
  public let directory: String
  /// What happened to each run, in order (for logs and tests).
  public private(set) var events: [Event] = []
  private let log: (String) -> Void

  public init(plan: AblationPlan, directory: String, log: @escaping (String) -> Void = { _ in }) {
    self.plan = plan
    self.directory = directory
    self.log = log
  }

  public static let resultFile = "result.json"
  public static let timingFile = "timing.json"
  public static let resultsJSON = "results.json"
  public static let resultsCSV = "results.csv"

  /// Runs everything still missing; returns every run's result in plan order.
  @discardableResult
  public func run() throws -> [RunResult] {
    _ = try plan.check()
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var results: [RunResult] = []
    for (index, (variant, seed)) in plan.runs.enumerated() {
      log("[\(index + 1)/\(plan.runs.count)] \(variant.name), seed \(seed)")
      results.append(try run(variant, seed: seed))
      try writeResults(results)
    }
    return results
  }

  /// The run directory of a variant and seed, relative to the ablation directory.
  public static func runPath(_ variant: AblationVariant, seed: Int) -> String {
    "runs/\(variant.directoryName)/seed\(seed)"
  }

  /// The config a run trains with: the plan's, with resumable checkpoints switched on when the config has none.
  public func config(for variant: AblationVariant, seed: Int) throws -> LoadedConfig {
    let loaded = try plan.config(for: variant, seed: seed)
    let iterations =
      loaded.root.node(at: ["train", "iterations"]).flatMap(Int.decode)
      ?? TrainingOptions.Keys.iterations.defaultValue!
    let every = loaded.root.node(at: ["train", "checkpoint_every"]).flatMap(Int.decode) ?? 0
    guard every == 0 && iterations >= 4 else { return loaded }
    return try plan.config(
      for: variant, seed: seed,
      extra: [
        try AblationPlan.override(
          ["train", "checkpoint_every"], "\(iterations / 4)", origin: "glip ablate: resumable checkpoints")
      ])
  }

  func run(_ variant: AblationVariant, seed: Int) throws -> RunResult {
    let relative = AblationRunner.runPath(variant, seed: seed)
    let runDirectory = directory + "/" + relative
    let loaded = try config(for: variant, seed: seed)
    let text = YAMLEmitter.emit(loaded.root)
    let written = try? String(contentsOfFile: TrainedModel.configPath(run: runDirectory), encoding: .utf8)
    if let written, written != text {
      throw ExperimentError(
        "\(runDirectory): was trained with another config than variant '\(variant.name)' has now; "
          + "remove that directory or choose another --out")
    }
    let resultPath = runDirectory + "/" + AblationRunner.resultFile
    if written != nil, FileManager.default.fileExists(atPath: resultPath) {
      events.append(.skipped(relative))
      log("  finished before; skipped")
      return try JSONFiles.read(RunResult.self, from: resultPath)
    }
    let finalPath = TrainedModel.checkpointPath(run: runDirectory)
    if !FileManager.default.fileExists(atPath: finalPath) {
      try train(loaded, text: text, resumable: written != nil, in: runDirectory, relative: relative)
    }
    removeStepCheckpoints(in: runDirectory, keepingNewest: false)
    log("  evaluating")
    let experiment = try TrainedModel.load(loaded, checkpoint: finalPath)
    let metrics = try RunEvaluation.metrics(
      of: experiment, extra: plan.validation,
      progress: { done, total in if done == total { self.log("  evaluated \(total) images") } })
    let inspection = Inspection(experiment.detector)
    let (initialisation, pretrained) = RunResult.initialisation(of: loaded.root)
    let losses = try RunHistory.read(run: runDirectory).map(\.loss)
    let tail = losses.suffix(max(1, losses.count / 10))
    let result = RunResult(
      variant: variant.name, seed: seed, run: relative, parameters: inspection.totalParameters,
      trainableParameters: inspection.trainableParameters, initialisation: initialisation,
      pretrainedSlots: pretrained, trainSeconds: AblationRunner.trainSeconds(in: runDirectory),
      steps: experiment.training.iterations,
      finalLoss: tail.isEmpty ? nil : Double(tail.reduce(0, +)) / Double(tail.count),
      metrics: metrics, slots: SlotCount.of(inspection), overrides: variant.overrides.map(ResultsTable.describe))
    try JSONFiles.write(result, to: resultPath)
    events.append(.evaluated(relative))
    log(
      "  "
        + metrics.sorted { $0.key < $1.key }.map { String(format: "%@ %.4f", $0.key, $0.value) }.joined(separator: "  ")
    )
    return result
  }

  private func train(_ loaded: LoadedConfig, text: String, resumable: Bool, in runDirectory: String, relative: String)
    throws
  {
    let experiment = try TrainedModel.load(loaded, checkpoint: nil)  // with model.checkpoint's weights
    let records = try DatasetFormats.loadRecords(experiment.data.trainSources).records
    let trainer = try Trainer(experiment: experiment, records: records)
    var start = 0
    if resumable, let checkpoint = AblationRunner.newestStepCheckpoint(in: runDirectory) {
      start = try trainer.resume(from: checkpoint)
      log("  resuming after step \(start) from \(checkpoint)")
    } else {
      log("  training \(experiment.training.iterations) steps on \(records.count) records")
    }
    let before = start > 0 ? AblationRunner.trainSeconds(in: runDirectory) : 0
    let clock = Date()
    let timingPath = runDirectory + "/" + AblationRunner.timingFile
    try trainer.run(directory: runDirectory, config: text, start: start) { line in
      self.log("  " + line)
      self.removeStepCheckpoints(in: runDirectory, keepingNewest: true)
      try? JSONFiles.write(["seconds": before + Date().timeIntervalSince(clock)], to: timingPath)
    }
    try JSONFiles.write(["seconds": before + Date().timeIntervalSince(clock)], to: timingPath)
    events.append(.trained(relative, from: start))
  }

  static func trainSeconds(in runDirectory: String) -> Double {
    (try? JSONFiles.read([String: Double].self, from: runDirectory + "/" + timingFile))?["seconds"] ?? 0
  }

  /// The `step_<n>.safetensors` checkpoints of a run, by step.
  static func stepCheckpoints(in runDirectory: String) -> [(step: Int, path: String)] {
    let folder = runDirectory + "/checkpoints"
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    return names.compactMap { name -> (Int, String)? in
      guard name.hasPrefix("step_"), name.hasSuffix(".safetensors"),
        let step = Int(name.dropFirst(5).dropLast(12))
      else { return nil }
      return (step, folder + "/" + name)
    }.sorted { $0.0 < $1.0 }
  }

  static func newestStepCheckpoint(in runDirectory: String) -> String? { stepCheckpoints(in: runDirectory).last?.path }

  private func removeStepCheckpoints(in runDirectory: String, keepingNewest: Bool) {
    let all = AblationRunner.stepCheckpoints(in: runDirectory)
    for checkpoint in keepingNewest ? all.dropLast() : all[...] {
      try? FileManager.default.removeItem(atPath: checkpoint.path)
    }
  }

  private func writeResults(_ results: [RunResult]) throws {
    let document = ResultsTable.document(
      config: plan.configPath, variants: plan.variants, seeds: plan.seeds ?? [plan.defaultSeed], results: results)
    try JSONFiles.write(document, to: directory + "/" + AblationRunner.resultsJSON)
    try ResultsTable.csv(results).write(
      toFile: directory + "/" + AblationRunner.resultsCSV, atomically: true, encoding: .utf8)
  }
}
