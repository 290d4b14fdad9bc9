import ArgumentParser
import Config
import Detection
import Experiments
import Training

/// Which trained model a command uses: `--checkpoint FILE` alone (the config comes from the checkpoint's metadata),
/// `--run DIR` (its config.yaml and final checkpoint, or `--checkpoint`), or `--config FILE [--checkpoint FILE]`.
struct ModelSourceOptions: ParsableArguments {
  @Option(help: "A run directory from glip train (its config.yaml and checkpoints/final.safetensors).")
  var run: String?

  @Option(help: "A config file (instead of --run or the checkpoint's own config).")
  var config: String?

  @Option(
    help: """
      A checkpoint written by glip train (final, best or step_<n>). Alone, the model is built from the config in \
      its metadata; with --run or --config it replaces the run's final checkpoint.
      """)
  var checkpoint: String?

  @Option(
    help: """
      A remap table (configs/remaps/*.yaml) for a checkpoint in another layout; default: the config's \
      model.checkpoint_remap for PyTorch files (configs/glip/* name the official GLIP table).
      """)
  var remap: String?

  @Option(name: .customLong("set"), help: "Override a config key (repeatable).")
  var overrides: [String] = []

  var isGiven: Bool { run != nil || config != nil || checkpoint != nil }

  func validate() throws {
    if run != nil && config != nil { throw ValidationError("give --run or --config, not both") }
  }

  /// The loaded config and the detector with the checkpoint's weights.
  func load() throws -> (config: LoadedConfig, experiment: CheckedExperiment) {
    let loaded: LoadedConfig = try reportingErrors {
      if let path = config ?? run.map(TrainedModel.configPath(run:)) {
        return try LoadedConfig(path: path, overrides: overrides)
      }
      guard let checkpoint else { throw ValidationError("give --checkpoint FILE, --run DIR or --config FILE") }
      if TrainedModel.isPyTorchCheckpoint(checkpoint) {
        throw ValidationError("\(checkpoint): a PyTorch checkpoint carries no config; give --config FILE as well")
      }
      return try TrainedModel.config(ofCheckpoint: checkpoint, overrides: overrides)
    }
    for note in loaded.notes { printError("note: \(note)") }
    let weights = checkpoint ?? run.map(TrainedModel.checkpointPath(run:))
    let experiment = try reportingErrors { try TrainedModel.load(loaded, checkpoint: weights, remap: remap) }
    return (loaded, experiment)
  }
}
