import Config
import Datasets
import Foundation
import Language

/// A dataset format (`data.train[i].format`, `data.val.format`): how its records load, how a model is scored on it,
/// and which of those scores ranks models (the one `train.eval_every` keeps `best.safetensors` by).
///
/// A new format is one file with a type conforming to this protocol plus one `DatasetFormats.register` call in the
/// composition root's `Builtins`.
public protocol DatasetFormat: Sendable {
  /// The name written as `format:` in configs.
  var name: String { get }
  /// One line for the config reference.
  var summary: String { get }
  /// The metric, among those `evaluate` returns, that ranks models (higher is better).
  var primaryMetric: String { get }

  /// The records of `source`, and how many bad records were skipped (always 0 under `on_bad_record: fail`).
  func loadRecords(_ source: DataSource) throws -> (records: [GroundingRecord], skipped: Int)

  /// Scores `predictor` on `source`: named metrics in display order, and bad records skipped.
  func evaluate(predictor: Predictor, source: DataSource, progress: (Int, Int) -> Void) throws -> FormatEvaluation

  /// The first `count` records with the prompt this format evaluates each with (for prediction grids).
  func samples(_ source: DataSource, count: Int) throws -> [(record: GroundingRecord, prompt: Prompt)]
}

/// What `DatasetFormat.evaluate` found.
public struct FormatEvaluation {
  /// Metric names and values, in display order (`AP`, `AP50`, …, or `R@1`, `R@5`, `R@10`).
  public var metrics: [(name: String, value: Double)]
  /// Bad records left out under `on_bad_record: skip`.
  public var skipped: Int
  /// The format's own text report (COCO's twelve-line summary); nil prints the metrics on one line.
  public var summary: String?
  /// Writes the detections as the format's results file (COCO results JSON), where the format has one.
  public var writeDetections: ((_ path: String) throws -> Void)?

  public init(
    metrics: [(name: String, value: Double)], skipped: Int = 0, summary: String? = nil,
    writeDetections: ((_ path: String) throws -> Void)? = nil
  ) {
    self.metrics = metrics
    self.skipped = skipped
    self.summary = summary
    self.writeDetections = writeDetections
  }

  /// `{"name": value, …}` in display order.
  public var json: String { "{" + metrics.map { "\"\($0.name)\": \($0.value)" }.joined(separator: ", ") + "}" }

  /// The format's summary, or `name value` pairs on one line.
  public var text: String {
    summary ?? metrics.map { String(format: "%@ %.3f", $0.name, $0.value) }.joined(separator: "  ")
  }

  public func value(of name: String) -> Double? { metrics.first { $0.name == name }?.value }
}

/// The registered dataset formats, by name. The built-in ones (`coco`, `odvg`) register in `Builtins`.
public enum DatasetFormats {
  private nonisolated(unsafe) static var order: [String] = []
  private nonisolated(unsafe) static var entries: [String: any DatasetFormat] = [:]
  private nonisolated(unsafe) static var builtinNames: Set<String> = []

  /// Registers `format` under its name; a name already taken is an error. `builtin` marks the toolkit's own.
  public static func register(_ format: any DatasetFormat, builtin: Bool = false) throws {
    guard entries[format.name] == nil else {
      throw TrainingError(message: "dataset format '\(format.name)' is already registered")
    }
    order.append(format.name)
    entries[format.name] = format
    if builtin { builtinNames.insert(format.name) }
  }

  /// Whether the toolkit itself registered `name` (the committed config reference lists only those).
  public static func isBuiltin(_ name: String) -> Bool { builtinNames.contains(name) }

  public static var all: [any DatasetFormat] { order.map { entries[$0]! } }

  /// The format `source` names; an unknown name is an error at the source's `format` key with a suggestion.
  public static func format(of source: DataSource) throws -> any DatasetFormat {
    if let format = entries[source.format] { return format }
    let suggestion = ConfigUsage.closest(source.format, among: order).map { "did you mean '\($0)'? " } ?? ""
    throw source.formatError(
      "unknown dataset format '\(source.format)'; \(suggestion)registered: "
        + order.joined(separator: ", "))
  }

  /// The records of several sources, concatenated in order (a mixed training set), each `repeat` times, and how many
  /// bad records were skipped in all.
  public static func loadRecords(_ sources: [DataSource]) throws -> (records: [GroundingRecord], skipped: Int) {
    try sources.reduce(into: (records: [GroundingRecord](), skipped: 0)) { total, source in
      let loaded = try loadRecords(source)
      for _ in 0..<source.repeatCount { total.records += loaded.records }
      total.skipped += loaded.skipped
    }
  }

  /// The records of `source` in its declared format, narrowed to its few-shot split when `shots` is set.
  public static func loadRecords(_ source: DataSource) throws -> (records: [GroundingRecord], skipped: Int) {
    guard source.isSet else { throw TrainingError(message: "\(source.name).annotations is not set") }
    let loaded = try format(of: source).loadRecords(source)
    guard source.shots > 0 else { return loaded }
    guard loaded.records.contains(where: { $0.categories?.isEmpty == false }) else {
      throw TrainingError(
        message: "\(source.name).shots: a few-shot split needs records with categories (coco); \(source.annotations) "
          + "has none")
    }
    let selected = FewShotSampler.select(loaded.records, shots: source.shots, seed: source.shotSeed ?? 0)
    return (selected.map { loaded.records[$0] }, loaded.skipped)
  }
}
