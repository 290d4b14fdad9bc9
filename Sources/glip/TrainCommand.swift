import ArgumentParser
import Components
import Config
import Detection
import Foundation
import Training

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract:
      "Train a grounding model from a config: metrics.jsonl, the resolved config and a final checkpoint in --out.")

  @Option(help: "A YAML config with model, data and train sections.")
  var config: String

  @Option(name: .customLong("set"), help: "Override a key: --set train.iterations=200 (repeatable).")
  var overrides: [String] = []

  @Option(help: "Run directory.")
  var out: String

  @Option(help: "Continue from a step_<n>.safetensors checkpoint of this run (written with train.checkpoint_every).")
  var resume: String?

  func run() throws {
    Builtins.registerAll()
    let loaded = try reportingErrors { try LoadedConfig(path: config, overrides: overrides) }
    for note in loaded.notes { printError("note: \(note)") }
    try reportingErrors {
      let experiment = try CheckedExperiment(loaded, shapesOnly: false)
      let records = try TrainedModel.records(experiment.data.trainSources)
      let trainer = try Trainer(experiment: experiment, records: records)
      print(Inspection(experiment.detector).text.components(separatedBy: "\n\n").last ?? "")
      print("training on \(records.count) records for \(experiment.training.iterations) steps")
      let start = try resume.map { try trainer.resume(from: $0) } ?? 0
      if start > 0 { print("resuming after step \(start)") }
      try trainer.run(directory: out, config: YAMLEmitter.emit(loaded.root), start: start) {
        print($0)
        fflush(stdout)
      }
      print("wrote \(out)/metrics.jsonl, \(out)/config.yaml, \(out)/checkpoints/final.safetensors")
    }
  }
}
