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

  /// The detector's text encoder, which must tokenise text (captions and prompts) itself.
  public static func tokenizingEncoder(of detector: GroundingDetector) throws -> BertTextEncoder {
    guard let encoder = detector.textEncoder as? BertTextEncoder, encoder.tokenizer != nil else {
      throw TrainingError(
        message: "captions and prompts need a bert text encoder with a model_dir (they are tokenised)")
    }
    return encoder
  }

  /// The records of several sources, concatenated in order (a mixed training set), each `repeat` times, and how many
  /// bad records were skipped in all.
  public static func loadRecords(_ sources: [DataSource]) throws -> (records: [GroundingRecord], skipped: Int) {
    try sources.reduce(into: (records: [GroundingRecord](), skipped: 0)) { total, source in
      let loaded = try loadRecords(source)
      for _ in 0..<source.repeatCount { total.records += loaded.records }
      total.skipped += loaded.skipped
    }
  }

  /// The records of several sources, concatenated in order, each `repeat` times.
  public static func records(_ sources: [DataSource]) throws -> [GroundingRecord] { try loadRecords(sources).records }

  /// The records of `source` in its declared format; bad records fail or are skipped as `data.on_bad_record` says.
  public static func records(_ source: DataSource) throws -> [GroundingRecord] {
    try loadRecords(source).records
  }

  /// The records of `source` and how many bad records were skipped (always 0 under `on_bad_record: fail`).
  public static func loadRecords(_ source: DataSource) throws -> (records: [GroundingRecord], skipped: Int) {
    guard source.isSet else { throw TrainingError(message: "\(source.name).annotations is not set") }
    let policy = BadRecordPolicy(rawValue: source.onBadRecord.rawValue)!
    switch source.format {
    case .odvg: return try GroundingData.loadODVG(path: source.annotations, imageRoot: source.images, policy: policy)
    case .coco:
      let loaded = try GroundingData.loadCOCO(path: source.annotations, imageRoot: source.images, policy: policy)
      return (loaded.records, loaded.skipped)
    }
  }
}
