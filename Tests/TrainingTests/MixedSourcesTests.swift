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

final class MixedSourcesTests: XCTestCase {
  private func experiment(train: String, extra: String = "") throws -> CheckedExperiment {
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
      \(extra)
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
    let records = try DatasetFormats.loadRecords(mixed.data.trainSources).records
    XCTAssertEqual(records.count, 6)
    XCTAssertNil(records[0].categories, "captions first")
    XCTAssertNotNil(records[5].categoryNames, "then detection records that can sample prompts")
  }

  func testRepeatWeightsASourceInTheMix() throws {
    let mixed = try experiment(
      train: """
        [{format: coco, annotations: DIR/instances_phrases.json, images: DIR, repeat: 3},
                 {format: coco, annotations: DIR/instances_shapes.json, images: DIR}]
        """)
    XCTAssertEqual(mixed.data.trainSources.map(\.repeatCount), [3, 1])
    let records = try DatasetFormats.loadRecords(mixed.data.trainSources).records
    XCTAssertEqual(records.count, 12, "3 phrase images three times, then 3 shape images once")
    XCTAssertEqual(records[0].imagePath, records[3].imagePath)
    XCTAssertEqual(Set(records[0..<9].compactMap { $0.categoryNames?.count }), [30], "phrases first")
    XCTAssertEqual(Set(records[9...].compactMap { $0.categoryNames?.count }), [5])
  }

  func testRepeatMustBePositiveAndIsForTrainingOnly() throws {
    XCTAssertThrowsError(try experiment(train: "{format: coco, annotations: DIR/instances_shapes.json, repeat: 0}")) {
      XCTAssertTrue("\($0)".contains("data.train.repeat: expected at least 1, got 0"), "\($0)")
    }
    XCTAssertThrowsError(
      try experiment(
        train: "{format: coco, annotations: DIR/instances_shapes.json}",
        extra: "  val: {format: coco, annotations: DIR/instances_shapes.json, repeat: 2}")
    ) {
      XCTAssertTrue("\($0)".contains("data.val.repeat: applies to training sources only"), "\($0)")
    }
  }

  func testShotsKeepAFewShotSplitOfDetectionRecordsOnly() throws {
    // 3 synthetic images, each with several of the 5 shapes: one shot per shape needs at most 3 of them.
    let all = try DatasetFormats.loadRecords(
      try experiment(train: "{format: coco, annotations: DIR/instances_shapes.json, images: DIR}").data.train)
    let split = try experiment(train: "{format: coco, annotations: DIR/instances_shapes.json, images: DIR, shots: 1}")
    let records = try DatasetFormats.loadRecords(split.data.train).records
    let fileName = { (record: GroundingRecord) in (record.imagePath as NSString).lastPathComponent }
    XCTAssertEqual(
      records.map(fileName), FewShotSampler.select(all.records, shots: 1, seed: 0).map { fileName(all.records[$0]) })
    XCTAssertEqual(
      FewShotSampler.shortfall(records, selected: Array(records.indices), shots: 1), [:], "every shape has a shot")

    XCTAssertThrowsError(
      try DatasetFormats.loadRecords(
        try experiment(train: "{format: odvg, annotations: DIR/grounding.odvg.jsonl, images: DIR, shots: 2}")
          .data.train)
    ) {
      XCTAssertTrue("\($0)".contains("data.train.shots: a few-shot split needs records with categories"), "\($0)")
    }
    XCTAssertThrowsError(
      try experiment(
        train: "{format: coco, annotations: DIR/instances_shapes.json}",
        extra: "  val: {format: coco, annotations: DIR/instances_shapes.json, shots: 2}")
    ) {
      XCTAssertTrue("\($0)".contains("data.val.shots: applies to training sources only"), "\($0)")
    }
  }

  func testCategoryGroupsAreReadForValidationSourcesOnly() throws {
    let train = "{format: coco, annotations: DIR/instances_shapes.json}"
    let groups = try experiment(
      train: train,
      extra: "  val: {format: coco, annotations: DIR/instances_shapes.json, "
        + "category_groups: {round: [circle, ring], pointed: [star]}}"
    ).data.val.categoryGroups
    XCTAssertEqual(
      groups,
      [
        CategoryGroup(name: "round", categories: ["circle", "ring"]),
        CategoryGroup(name: "pointed", categories: ["star"]),
      ])
    for (extra, message) in [
      (
        "  val: {format: coco, annotations: A, category_groups: [circle]}",
        "data.val.category_groups: expected a mapping"
      ),
      (
        "  val: {format: coco, annotations: A, category_groups: {round: []}}",
        "data.val.category_groups.round: expected a"
      ),
      ("  val: {format: coco, annotations: A, category_groups: {round: [[a]]}}", "expected category names, got a list"),
    ] {
      XCTAssertThrowsError(try experiment(train: train, extra: extra)) {
        XCTAssertTrue("\($0)".contains(message), "\($0)")
      }
    }
    XCTAssertThrowsError(
      try experiment(train: "{format: coco, annotations: A, category_groups: {round: [circle]}}")
    ) {
      XCTAssertTrue("\($0)".contains("data.train.category_groups: applies to validation sources only"), "\($0)")
    }
    XCTAssertNil(CategoryGroup(argument: "rare"))
    XCTAssertNil(CategoryGroup(argument: "=circle"))
    XCTAssertNil(CategoryGroup(argument: "rare=circle,,ring"))
  }

  func testAnEmptyListOrAnUnknownKeyInASourceIsReported() throws {
    XCTAssertThrowsError(try experiment(train: "[]")) {
      XCTAssertTrue("\($0)".contains("data.train: expected at least one source"), "\($0)")
    }
    XCTAssertThrowsError(try experiment(train: "[{format: coco, annotation: x}]")) {
      XCTAssertTrue("\($0)".contains("unknown key 'annotation' in data.train[0]"), "\($0)")
    }
  }

  func testMultiScaleBatchesDrawTheirSideAndScaleTheBoxes() throws {
    let mixed = try experiment(
      train: "{format: coco, annotations: DIR/instances_shapes.json, images: DIR}", extra: "  multi_scale: [64, 96]")
    XCTAssertEqual(mixed.data.multiScale, [64, 96])
    let builder = BatchBuilder(
      records: try DatasetFormats.loadRecords(mixed.data.trainSources).records,
      encoder: mixed.detector.textEncoder, pixelFormat: mixed.detector.pixelFormat,
      imageSize: 64, flip: false, scales: mixed.data.multiScale)
    var sides = Set<Int>()
    for seed in 0..<12 {
      var random = SeededGenerator(seed: UInt64(seed))
      let batch = try builder.batch([0, 1], random: &random)
      let side = batch.images.shape[3]
      sides.insert(side)
      XCTAssertEqual(batch.images.shape[2], side)
      let largest = batch.targets.flatMap(\.boxes).flatMap { $0 }.max() ?? 0
      XCTAssertLessThanOrEqual(largest, Float(side), "boxes follow the batch's side")
      if side == 96 { XCTAssertGreaterThan(largest, 64, "boxes of a 64-pixel image are scaled up at 96") }
    }
    XCTAssertEqual(sides, [64, 96])
    XCTAssertThrowsError(
      try experiment(
        train: "{format: coco, annotations: DIR/instances_shapes.json, images: DIR}", extra: "  multi_scale: [16]")
    ) { XCTAssertTrue("\($0)".contains("data.multi_scale: 16 is outside the allowed range 32…8192"), "\($0)") }
  }
}
