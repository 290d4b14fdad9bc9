import Components
import Config
import Datasets
import Detection
import Foundation
import Imaging
import TensorCore
import TensorCoreTestSupport
import XCTest

@testable import Training

final class TrainerTests: XCTestCase {
  func testFlipSwapsLeftAndRightAndMovesSpans() {
    let caption = "the red circle left of a blue square"
    let (flipped, spans) = BatchBuilder.swapLeftRight(caption, spans: [[4..<14], [25..<36]])
    XCTAssertEqual(flipped, "the red circle right of a blue square")
    let scalars = Array(flipped.unicodeScalars)
    XCTAssertEqual(String(String.UnicodeScalarView(scalars[spans[0][0]])), "red circle")
    XCTAssertEqual(String(String.UnicodeScalarView(scalars[spans[1][0]])), "blue square")
    XCTAssertEqual(BatchBuilder.swapLeftRight("the bright star", spans: []).0, "the bright star", "whole words only")
  }

  func testATinyGroundingModelLearnsOnSyntheticData() throws {
    Builtins.registerAll()
    let directory = NSTemporaryDirectory() + "train-\(getpid())-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try SyntheticDatasetWriter.write(to: directory + "/data", images: 6, seed: 11, size: 96)
    let yaml = """
      model:
        backbone: {type: tiny_cnn, channels: [8, 16, 32, 32]}
        neck: {type: fpn, channels: 32, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))", freeze: true}
        fusion: {type: none}
        head: {type: fcos, channels: 32, blocks: 1}
      data:
        train: {format: odvg, annotations: "\(directory)/data/grounding.odvg.jsonl", images: "\(directory)/data"}
        val: {format: coco, annotations: "\(directory)/data/instances_shapes.json", images: "\(directory)/data"}
        image_size: 96
      train: {batch_size: 3, iterations: 40, lr: 0.003, warmup: 5, log_every: 100}
      """
    let configPath = directory + "/tiny.yaml"
    try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    let experiment = try CheckedExperiment(try LoadedConfig(path: configPath), shapesOnly: false)
    let trainer = try Trainer(experiment: experiment, records: try TrainedModel.records(experiment.data.train))
    let losses = try trainer.run(directory: directory + "/run", config: yaml) { _ in }
    let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(5).reduce(0, +) / 5
    XCTAssertLessThan(last, first * 0.7, "the loss falls by at least 30% (from \(first) to \(last))")
    let metrics = try String(contentsOfFile: directory + "/run/metrics.jsonl", encoding: .utf8)
    XCTAssertEqual(metrics.split(separator: "\n").count, 40)
    let checkpoint = try SafetensorsFile.read(path: directory + "/run/checkpoints/final.safetensors")
    XCTAssertEqual(Set(checkpoint.tensors.keys), Set(experiment.detector.state().keys))
    XCTAssertEqual(checkpoint.metadata["config"], yaml)
    try checkReloadedRun(directory + "/run", trained: experiment.detector)
  }

  /// The run directory loads back into an identical model, which evaluates and predicts in image pixels.
  private func checkReloadedRun(_ run: String, trained: GroundingDetector) throws {
    let loaded = try LoadedConfig(path: TrainedModel.configPath(run: run))
    let experiment = try TrainedModel.load(loaded, checkpoint: TrainedModel.checkpointPath(run: run))
    let (original, reloaded) = (trained.state(), experiment.detector.state())
    for (key, value) in original { XCTAssertEqual(reloaded[key]?.scalars, value.scalars, key) }

    let predictor = try Predictor(detector: experiment.detector, imageSize: 64)
    let result = try DatasetEvaluation.coco(predictor: predictor, source: experiment.data.val)
    XCTAssertFalse(result.detections.isEmpty)
    XCTAssertGreaterThan(result.metrics["AR100"], 0, "the model finds some shapes")
    XCTAssertTrue(result.metrics.values.allSatisfy { $0 == -1 || ($0 >= 0 && $0 <= 1) }, "\(result.metrics.values)")
    XCTAssertTrue(result.detections.allSatisfy { $0.bbox[0] >= 0 && $0.bbox[0] + $0.bbox[2] <= 96.01 })

    let photo = try ImageIO.read(path: run + "/../data/images/000000.png")
    let found = predictor.detect(photo, prompt: Predictor.prompt(fromPhrases: "red circle. square."))
    XCTAssertEqual(Set(found.map(\.phrase)), ["red circle", "square"])
    XCTAssertTrue(found.allSatisfy { $0.box[2] <= 96.01 && $0.box[3] <= 96.01 }, "boxes are in image pixels")
  }

  func testCheckpointThatDoesNotFitNamesTheFileAndKeys() throws {
    Builtins.registerAll()
    let directory = NSTemporaryDirectory() + "ckpt-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let configPath = directory + "/m.yaml"
    try """
    model:
      backbone: {type: tiny_cnn, channels: [8, 8, 8, 8]}
      text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))"}
      head: {type: fcos, channels: 8, blocks: 1}
    """.write(toFile: configPath, atomically: true, encoding: .utf8)
    let loaded = try LoadedConfig(path: configPath)
    var state = try CheckedExperiment(loaded, shapesOnly: false).detector.state()
    let dropped = state.keys.sorted()[0]
    state[dropped] = nil
    state["extra.weight"] = Tensor(shape: [1], values: [0])
    try SafetensorsFile(tensors: state).write(path: directory + "/bad.safetensors")
    XCTAssertThrowsError(try TrainedModel.load(loaded, checkpoint: directory + "/bad.safetensors")) { error in
      let text = "\(error)"
      XCTAssertTrue(text.hasPrefix(directory + "/bad.safetensors: does not fit the model of"), text)
      XCTAssertTrue(text.contains(dropped) && text.contains("extra.weight"), text)
    }
    XCTAssertThrowsError(try TrainedModel.load(loaded, checkpoint: directory + "/none.safetensors")) { error in
      XCTAssertEqual("\(error)", directory + "/none.safetensors: checkpoint not found")
    }
  }

  func testPhrasePromptsSplitOnPeriods() {
    let prompt = Predictor.prompt(fromPhrases: " red circle.blue square. . star")
    XCTAssertEqual(prompt.text, "red circle. blue square. star")
    XCTAssertEqual(prompt.phraseSpans, [[0..<10], [12..<23], [25..<29]])
  }
}
