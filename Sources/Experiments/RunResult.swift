import Config
import Datasets
import Detection
import Evaluation
import Foundation
import Training

/// Parameter counts of one slot.
public struct SlotCount: Codable, Equatable, Sendable {
  public var name: String
  public var type: String
  public var parameters: Int
  public var trainable: Int

  public init(name: String, type: String, parameters: Int, trainable: Int) {
    self.name = name
    self.type = type
    self.parameters = parameters
    self.trainable = trainable
  }

  /// The slots of an inspected detector.
  public static func of(_ inspection: Inspection) -> [SlotCount] {
    inspection.slots.map { SlotCount(name: $0.name, type: $0.type, parameters: $0.parameters, trainable: $0.trainable) }
  }
}

/// What one trained and evaluated run of an ablation produced (`result.json` in its run directory, and one row of
/// `results.json` / `results.csv`).
public struct RunResult: Codable, Equatable, Sendable {
  public var variant: String
  public var seed: Int
  /// The run directory, relative to the ablation directory.
  public var run: String
  public var parameters: Int
  public var trainableParameters: Int
  /// "pretrained: backbone, text_encoder; from scratch: neck, head" or "from scratch".
  public var initialisation: String
  public var pretrainedSlots: [String]
  /// Wall-clock seconds of training, summed over interrupted and resumed sessions.
  public var trainSeconds: Double
  public var steps: Int
  /// Mean training loss over the last tenth of the steps.
  public var finalLoss: Double?
  /// COCO metrics (`AP`, `AP50`, …) and grounding recall (`R@1`, `R@5`, `R@10`), per validation source.
  public var metrics: [String: Double]
  public var slots: [SlotCount]
  /// Where each of the variant's overrides came from.
  public var overrides: [String]

  enum CodingKeys: String, CodingKey {
    case variant, seed, run, parameters, initialisation, steps, metrics, slots, overrides
    case trainableParameters = "trainable_parameters"
    case pretrainedSlots = "pretrained_slots"
    case trainSeconds = "train_seconds"
    case finalLoss = "final_loss"
  }

  public init(
    variant: String, seed: Int, run: String, parameters: Int, trainableParameters: Int, initialisation: String,
    pretrainedSlots: [String], trainSeconds: Double, steps: Int, finalLoss: Double?, metrics: [String: Double],
    slots: [SlotCount], overrides: [String]
  ) {
    self.variant = variant
    self.seed = seed
    self.run = run
    self.parameters = parameters
    self.trainableParameters = trainableParameters
    self.initialisation = initialisation
    self.pretrainedSlots = pretrainedSlots
    self.trainSeconds = trainSeconds
    self.steps = steps
    self.finalLoss = finalLoss
    self.metrics = metrics
    self.slots = slots
    self.overrides = overrides
  }

  /// Which slots of a resolved config start from pretrained weights (`weights:` or `model_dir:` set), as text.
  public static func initialisation(of root: ConfigNode) -> (text: String, pretrained: [String]) {
    let slots = ["backbone", "neck", "text_encoder", "fusion", "head"]
    let present = slots.filter { slot in
      root.node(at: ["model", slot]) != nil && root.node(at: ["model", slot, "type"])?.scalarText != "none"
    }
    let pretrained = present.filter { slot in
      ["weights", "model_dir"].contains { key in
        guard let value = root.node(at: ["model", slot, key]), !value.isNull, let text = value.scalarText else {
          return false
        }
        return !text.isEmpty
      }
    }
    let scratch = present.filter { !pretrained.contains($0) }
    if pretrained.isEmpty { return ("from scratch", []) }
    let text =
      "pretrained: " + pretrained.joined(separator: ", ")
      + (scratch.isEmpty ? "" : "; from scratch: " + scratch.joined(separator: ", "))
    return (text, pretrained)
  }
}

/// Errors of `glip ablate` and `glip report` that name the file or directory at fault.
public struct ExperimentError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
  public init(_ message: String) { self.message = message }
}

enum JSONFiles {
  static func write<Value: Encodable>(_ value: Value, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try encoder.encode(value).write(to: URL(fileURLWithPath: path), options: .atomic)
  }

  static func read<Value: Decodable>(_ type: Value.Type, from path: String) throws -> Value {
    guard let data = FileManager.default.contents(atPath: path) else { throw ExperimentError("\(path): cannot read") }
    do {
      return try JSONDecoder().decode(type, from: data)
    } catch {
      throw ExperimentError("\(path): not a valid \(type) file: \(error)")
    }
  }
}

/// Mean and sample standard deviation over a variant's seeds.
public struct VariantSummary: Equatable {
  public var variant: String
  public var runs: [RunResult]

  public static func group(_ results: [RunResult]) -> [VariantSummary] {
    var order: [String] = []
    var byVariant: [String: [RunResult]] = [:]
    for result in results {
      if byVariant[result.variant] == nil { order.append(result.variant) }
      byVariant[result.variant, default: []].append(result)
    }
    return order.map { VariantSummary(variant: $0, runs: byVariant[$0]!) }
  }

  /// Mean and sample standard deviation (n − 1; 0 for one run) of a value over the runs that have it.
  public func statistics(_ value: (RunResult) -> Double?) -> (mean: Double, std: Double, count: Int)? {
    VariantSummary.statistics(of: runs.compactMap(value))
  }

