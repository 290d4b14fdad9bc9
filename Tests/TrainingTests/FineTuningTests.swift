import Components
import Config
import Datasets
import Detection
import Experiments
import Foundation
import TensorCore
import TensorCoreTestSupport
import XCTest

@testable import Training

/// `model.checkpoint` (the weights fine-tuning starts from) and GLIP's prompt tuning (`prompt_offset`).
final class FineTuningTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    Builtins.registerAll()
    directory = NSTemporaryDirectory() + "finetune-\(getpid())-\(UUID().uuidString)"
    try SyntheticDatasetWriter.write(to: directory + "/data", images: 4, seed: 3, size: 64)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  private func config(_ name: String, model extra: String = "", mode: String = "full") throws -> LoadedConfig {
    let yaml = """
      model:
        \(extra)
        backbone: {type: tiny_cnn, channels: [8, 8, 16, 16]}
        neck: {type: fpn, channels: 16, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))"}
        fusion: {type: bi_attention, embed_dim: 16, heads: 2}
        head: {type: atss, channels: 16, blocks: 1, text_heads: 2}
      data:
        train: {format: coco, annotations: "\(directory)/data/instances_shapes.json", images: "\(directory)/data"}
        image_size: 64
      train: {batch_size: 2, iterations: 3, lr: 0.01, warmup: 1, mode: \(mode)}
      """
    let path = directory + "/\(name).yaml"
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    return try LoadedConfig(path: path)
  }

  func testTrainingStartsFromModelCheckpoint() throws {
    let source = try TrainedModel.load(try config("source", model: "seed: 1"), checkpoint: nil)
    let file = directory + "/source.safetensors"
    try SafetensorsFile(tensors: source.detector.state()).write(path: file)
    let started = try TrainedModel.load(try config("start", model: "seed: 2\n  checkpoint: \(file)"), checkpoint: nil)
    for (key, value) in source.detector.state() {
      XCTAssertEqual(started.detector.state()[key]?.scalars, value.scalars, key)
    }
    let fresh = try CheckedExperiment(try config("fresh", model: "seed: 2"), shapesOnly: false)
    let key = "head.bbox_pred.weight"
    XCTAssertNotEqual(fresh.detector.state()[key]?.scalars, source.detector.state()[key]?.scalars)

    let other = try config("other", model: "checkpoint: \(directory)/none.safetensors")
    XCTAssertThrowsError(try TrainedModel.load(other, checkpoint: nil)) { error in
      XCTAssertEqual("\(error)", "\(directory)/none.safetensors: checkpoint not found")
    }
    var state = source.detector.state()
    state["head.bbox_pred.weight"] = nil
    try SafetensorsFile(tensors: state).write(path: directory + "/partial.safetensors")
    let partial = try config("partial", model: "checkpoint: \(directory)/partial.safetensors")
    XCTAssertThrowsError(try TrainedModel.load(partial, checkpoint: nil)) { error in
      let text = "\(error)"
      XCTAssertTrue(text.hasPrefix("model.checkpoint \(directory)/partial.safetensors: does not fit the model"), text)
      XCTAssertTrue(text.contains("head.bbox_pred.weight"), text)
    }
  }

  func testPromptTuningTrainsOnlyAZeroStartedOffset() throws {
    let source = try TrainedModel.load(try config("base", model: "seed: 1"), checkpoint: nil)
    let file = directory + "/base.safetensors"
    try SafetensorsFile(tensors: source.detector.state()).write(path: file)
    let promptConfig = try config("prompt", model: "checkpoint: \(file)", mode: "prompt_tuning")
    let tuned = try TrainedModel.load(promptConfig, checkpoint: nil)
    let detector = tuned.detector
    XCTAssertEqual(detector.trainableParameters().count, 1)
    XCTAssertEqual(detector.promptOffset?.shape, [1000, detector.textEncoder.hiddenSize])
    XCTAssertTrue(detector.promptOffset!.value.scalars.allSatisfy { $0 == 0 })

    let before = detector.state()
    let records = try DatasetFormats.loadRecords(tuned.data.train).records
    let trainer = try Trainer(experiment: tuned, records: records)
    let batch = try trainer.batchBuilder()(0)
    source.detector.eval()
    detector.eval()
    let start = withNoGrad { source.detector.loss(batch.images, tokens: batch.tokens, targets: batch.targets) }
    let same = withNoGrad { detector.loss(batch.images, tokens: batch.tokens, targets: batch.targets) }
    XCTAssertEqual(same["loss"]?.item, start["loss"]?.item, "a zero offset leaves the model as it was")

    try trainer.run(directory: directory + "/run", config: "") { _ in }
    let after = detector.state()
    XCTAssertTrue(after["prompt_offset"]!.scalars.contains { $0 != 0 }, "the offset trained")
    for (key, value) in before where key != "prompt_offset" {
      XCTAssertEqual(after[key]?.scalars, value.scalars, "\(key) is frozen")
    }
    let reloaded = try TrainedModel.load(promptConfig, checkpoint: directory + "/run/checkpoints/final.safetensors")
    XCTAssertEqual(reloaded.detector.promptOffset?.value.scalars, after["prompt_offset"]?.scalars)
  }
}
