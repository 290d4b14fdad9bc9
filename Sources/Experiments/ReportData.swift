import Config
import Datasets
import Detection
import Foundation
import Training

/// Everything a report shows about one run: its config, loss history and results.
public struct ReportRun {
  public var directory: String
  public var configText: String
  public var config: ConfigNode
  public var history: [RunHistory]
  /// Parameters, initialisation, timing and metrics; metrics are empty when the run was not evaluated.
  public var result: RunResult
  /// Whether `trainSeconds` was measured (single runs from `glip train` have no timing).
  public var timed: Bool
}

/// The runs of a run directory or an ablation directory, loaded for `glip report`.
public struct ReportData {
  public enum Kind { case run, ablation }

  public var kind: Kind
  public var path: String
  public var runs: [ReportRun]
  /// Problems that left part of the report out, shown in it.
  public var notes: [String]

  /// Variant names in first-seen order.
  public var variants: [String] {
    runs.map(\.result.variant).reduce(into: []) { if !$0.contains($1) { $0.append($1) } }
  }

  /// The first run (lowest seed order as listed) of each variant.
  public var representatives: [ReportRun] { variants.map { name in runs.first { $0.result.variant == name }! } }

  /// Loads `path`: an ablation directory (`results.json`) or a run directory (`config.yaml` and `metrics.jsonl`).
  /// A single run without `result.json` is evaluated on its validation data when `evaluate` is true.
  public static func load(
    _ path: String, evaluate: Bool = true, progress: @escaping (String) -> Void = { _ in }
  ) throws -> ReportData {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw ExperimentError("\(path): no such directory")
    }
    let resultsPath = path + "/" + AblationRunner.resultsJSON
    if FileManager.default.fileExists(atPath: resultsPath) {
      let document = try JSONFiles.read(ResultsTable.Document.self, from: resultsPath)
      guard !document.runs.isEmpty else { throw ExperimentError("\(resultsPath): has no finished runs yet") }
      let runs = try document.runs.map { result in
        try loadRun(path + "/" + result.run, result: result, timed: true)
      }
      return ReportData(kind: .ablation, path: path, runs: runs, notes: [])
    }
    let config = TrainedModel.configPath(run: path), metrics = path + "/metrics.jsonl"
    guard FileManager.default.fileExists(atPath: config), FileManager.default.fileExists(atPath: metrics) else {
      throw ExperimentError(
        "\(path): not a run directory (needs config.yaml and metrics.jsonl from glip train) "
          + "nor an ablation directory (needs results.json from glip ablate)")
    }
    var notes: [String] = []
    let resultPath = path + "/" + AblationRunner.resultFile
    if FileManager.default.fileExists(atPath: resultPath) {
      let result = try JSONFiles.read(RunResult.self, from: resultPath)
      return ReportData(kind: .run, path: path, runs: [try loadRun(path, result: result, timed: true)], notes: notes)
    }
    let result = try describeRun(path, evaluate: evaluate, notes: &notes, progress: progress)
    let timed = FileManager.default.fileExists(atPath: path + "/" + AblationRunner.timingFile)
    return ReportData(kind: .run, path: path, runs: [try loadRun(path, result: result, timed: timed)], notes: notes)
  }

  static func loadRun(_ directory: String, result: RunResult, timed: Bool) throws -> ReportRun {
    let configPath = TrainedModel.configPath(run: directory)
    guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
      throw ExperimentError("\(configPath): not found (run '\(result.variant)', seed \(result.seed))")
    }
    return ReportRun(
      directory: directory, configText: text, config: try YAMLParser.parse(text, file: configPath),
      history: try RunHistory.read(run: directory), result: result, timed: timed)
  }

  /// Parameters and initialisation of a plain `glip train` run, and its metrics when it can be evaluated.
  static func describeRun(
    _ path: String, evaluate: Bool, notes: inout [String], progress: @escaping (String) -> Void
  ) throws -> RunResult {
    let loaded = try LoadedConfig(path: TrainedModel.configPath(run: path))
    let (initialisation, pretrained) = RunResult.initialisation(of: loaded.root)
    let history = try RunHistory.read(run: path)
    let tail = history.suffix(max(1, history.count / 10)).map(\.loss)
    var result = RunResult(
      variant: URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent,
      seed: loaded.root.node(at: ["train", "seed"]).flatMap(Int.decode) ?? 0, run: ".", parameters: 0,
      trainableParameters: 0, initialisation: initialisation, pretrainedSlots: pretrained,
      trainSeconds: AblationRunner.trainSeconds(in: path), steps: history.count,
      finalLoss: tail.isEmpty ? nil : Double(tail.reduce(0, +)) / Double(tail.count), metrics: [:], slots: [],
      overrides: [])
    let checkpoint = TrainedModel.checkpointPath(run: path)
    let canEvaluate = evaluate && FileManager.default.fileExists(atPath: checkpoint)
    do {
      let experiment =
        canEvaluate
        ? try TrainedModel.load(loaded, checkpoint: checkpoint) : try CheckedExperiment(loaded, shapesOnly: true)
      let inspection = Inspection(experiment.detector)
      result.parameters = inspection.totalParameters
      result.trainableParameters = inspection.trainableParameters
      result.slots = SlotCount.of(inspection)
      if canEvaluate {
        progress("evaluating \(path)")
        result.metrics = try RunEvaluation.metrics(of: experiment, extra: [])
      } else if evaluate {
        notes.append("no metrics: \(checkpoint) not found (the run has not finished)")
      }
    } catch {
      notes.append("model not loaded, so no parameter counts or metrics: \(error)")
    }
    return result
  }
}
