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

final class ResumeTests: XCTestCase {
  private func trainer(config path: String) throws -> (Trainer, GroundingDetector) {
    let experiment = try CheckedExperiment(try LoadedConfig(path: path), shapesOnly: false)
    let trainer = try Trainer(
      experiment: experiment, records: try DatasetFormats.loadRecords(experiment.data.train).records)
    return (trainer, experiment.detector)
  }

  func testResumedRunMatchesAnUninterruptedOneBitForBit() throws {
    try checkResumeBitForBit(optimizer: "")
  }

  func testResumedSGDRunWithMomentumMatchesAnUninterruptedOneBitForBit() throws {
    try checkResumeBitForBit(optimizer: ", optimizer: sgd, momentum: 0.9, weight_decay: 0.0001")
  }

  private func checkResumeBitForBit(optimizer: String) throws {
    Builtins.registerAll()
    let directory = NSTemporaryDirectory() + "resume-\(getpid())-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try SyntheticDatasetWriter.write(to: directory + "/data", images: 4, seed: 5, size: 64)
    let yaml = """
      model:
        backbone: {type: tiny_cnn, channels: [8, 8, 16, 16]}
        neck: {type: fpn, channels: 16, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))", freeze: true}
        fusion: {type: bi_attention, embed_dim: 16, heads: 2, dropout: 0.5}
        head: {type: fcos, channels: 16, blocks: 1, text_heads: 2}
      data:
        train: {format: odvg, annotations: "\(directory)/data/grounding.odvg.jsonl", images: "\(directory)/data"}
        val: {format: coco, annotations: "\(directory)/data/instances_shapes.json", images: "\(directory)/data"}
        image_size: 64
      train: {batch_size: 2, iterations: 6, lr: 0.01, warmup: 2, checkpoint_every: 3, eval_every: 2\(optimizer)}
      """
    let configPath = directory + "/tiny.yaml"
    try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)

    let (straight, straightModel) = try trainer(config: configPath)
    let straightLosses = try straight.run(directory: directory + "/a", config: yaml) { _ in }

    let (repeated, _) = try trainer(config: configPath)
    XCTAssertEqual(
      try repeated.run(directory: directory + "/b", config: yaml) { _ in }, straightLosses, "training is deterministic")

    let (resumed, resumedModel) = try trainer(config: configPath)
    let start = try resumed.resume(from: directory + "/a/checkpoints/step_3.safetensors")
    XCTAssertEqual(start, 3)
    try FileManager.default.copyItem(atPath: directory + "/a/metrics.jsonl", toPath: directory + "/metrics-a.jsonl")
    let resumedLosses = try resumed.run(directory: directory + "/a", config: yaml, start: start) { _ in }
    XCTAssertEqual(resumedLosses, Array(straightLosses.suffix(3)))
    let (expected, actual) = (straightModel.state(), resumedModel.state())
    for (key, value) in expected { XCTAssertEqual(actual[key]?.scalars, value.scalars, key) }
    XCTAssertEqual(
      try String(contentsOfFile: directory + "/a/metrics.jsonl", encoding: .utf8),
      try String(contentsOfFile: directory + "/metrics-a.jsonl", encoding: .utf8),
      "metrics after step 3 (evaluations included, which leave training untouched) are rewritten, not duplicated")

    XCTAssertThrowsError(try resumed.resume(from: directory + "/a/checkpoints/final.safetensors")) { error in
      XCTAssertTrue("\(error)".contains("not a resumable checkpoint"), "\(error)")
    }
  }
}
