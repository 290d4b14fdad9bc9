import Config
import Datasets
import Detection
import Foundation
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
  public static func load(_ config: LoadedConfig, checkpoint: String?) throws -> CheckedExperiment {
    let experiment = try CheckedExperiment(config, shapesOnly: false)
    guard let checkpoint else { return experiment }
    let file = try read(checkpoint: checkpoint)
    do {
      try experiment.detector.load(parameters: file.tensors.filter { !$0.key.hasPrefix(Trainer.optimizerPrefix) })
    } catch {
      throw TrainingError(message: "\(checkpoint): does not fit the model of \(config.path): \(error)")
    }
    return experiment
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
