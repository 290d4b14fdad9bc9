import Config
import Datasets
import Experiments
import Foundation
import Imaging
import Language
import Training
import XCTest

/// A closed-set detector (class_embedding text encoder) trains, evaluates and predicts through the same paths as a
/// grounding model: the text slot tokenises its prompts.
final class ClosedSetTests: XCTestCase {
  func testAClassEmbeddingModelTrainsEvaluatesAndPredicts() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("closed-set-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    try SyntheticDatasetWriter.write(to: root + "/data", images: 6, seed: 1, size: 64, holdout: [])
    let config = try LoadedConfig(
      text: """
        model:
          backbone: {type: tiny_cnn, channels: [8, 16, 16, 16]}
          neck: {type: none}
          text_encoder: {type: class_embedding, classes: 5, hidden: 16, names: [circle, square, triangle, star, ring]}
          head: {type: fcos, channels: 16, blocks: 1, score_threshold: 0}
        data:
          train: {format: coco, annotations: \(root)/data/instances_shapes.json, images: \(root)/data}
          val: {format: coco, annotations: \(root)/data/instances_shapes.json, images: \(root)/data}
          image_size: 64
        train: {batch_size: 2, iterations: 3, log_every: 1}
        """, displayPath: "closed.yaml")
    let experiment = try CheckedExperiment(config, shapesOnly: false)
    let records = try DatasetFormats.loadRecords(experiment.data.trainSources).records
    let losses = try Trainer(experiment: experiment, records: records).train(directory: root + "/run", config: "") {
      _ in
    }
    XCTAssertEqual(losses.count, 3)
    XCTAssertTrue(losses.allSatisfy { $0.isFinite })
    let predictor = try Predictor(detector: experiment.detector, imageSize: 64)
    let evaluation = try CocoFormat().evaluate(predictor: predictor, source: experiment.data.val, progress: { _, _ in })
    XCTAssertEqual(evaluation.metrics.count, 12)
    let photo = try ImageIO.read(path: records[0].imagePath)
    let found = try predictor.detect(
      photo, prompts: try predictor.prompts(for: try PromptInput(parsing: "star. circle")))
    XCTAssertFalse(found.isEmpty)
    let labels = Set(found.map { "\($0.phraseIndex) \($0.phrase)" })
    XCTAssertTrue(labels.isSubset(of: ["0 star", "1 circle"]), "\(labels)")
    XCTAssertThrowsError(try predictor.prompts(for: try PromptInput(parsing: "red circle"))) { error in
      XCTAssertTrue("\(error)".contains("'red circle' is not a class"), "\(error)")
    }
  }
}
