import ArgumentParser
import Components
import Config
import Detection
import Training

/// `--run DIR` or `--config FILE [--checkpoint FILE]`: which trained model a command uses.
struct ModelSourceOptions: ParsableArguments {
  @Option(help: "A run directory from glip train (its config.yaml and checkpoints/final.safetensors).")
  var run: String?

  @Option(help: "A config file (instead of --run).")
  var config: String?

  @Option(help: "A safetensors checkpoint to load over the model (default with --run: the final checkpoint).")
  var checkpoint: String?

  @Option(name: .customLong("set"), help: "Override a config key (repeatable).")
  var overrides: [String] = []

  var isGiven: Bool { run != nil || config != nil }

  func validate() throws {
    if run != nil && config != nil { throw ValidationError("give --run or --config, not both") }
  }

  /// The loaded config and the detector with the checkpoint's weights.
  func load() throws -> (config: LoadedConfig, experiment: CheckedExperiment) {
    Builtins.registerAll()
    guard let path = config ?? run.map(TrainedModel.configPath(run:)) else {
      throw ValidationError("give --run DIR or --config FILE")
    }
    let loaded = try reportingErrors { try LoadedConfig(path: path, overrides: overrides) }
    for note in loaded.notes { printError("note: \(note)") }
    let weights = checkpoint ?? run.map(TrainedModel.checkpointPath(run:))
    let experiment = try reportingErrors { try TrainedModel.load(loaded, checkpoint: weights) }
    return (loaded, experiment)
  }
}
