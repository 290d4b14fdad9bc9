import ArgumentParser
import Experiments
import Foundation
import Reporting

struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Write a self-contained report.html for a run directory (glip train) or an ablation directory.",
    discussion: """
      The report has the metric table (best value highlighted), loss and learning-rate curves, parameter counts per \
      slot, the config keys that differ between variants and annotated predictions on the first validation images. \
      Charts are inline SVG and images embedded PNGs: the file needs nothing else to display.
      """)

  @Argument(help: "A run directory (config.yaml, metrics.jsonl) or an ablation directory (results.json).")
  var directory: String

  @Option(help: "Where to write the report (default: DIRECTORY/report.html).")
  var out: String?

  @Option(help: "Validation images in the prediction grid.")
  var images: Int = 4

  @Option(
    help: ArgumentHelp(
      "A variant to show in the prediction grid (repeatable; default: the first --columns variants).",
      valueName: "VARIANT"))
  var predict: [String] = []

  @Option(help: "Variants in the prediction grid when --predict is not given.")
  var columns: Int = 8

  @Option(help: "Draw predicted boxes scoring at least this.")
  var threshold: Float = 0.3

  @Option(help: "Draw at most this many boxes per image.")
  var maxBoxes: Int = 5

  @Flag(help: "Do not evaluate a run directory that has no result.json (metrics are then left out).")
  var noEval = false

  func validate() throws {
    guard images >= 0 else { throw ValidationError("--images must not be negative") }
    guard maxBoxes > 0 else { throw ValidationError("--max-boxes must be positive") }
    guard columns > 0 else { throw ValidationError("--columns must be positive") }
  }

  func run() throws {
    let data = try reportingErrors { try ReportData.load(directory, evaluate: !noEval, progress: { printError($0) }) }
    let variants = data.representatives.map { (name: $0.result.variant, directory: $0.directory) }
    let requested = try reportingErrors { try PredictionGrid.requested(predict, among: variants) }
    var notes: [String] = []
    var grid: PredictionGrid?
    if images > 0 {
      do {
        let (runs, note) = try PredictionGrid.columns(
          from: requested.isEmpty ? variants : requested, limit: requested.isEmpty ? columns : requested.count,
          total: variants.count)
        if let note { notes.append(note) }
        grid = try PredictionGrid.make(runs: runs, images: images, threshold: threshold, maxBoxes: maxBoxes)
      } catch {
        notes.append("predictions left out: \(error)")
        printError("warning: predictions left out: \(error)")
      }
    }
    let path = out ?? directory + "/report.html"
    try reportingErrors {
      try HTMLReport.render(data, predictions: grid, notes: notes).write(
        toFile: path, atomically: true, encoding: .utf8)
    }
    print("wrote \(path)")
  }
}
