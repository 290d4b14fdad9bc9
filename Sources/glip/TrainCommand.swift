import ArgumentParser
import Config
import Detection
import Experiments
import Foundation
import Training

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Train a grounding model from a config.",
    discussion: """
      Writes to --out: config.yaml (resolved), metrics.jsonl (one line per step; one per evaluation with \
      train.eval_every), and checkpoints/: step_<n>.safetensors every train.checkpoint_every steps (the newest \
      train.keep_checkpoints kept), best.safetensors (the best evaluation, with train.eval_every) and \
      final.safetensors. Progress is a bar on a terminal and plain lines otherwise.
      """)

  @Option(help: "A YAML config with model, data and train sections.")
  var config: String

  @Option(name: .customLong("set"), help: "Override a key: --set train.iterations=200 (repeatable).")
  var overrides: [String] = []

  @Option(help: "Run directory.")
  var out: String

  @Flag(
    help: "Continue from the newest step_<n>.safetensors in --out/checkpoints (written with train.checkpoint_every).")
  var resume = false

  @Option(help: "Continue from this step_<n>.safetensors checkpoint instead of the newest one.")
  var resumeFrom: String?

  func run() throws {
    let loaded = try reportingErrors { try LoadedConfig(path: config, overrides: overrides) }
    for note in loaded.notes { printError("note: \(note)") }
    try reportingErrors {
      let experiment = try CheckedExperiment(loaded, shapesOnly: false)
      let (records, skipped) = try DatasetFormats.loadRecords(experiment.data.trainSources)
      let files = experiment.data.trainSources.map(\.annotations).joined(separator: ", ")
      if skipped > 0 { printError("skipped \(skipped) bad records of \(files) (data.on_bad_record: skip)") }
      guard !records.isEmpty else { throw ValidationError("\(files): no usable training records") }
      let trainer = try Trainer(experiment: experiment, records: records)
      print("tuning mode: \(experiment.tuning.mode.rawValue)")
      print(Inspection(experiment.detector).text.components(separatedBy: "\n\n").last ?? "")
      print("training on \(records.count) records for \(experiment.training.iterations) steps")
      let start = try resumePoint(trainer)
      let display = ProgressDisplay(logEvery: experiment.training.logEvery)
      defer { display.finish() }
      try trainer.train(directory: out, config: YAMLEmitter.emit(loaded.root), start: start) {
        display.handle($0)
        fflush(stdout)
      }
      display.finish()
      var written = ["\(out)/metrics.jsonl", "\(out)/config.yaml", "\(out)/checkpoints/final.safetensors"]
      if let best = trainer.best {
        written.append(
          "\(out)/checkpoints/best.safetensors (\(best.metric) \(String(format: "%.4f", best.value)) after step "
            + "\(best.step))")
      }
      print("wrote " + written.joined(separator: ", "))
    }
  }

  private func resumePoint(_ trainer: Trainer) throws -> Int {
    guard resume || resumeFrom != nil else { return 0 }
    let path: String
    if let resumeFrom {
      path = resumeFrom
    } else {
      guard let newest = trainer.stepCheckpoints(in: URL(fileURLWithPath: out)).last else {
        throw ValidationError(
          "--resume: \(out)/checkpoints has no step_<n>.safetensors (set train.checkpoint_every to write them)")
      }
      path = newest.path
    }
    let start = try trainer.resume(from: path)
    print("resuming from \(path) after step \(start)")
    return start
  }
}
