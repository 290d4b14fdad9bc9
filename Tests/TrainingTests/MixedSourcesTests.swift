import Components
import Config
import Datasets
import Detection
import Foundation
import TensorCoreTestSupport
import XCTest

@testable import Training

final class MixedSourcesTests: XCTestCase {
  private func experiment(train: String) throws -> CheckedExperiment {
    Builtins.registerAll()
    let directory = NSTemporaryDirectory() + "mixed-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: directory) }
    try SyntheticDatasetWriter.write(to: directory + "/data", images: 3, seed: 2, size: 64)
    let yaml = """
      model:
        backbone: {type: tiny_cnn, channels: [8, 8, 8, 8]}
        neck: {type: fpn, channels: 8, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))", freeze: true}
        head: {type: fcos, channels: 8, blocks: 1}
      data:
        train: \(train.replacingOccurrences(of: "DIR", with: directory + "/data"))
      """
    try yaml.write(toFile: directory + "/mixed.yaml", atomically: true, encoding: .utf8)
    return try CheckedExperiment(try LoadedConfig(path: directory + "/mixed.yaml"), shapesOnly: false)
  }

  func testAListOfSourcesConcatenatesTheirRecords() throws {
    let mixed = try experiment(
      train: """
        [{format: odvg, annotations: DIR/grounding.odvg.jsonl, images: DIR},
                 {format: coco, annotations: DIR/instances_phrases.json, images: DIR}]
        """)
    XCTAssertEqual(mixed.data.trainSources.map(\.name), ["data.train[0]", "data.train[1]"])
    let records = try TrainedModel.records(mixed.data.trainSources)
    XCTAssertEqual(records.count, 6)
    XCTAssertNil(records[0].categories, "captions first")
    XCTAssertNotNil(records[5].categoryNames, "then detection records that can sample prompts")
  }

  func testAnEmptyListOrAnUnknownKeyInASourceIsReported() throws {
    XCTAssertThrowsError(try experiment(train: "[]")) {
      XCTAssertTrue("\($0)".contains("data.train: expected at least one source"), "\($0)")
    }
    XCTAssertThrowsError(try experiment(train: "[{format: coco, annotation: x}]")) {
      XCTAssertTrue("\($0)".contains("unknown key 'annotation' in data.train[0]"), "\($0)")
    }
  }
}
