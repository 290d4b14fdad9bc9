import Config
import Datasets
import Detection
import Evaluation
import Foundation
import Training

/// Scores a trained model on `data.val` and any extra sources: COCO sources give the twelve COCO numbers (`AP`,
/// `AP50`, …) with every category name as the prompt; ODVG sources give phrase-grounding `R@1`, `R@5`, `R@10`, each
/// image prompted with its own caption. When two sources would give the same names, the later ones are prefixed with
/// their annotation file's name (`instances_shapes:AP`).
public enum RunEvaluation {
  /// `data.val` (when set) followed by the extra sources not equal to it.
  public static func sources(of experiment: CheckedExperiment, extra: [ValidationSource]) -> [DataSource] {
    var sources: [DataSource] = experiment.data.val.isSet ? [experiment.data.val] : []
    for (index, source) in extra.enumerated()
    where !sources.contains(where: { $0.annotations == source.annotations && $0.format == source.format }) {
      var added = experiment.data.val
      added.format = source.format
      added.annotations = source.annotations
      added.images = source.images
      added.name = "ablation.val[\(index)]"
      sources.append(added)
    }
    return sources
  }

  public static func metrics(
    of experiment: CheckedExperiment, extra: [ValidationSource], progress: @escaping (Int, Int) -> Void = { _, _ in }
  ) throws -> [String: Double] {
    let predictor = try Predictor(detector: experiment.detector, sizing: experiment.data.sizing)
    var metrics: [String: Double] = [:]
    for source in sources(of: experiment, extra: extra) {
      let found = try DatasetFormats.format(of: source).evaluate(
        predictor: predictor, source: source, progress: progress
      ).metrics
      let clash = !Set(found.map(\.name)).isDisjoint(with: metrics.keys)
      let prefix = URL(fileURLWithPath: source.annotations).deletingPathExtension().lastPathComponent + ":"
      for (name, value) in found { metrics[clash ? prefix + name : name] = value }
    }
    return metrics
  }
}

/// The per-step lines of a run's `metrics.jsonl`.
public struct RunHistory {
  public var step: Int
  public var loss: Float
  public var learningRate: Float
  public var terms: [String: Float]

  /// Reads `RUN/metrics.jsonl`; a missing file is an error naming it.
  public static func read(run: String) throws -> [RunHistory] {
    let path = run + "/metrics.jsonl"
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ExperimentError("\(path): not found")
    }
    var rows: [RunHistory] = []
    for (index, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
      guard let object = (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any],
        let step = (object["step"] as? NSNumber)?.intValue, let loss = (object["loss"] as? NSNumber)?.floatValue
      else { throw ExperimentError("\(path):\(index + 1): not a metrics line with 'step' and 'loss'") }
      var terms: [String: Float] = [:]
      for (key, value) in object where !["step", "lr", "loss"].contains(key) {
        if let number = value as? NSNumber { terms[key] = number.floatValue }
      }
      rows.append(
        RunHistory(
          step: step, loss: loss, learningRate: (object["lr"] as? NSNumber)?.floatValue ?? .nan, terms: terms))
    }
    return rows
  }
}
