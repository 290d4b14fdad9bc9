import Config
import Foundation

/// GLIP's data-efficiency picture from the runs of a transfer ablation (`configs/transfer/`): a metric against the
/// amount of task data — zero-shot, k shots per category, the full training set — with one line per tuning mode and
/// fusion, for each task and averaged over the tasks.
///
/// Everything is read from each run's resolved config: the task is its `data.val.annotations`, the amount its
/// `data.train.shots` (0 with `train.iterations: 0` is zero-shot, 0 otherwise the full set), the line its
/// `train.mode` and whether `model.fusion.type` is `none`.
public struct TransferSummary {
  /// How much task data a run trained on, in the order of the chart's x axis.
  public enum Amount: Hashable, Comparable, CustomStringConvertible {
    case zeroShot, shots(Int), full

    public var description: String {
      switch self {
      case .zeroShot: return "zero-shot"
      case .shots(let count): return "\(count)-shot"
      case .full: return "full"
      }
    }
  }

  /// One line of the chart: a tuning mode with or without deep fusion.
  public struct Line: Hashable, Comparable, CustomStringConvertible {
    public var mode: String
    public var fused: Bool

    public var description: String { "\(mode), " + (fused ? "deep fusion" : "no fusion") }

    public static func < (lhs: Line, rhs: Line) -> Bool {
      (TransferSummary.modeOrder(lhs.mode), lhs.fused ? 0 : 1, lhs.mode)
        < (TransferSummary.modeOrder(rhs.mode), rhs.fused ? 0 : 1, rhs.mode)
    }
  }

  /// Mean and sample standard deviation of the metric over a point's seeds.
  public struct Statistic: Equatable {
    public var mean: Double
    public var std: Double
    public var count: Int
  }

  public var metric: String
  public var tasks: [String]
  public var amounts: [Amount]
  public var lines: [Line]
  /// The metric's values over seeds, by task, line and amount.
  public var values: [String: [Line: [Amount: [Double]]]]
  /// Trainable parameters of each line's trained runs: what a task stores besides the shared model.
  public var storedParameters: [Line: Int]
  /// Parameters of the whole model, per line.
  public var totalParameters: [Line: Int]

  /// The summary of `runs`, or nil when they do not vary the amount of task data (not a transfer ablation).
  public static func of(_ runs: [ReportRun], metric: String = "AP") -> TransferSummary? {
    var parsed: [(task: String, line: Line, amount: Amount, result: RunResult)] = []
    for run in runs {
      guard let point = point(of: run.config) else { continue }
      parsed.append((point.task, point.line, point.amount, run.result))
    }
    let amounts = Set(parsed.map(\.amount))
    guard amounts.count > 1, amounts.contains(where: { $0 != .full }) else { return nil }
    let taskNames = shortNames(parsed.map(\.task))
    var summary = TransferSummary(
      metric: metric, tasks: [], amounts: amounts.sorted(), lines: Set(parsed.map(\.line)).sorted(), values: [:],
      storedParameters: [:], totalParameters: [:])
    for item in parsed {
      let task = taskNames[item.task]!
      if !summary.tasks.contains(task) { summary.tasks.append(task) }
      if let value = item.result.metrics[metric], value.isFinite, value >= 0 {
        summary.values[task, default: [:]][item.line, default: [:]][item.amount, default: []].append(value)
      }
      if item.amount != .zeroShot {
        summary.storedParameters[item.line] = max(
          summary.storedParameters[item.line] ?? 0, item.result.trainableParameters)
      }
      summary.totalParameters[item.line] = max(summary.totalParameters[item.line] ?? 0, item.result.parameters)
    }
    return summary
  }

  /// The metric of one task (nil: averaged over the tasks) for a line and amount.
  public func statistic(task: String?, line: Line, amount: Amount) -> Statistic? {
    guard let task else { return average(line: line, amount: amount) }
    guard let values = values[task]?[line]?[amount], let found = VariantSummary.statistics(of: values) else {
      return nil
    }
    return Statistic(mean: found.mean, std: found.std, count: found.count)
  }

  /// The mean over tasks of each task's mean, with the mean over tasks of the spread over seeds; nil unless every
  /// task has the point.
  func average(line: Line, amount: Amount) -> Statistic? {
    let perTask = tasks.compactMap { statistic(task: $0, line: line, amount: amount) }
    guard !perTask.isEmpty, perTask.count == tasks.count else { return nil }
    let count = Double(perTask.count)
    return Statistic(
      mean: perTask.map(\.mean).reduce(0, +) / count, std: perTask.map(\.std).reduce(0, +) / count,
      count: perTask.map(\.count).min()!)
  }

  /// How far `mode` stays below full fine-tuning, averaged over the tasks and the trained amounts both have, with and
  /// without fusion: GLIP's finding is that prompt tuning closes the gap only with deep fusion.
  public func gapToFullFineTuning(mode: String, fused: Bool) -> (gap: Double, points: Int)? {
    let tuned = Line(mode: mode, fused: fused), full = Line(mode: "full", fused: fused)
    var gaps: [Double] = []
    for task in tasks {
      for amount in amounts where amount != .zeroShot {
        if let a = statistic(task: task, line: full, amount: amount),
          let b = statistic(task: task, line: tuned, amount: amount)
        {
          gaps.append(a.mean - b.mean)
        }
      }
    }
    return gaps.isEmpty ? nil : (gaps.reduce(0, +) / Double(gaps.count), gaps.count)
  }

  static func modeOrder(_ mode: String) -> Int {
    ["full", "prompt_tuning", "linear_probe"].firstIndex(of: mode) ?? 3
  }

  static func point(of config: ConfigNode) -> (task: String, line: Line, amount: Amount)? {
    guard let task = config.node(at: ["data", "val", "annotations"])?.scalarText, !task.isEmpty else { return nil }
    let train = config.node(at: ["data", "train"])
    let source = train?.items?.first ?? train
    let shots = source?.node(at: ["shots"]).flatMap(Int.decode) ?? 0
    let iterations = config.node(at: ["train", "iterations"]).flatMap(Int.decode) ?? 1
    let mode = config.node(at: ["train", "mode"])?.scalarText ?? "full"
    let fused = (config.node(at: ["model", "fusion", "type"])?.scalarText ?? "none") != "none"
    let amount: Amount = iterations == 0 ? .zeroShot : (shots > 0 ? .shots(shots) : .full)
    return (task, Line(mode: mode, fused: fused), amount)
  }

  /// Each path's shortest distinguishing name: the first path component where the paths differ (the parent folder's
  /// name when there is one path).
  static func shortNames(_ paths: [String]) -> [String: String] {
    let unique = Array(Set(paths)).sorted()
    let parts = unique.map { $0.split(separator: "/").map(String.init) }
    guard unique.count > 1 else {
      return Dictionary(uniqueKeysWithValues: unique.map { ($0, parts[0].dropLast().last ?? $0) })
    }
    let shortest = parts.map(\.count).min()!
    let index = (0..<shortest).first { i in Set(parts.map { $0[i] }).count > 1 } ?? shortest - 1
    return Dictionary(
      uniqueKeysWithValues: zip(unique, parts).map {
        ($0, URL(fileURLWithPath: $1[index]).deletingPathExtension().lastPathComponent)
      })
  }
}
