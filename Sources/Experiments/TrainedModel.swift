import Components
import Config
import Datasets
import Detection
import Foundation
import NN
import TensorCore
import Training

/// A run directory written by `glip train`, or a config plus a checkpoint, loaded back into a detector.
public enum TrainedModel {
  /// The config of a run directory.
  public static func configPath(run: String) -> String { run + "/config.yaml" }
  /// The final checkpoint of a run directory.
  public static func checkpointPath(run: String) -> String { run + "/checkpoints/final.safetensors" }

  /// Assembles the config's model and loads `checkpoint` over it; every key must match. Training state stored
  /// beside the weights (the optimizer's moments in step checkpoints) is ignored.
  ///
  /// A PyTorch checkpoint (`.pth`, `.pt`, `.bin`: an official GLIP file, say) goes through `remap`, or the config's
  /// `model.checkpoint_remap`; a safetensors file goes through `remap` only when one is given.
  public static func load(_ config: LoadedConfig, checkpoint: String?, remap: String? = nil) throws
    -> CheckedExperiment
  {
    let experiment = try CheckedExperiment(config, shapesOnly: false)
    guard let checkpoint else {
      try loadInitialWeights(experiment, config: config)
      return experiment
    }
    let weights = try weights(of: checkpoint, remap: remap ?? experiment.checkpointRemap)
    do {
      try experiment.detector.load(parameters: weights)
    } catch {
      throw TrainingError(message: "\(checkpoint): does not fit the model of \(config.path): \(error)")
    }
    return experiment
  }

  /// Loads `model.checkpoint`, when the config names one, into the experiment's detector: every key must match,
  /// except that `prompt_offset` (added by the prompt-tuning modes) may be missing and then stays zero.
  public static func loadInitialWeights(_ experiment: CheckedExperiment, config: LoadedConfig) throws {
    guard let checkpoint = experiment.initialCheckpoint else { return }
    var weights = try weights(of: checkpoint, remap: experiment.checkpointRemap)
    if let offset = experiment.detector.promptOffset, weights["prompt_offset"] == nil {
      weights["prompt_offset"] = offset.value
    }
    do {
      try experiment.detector.load(parameters: weights)
    } catch {
      throw TrainingError(
        message: "model.checkpoint \(checkpoint): does not fit the model of \(config.path): \(error)")
    }
  }

  /// The remap table at `path`; a shipped table (configs/remaps/*.yaml) also when run from another directory.
  public static func remapTable(_ path: String) throws -> RemapTable {
    let name = URL(fileURLWithPath: path).lastPathComponent
    if !FileManager.default.fileExists(atPath: path), let text = BuiltinRemaps.files[name] {
      return try RemapTable(yaml: text, file: "configs/remaps/\(name) (built in)")
    }
    return try RemapTable(file: path)
  }

  /// Whether `path` names a PyTorch checkpoint rather than safetensors.
  public static func isPyTorchCheckpoint(_ path: String) -> Bool {
    ["pth", "pt", "bin", "ckpt"].contains(URL(fileURLWithPath: path).pathExtension.lowercased())
  }

  /// The model weights of a checkpoint file by model key: a PyTorch file's state dict (its `model` entry when it
  /// also holds training state) through the remap table at `remap`; a safetensors file's tensors (through `remap`
  /// when given), less the optimizer state of step checkpoints.
  static func weights(of checkpoint: String, remap: String?) throws -> [String: Tensor] {
    let table = try remap.map(remapTable)
    guard isPyTorchCheckpoint(checkpoint) else {
      let tensors = try read(checkpoint: checkpoint).tensors.filter { !$0.key.hasPrefix(Trainer.optimizerPrefix) }
      return try table?.apply(tensors).mapped ?? tensors
    }
    guard FileManager.default.fileExists(atPath: checkpoint) else {
      throw TrainingError(message: "\(checkpoint): checkpoint not found")
    }
    let state = PyTorchCheckpoint.stateDict(from: try PyTorchCheckpoint.read(path: checkpoint))
    return try table?.apply(state).mapped ?? state
  }

  /// The resolved config a checkpoint written by `glip train` holds in its metadata, with `overrides` applied.
  public static func config(ofCheckpoint checkpoint: String, overrides: [String] = []) throws -> LoadedConfig {
    let file = try read(checkpoint: checkpoint)
    guard let text = file.metadata["config"] else {
      throw TrainingError(
        message: "\(checkpoint): has no 'config' in its metadata (not written by glip train); give --config or --run")
    }
    return try LoadedConfig(text: text, displayPath: "\(checkpoint) (config metadata)", overrides: overrides)
  }

  /// The model of a checkpoint written by `glip train`, assembled from the config in its metadata.
  public static func load(checkpoint: String, overrides: [String] = []) throws -> CheckedExperiment {
    try load(try config(ofCheckpoint: checkpoint, overrides: overrides), checkpoint: checkpoint)
  }

  static func read(checkpoint: String) throws -> SafetensorsFile {
    guard FileManager.default.fileExists(atPath: checkpoint) else {
      throw TrainingError(message: "\(checkpoint): checkpoint not found")
    }
    return try SafetensorsFile.read(path: checkpoint)
  }
}
