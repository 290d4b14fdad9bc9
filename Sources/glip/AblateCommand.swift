import ArgumentParser
import Config
import Experiments
import Foundation
import Reporting

struct AblateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ablate",
    abstract: "Train and evaluate every variant of a config over seeds; results.csv, results.json and a table.",
    discussion: """
      The variants are the product of the --vary axes and the --variants overlays (or of the config's ablation: \
      section, which these options replace). Changing a slot's type resets that slot to the new plugin's defaults, \
      as with --set. Each run goes to OUT/runs/<variant>/seed<k>; running the same command again skips finished \
      runs and resumes a half-finished one from its last step checkpoint.
      """)

  @Option(help: "The base YAML config (it may hold an ablation: section).")
  var config: String

  @Option(name: .customLong("set"), help: "Override a key of the base config (repeatable).")
  var overrides: [String] = []

  @Option(help: "Sweep one key: --vary model.fusion.type=none,bi_attention (repeatable: a grid).")
  var vary: [String] = []

  @Option(
    parsing: .upToNextOption,
    help: "Overlay YAML files, one variant each, named after the file (e.g. --variants overlays/*.yaml).")
  var variants: [String] = []

  @Option(help: "Comma-separated seeds: each run sets model.seed and train.seed (default: the config's train.seed).")
  var seeds: String?

  @Option(help: "Ablation directory.")
  var out: String

  @Flag(help: "Only check that every variant assembles, and list the runs.")
  var dryRun = false

  func run() throws {
    let seedList = try seeds.map { text in
      try text.split(separator: ",").map { part -> Int in
        guard let seed = Int(part.trimmingCharacters(in: .whitespaces)) else {
          throw ValidationError("--seeds: '\(part)' is not an integer")
        }
        return seed
      }
    }
    let plan = try reportingErrors {
      try AblationPlan(
        configPath: config, overrides: overrides, vary: vary, variantFiles: variants, seeds: seedList)
    }
    for note in plan.base.notes { printError("note: \(note)") }
    let checked = try reportingErrors { try plan.check() }
    print("\(plan.variants.count) variant(s) × \(plan.runs.count / max(plan.variants.count, 1)) seed(s) → \(out)")
    for (variant, parameters) in checked {
      let origins = variant.overrides.map(ResultsTable.describe).joined(separator: "; ")
      print("  \(variant.name): \(parameters) parameters\(origins.isEmpty ? "" : "  [\(origins)]")")
      let notes = try reportingErrors { try plan.config(for: variant, seed: plan.runs[0].seed).notes }
      for note in notes where !plan.base.notes.contains(note) {
        print("    note: \(note)")
      }
    }
    if dryRun { return }
    let runner = AblationRunner(plan: plan, directory: out) {
      print($0)
      fflush(stdout)
    }
    let results = try reportingErrors { try runner.run() }
    print("")
    print(ResultsTable.text(results))
    print("")
    print("wrote \(out)/\(AblationRunner.resultsCSV) and \(out)/\(AblationRunner.resultsJSON)")
  }
}
