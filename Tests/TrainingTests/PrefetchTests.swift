import Components
import Config
import Datasets
import Experiments
import Foundation
import TensorCore
import TensorCoreTestSupport
import XCTest

@testable import Training

/// Batches built ahead on a background thread are the batches built in the step: same losses, same weights.
final class PrefetchTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    Builtins.registerAll()
    directory = NSTemporaryDirectory() + "prefetch-\(getpid())-\(UUID().uuidString)"
    try SyntheticDatasetWriter.write(to: directory + "/data", images: 6, seed: 7, size: 64)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  private func trainer(prefetch: Int) throws -> Trainer {
    let yaml = """
      model:
        backbone: {type: tiny_cnn, channels: [8, 8, 16, 16]}
        neck: {type: fpn, channels: 16, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))", freeze: true}
        fusion: {type: bi_attention, embed_dim: 16, heads: 2}
        head: {type: atss, channels: 16, blocks: 1, text_heads: 2}
      data:
        train: {format: coco, annotations: "\(directory)/data/instances_shapes.json", images: "\(directory)/data"}
        min_size: [48, 64]
        max_size: 96
      train: {batch_size: 2, iterations: 5, lr: 0.01, warmup: 1, prefetch_batches: \(prefetch)}
      """
    let path = directory + "/prefetch-\(prefetch).yaml"
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    let experiment = try CheckedExperiment(try LoadedConfig(path: path), shapesOnly: false)
    return try Trainer(experiment: experiment, records: try DatasetFormats.loadRecords(experiment.data.train).records)
  }

  func testTrainingIsBitForBitTheSameWithAndWithoutPrefetching() throws {
    let plain = try trainer(prefetch: 0)
    let plainLosses = try plain.run(directory: directory + "/plain", config: "") { _ in }
    for depth in [1, 3] {
      let ahead = try trainer(prefetch: depth)
      XCTAssertEqual(try ahead.run(directory: directory + "/ahead\(depth)", config: "") { _ in }, plainLosses)
      let (expected, actual) = (plain.detector.state(), ahead.detector.state())
      for (key, value) in expected { XCTAssertEqual(actual[key]?.scalars, value.scalars, "\(depth): \(key)") }
      XCTAssertGreaterThan(ahead.dataSeconds.build, 0)
    }
  }

  func testOutOfOrderRequestsAndErrorsBelongToTheirIteration() throws {
    let build = try trainer(prefetch: 0).batchBuilder()
    let prefetcher = BatchPrefetcher(depth: 2, end: 8) { iteration in
      if iteration == 6 { throw TrainingError(message: "cannot build batch \(iteration)") }
      return try build(iteration)
    }
    for iteration in [0, 1, 2, 5, 3, 3, 7, 0] {
      let (early, direct) = (try prefetcher.batch(iteration), try build(iteration))
      XCTAssertEqual(early.images.shape, direct.images.shape, "\(iteration)")
      XCTAssertEqual(early.images.scalars, direct.images.scalars, "\(iteration)")
      XCTAssertEqual(early.tokens.ids.scalars, direct.tokens.ids.scalars, "\(iteration)")
      XCTAssertEqual(early.targets.map(\.boxes), direct.targets.map(\.boxes), "\(iteration)")
    }
    XCTAssertThrowsError(try prefetcher.batch(6)) { error in
      XCTAssertEqual("\(error)", "cannot build batch 6")
    }
    XCTAssertEqual(try prefetcher.batch(9).images.scalars, try build(9).images.scalars, "past the end: built inline")
  }
}