  /// Mean and sample standard deviation (n − 1; 0 for one value) of the finite values, nil when there are none.
  public static func statistics(of all: [Double]) -> (mean: Double, std: Double, count: Int)? {
    let values = all.filter { $0.isFinite }
    guard !values.isEmpty else { return nil }
    let mean = values.reduce(0, +) / Double(values.count)
    let variance =
      values.count > 1 ? values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1) : 0
    return (mean, variance.squareRoot(), values.count)
  }

  public func metric(_ name: String) -> (mean: Double, std: Double, count: Int)? {
    statistics { $0.metrics[name] }
  }
}

/// `results.json`, `results.csv` and the printed mean ± std table.
public enum ResultsTable {
  /// Metric names in a stable order: COCO's twelve, then Recall@k, then any others alphabetically.
  public static func metricNames(_ results: [RunResult]) -> [String] {
    let present = Set(results.flatMap(\.metrics.keys))
    let known = CocoMetrics.names + ["R@1", "R@5", "R@10"]
    return known.filter(present.contains) + present.subtracting(known).sorted()
  }

  /// The metrics shown in the printed table (the CSV and JSON have all of them).
  public static let headline = ["AP", "AP50", "AP75", "AR100", "R@1", "R@5", "R@10"]

  /// One row per run.
  public static func csv(_ results: [RunResult]) -> String {
    let metrics = metricNames(results)
    let header =
      [
        "variant", "seed", "run", "parameters", "trainable_parameters", "initialisation", "train_seconds", "steps",
        "final_loss",
      ] + metrics
    var lines = [header.map(csvField).joined(separator: ",")]
    for result in results {
      let fields =
        [
          result.variant, "\(result.seed)", result.run, "\(result.parameters)", "\(result.trainableParameters)",
          result.initialisation, String(format: "%.1f", result.trainSeconds), "\(result.steps)",
          result.finalLoss.map { String(format: "%.5f", $0) } ?? "",
        ]
        + metrics.map { name in result.metrics[name].map { String(format: "%.6f", $0) } ?? "" }
      lines.append(fields.map(csvField).joined(separator: ","))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  static func csvField(_ text: String) -> String {
    text.contains(where: { ",\"\n".contains($0) })
      ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
  }

  /// `results.json`: the plan, every run, and the per-variant mean and standard deviation of every metric.
  public struct Document: Codable, Equatable {
    public struct Statistic: Codable, Equatable {
      public var mean: Double
      public var std: Double
      public var count: Int
    }
    public struct Summary: Codable, Equatable {
      public var variant: String
      public var seeds: [Int]
      public var metrics: [String: Statistic]
    }
    public struct Variant: Codable, Equatable {
      public var name: String
      public var overrides: [String]
    }
    public var config: String
    public var seeds: [Int]
    public var variants: [Variant]
    public var runs: [RunResult]
    public var summary: [Summary]
  }

  public static func document(config: String, variants: [AblationVariant], seeds: [Int], results: [RunResult])
    -> Document
  {
    let summary = VariantSummary.group(results).map { group in
      var metrics: [String: Document.Statistic] = [:]
      for name in metricNames(group.runs) {
        if let value = group.metric(name) {
          metrics[name] = Document.Statistic(mean: value.mean, std: value.std, count: value.count)
        }
      }
      if let loss = group.statistics({ $0.finalLoss }) {
        metrics["final_loss"] = Document.Statistic(mean: loss.mean, std: loss.std, count: loss.count)
      }
      return Document.Summary(variant: group.variant, seeds: group.runs.map(\.seed), metrics: metrics)
    }
    return Document(
      config: config, seeds: seeds,
      variants: variants.map { Document.Variant(name: $0.name, overrides: $0.overrides.map(describe)) },
      runs: results, summary: summary)
  }

  /// An override as `key=value (origin)`.
  public static func describe(_ override: ConfigOverride) -> String {
    let text = override.path.joined(separator: ".") + "=" + ConfigText.inline(override.value)
    return override.text == text ? text : "\(text) (\(override.text))"
  }

  /// `mean ± std` with three decimals (just the value for a single run).
  public static func meanStd(_ value: (mean: Double, std: Double, count: Int)?, digits: Int = 3) -> String {
    guard let value else { return "-" }
    let mean = String(format: "%.\(digits)f", value.mean)
    return value.count > 1 ? mean + " ± " + String(format: "%.\(digits)f", value.std) : mean
  }

  /// "pretrained backbone+text_encoder" or "from scratch", for the printed table.
  public static func shortInitialisation(_ result: RunResult) -> String {
    result.pretrainedSlots.isEmpty ? "from scratch" : "pretrained " + result.pretrainedSlots.joined(separator: "+")
  }

  /// The printed table: one row per variant, the headline metrics as mean ± std over seeds.
  public static func text(_ results: [RunResult]) -> String {
    let present = Set(results.flatMap(\.metrics.keys))
    let metrics = headline.filter(present.contains)
    var rows: [[String]] = [
      ["variant", "seeds", "parameters", "trainable", "initialisation", "train s", "final loss"] + metrics
    ]
    for group in VariantSummary.group(results) {
      rows.append(
        [
          group.variant, group.runs.map { "\($0.seed)" }.joined(separator: ","), "\(group.runs[0].parameters)",
          "\(group.runs[0].trainableParameters)", shortInitialisation(group.runs[0]),
          meanStd(group.statistics { $0.trainSeconds }, digits: 0), meanStd(group.statistics { $0.finalLoss }),
        ]
          + metrics.map { meanStd(group.metric($0)) })
    }
    let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max()! }
    return rows.map { row in
      zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
        .trimmingCharacters(in: .whitespaces)
    }.joined(separator: "\n")
  }
}
