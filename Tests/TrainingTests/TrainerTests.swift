import Components
import Config
import Datasets
import Detection
import Foundation
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
        image_size: 96
      train: {batch_size: 3, iterations: 40, lr: 0.003, warmup: 5, log_every: 100}
      """
    let configPath = directory + "/tiny.yaml"
    try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
    let experiment = try CheckedExperiment(try LoadedConfig(path: configPath), shapesOnly: false)
    let records = try GroundingData.loadODVG(path: experiment.data.annotations, imageRoot: experiment.data.images)
      .records
    let batches = BatchBuilder(
      records: records, encoder: experiment.detector.textEncoder as! BertTextEncoder,
      pixelFormat: experiment.detector.pixelFormat, imageSize: experiment.data.imageSize, flip: experiment.data.flip)
    let trainer = try Trainer(
      detector: experiment.detector, batches: batches, options: experiment.training,
      groups: experiment.tuning.parameterGroups)
    let losses = try trainer.run(directory: directory + "/run", config: yaml) { _ in }
    let first = losses.prefix(5).reduce(0, +) / 5, last = losses.suffix(5).reduce(0, +) / 5
    XCTAssertLessThan(last, first * 0.7, "the loss falls by at least 30% (from \(first) to \(last))")
    let metrics = try String(contentsOfFile: directory + "/run/metrics.jsonl", encoding: .utf8)
    XCTAssertEqual(metrics.split(separator: "\n").count, 40)
    let checkpoint = try SafetensorsFile.read(path: directory + "/run/checkpoints/final.safetensors")
    XCTAssertEqual(Set(checkpoint.tensors.keys), Set(experiment.detector.state().keys))
    XCTAssertEqual(checkpoint.metadata["config"], yaml)
  }
}
