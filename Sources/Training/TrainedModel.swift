import Components
import Config
import Datasets
import Detection
import Foundation
import TensorCore

/// A run directory written by `glip train`, or a config plus a checkpoint, loaded back into a detector.
public enum TrainedModel {
  /// The config of a run directory.
  public static func configPath(run: String) -> String { run + "/config.yaml" }
  /// The final checkpoint of a run directory.
  public static func checkpointPath(run: String) -> String { run + "/checkpoints/final.safetensors" }

  /// Assembles the config's model and loads `checkpoint` over it; every key must match.
  public static func load(_ config: LoadedConfig, checkpoint: String?) throws -> CheckedExperiment {
    let experiment = try CheckedExperiment(config, shapesOnly: false)
    guard let checkpoint else { return experiment }
    guard FileManager.default.fileExists(atPath: checkpoint) else {
      throw TrainingError(message: "\(checkpoint): checkpoint not found")
    }
    let file = try SafetensorsFile.read(path: checkpoint)
    do {
      try experiment.detector.load(parameters: file.tensors)
    } catch {
      throw TrainingError(message: "\(checkpoint): does not fit the model of \(config.path): \(error)")
    }
    return experiment
  }

  /// The detector's text encoder, which must tokenise text (captions and prompts) itself.
  public static func tokenizingEncoder(of detector: GroundingDetector) throws -> BertTextEncoder {
    guard let encoder = detector.textEncoder as? BertTextEncoder, encoder.tokenizer != nil else {
      throw TrainingError(
        message: "captions and prompts need a bert text encoder with a model_dir (they are tokenised)")
    }
    return encoder
  }

  /// The records of `source` in its declared format.
  /// The records of several sources, concatenated in order (a mixed training set).
  public static func records(_ sources: [DataSource]) throws -> [GroundingRecord] {
    try sources.flatMap { try records($0) }
  }

  public static func records(_ source: DataSource) throws -> [GroundingRecord] {
    guard source.isSet else { throw TrainingError(message: "\(source.name).annotations is not set") }
    switch source.format {
    case .odvg: return try GroundingData.loadODVG(path: source.annotations, imageRoot: source.images).records
    case .coco: return try GroundingData.loadCOCO(path: source.annotations, imageRoot: source.images).records
    }
  }
}
