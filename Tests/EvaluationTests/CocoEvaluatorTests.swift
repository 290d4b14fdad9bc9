import Evaluation
import Foundation
import TensorCoreTestSupport
import XCTest

final class CocoEvaluatorTests: XCTestCase {
  func testTwelveNumbersMatchPycocotools() throws {
    let expected = try JSONDecoder().decode(
      [String: [Double]].self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("coco/expected.json"))))
    XCTAssertEqual(expected.count, 4)
    for (name, stats) in expected.sorted(by: { $0.key < $1.key }) {
      let truth = try CocoGroundTruth(path: Fixtures.path("coco/\(name)_gt.json"))
      let detections = try readCocoDetections(path: Fixtures.path("coco/\(name)_dt.json"))
      let metrics = CocoEvaluator.evaluate(
        annotations: truth.annotations, detections: detections, imageIds: truth.imageIds,
        categoryIds: truth.categoryIds)
      for (index, value) in stats.enumerated() {
        XCTAssertEqual(metrics.values[index], value, accuracy: 1e-6, "\(name) \(CocoMetrics.names[index])")
      }
    }
  }

  func testPerfectDetectionsScoreOneAndBadFilesAreNamed() throws {
    let truth = [
      CocoAnnotation(id: 1, imageId: 1, categoryId: 1, bbox: [10, 10, 50, 40]),
      CocoAnnotation(id: 2, imageId: 1, categoryId: 2, bbox: [100, 100, 120, 110]),
    ]
    let detections = truth.map {
      CocoDetection(imageId: $0.imageId, categoryId: $0.categoryId, bbox: $0.bbox, score: 0.9)
    }
    let metrics = CocoEvaluator.evaluate(
      annotations: truth, detections: detections, imageIds: [1], categoryIds: [1, 2])
    XCTAssertEqual(metrics["AP"], 1, accuracy: 1e-9)
    XCTAssertEqual(metrics["APs"], -1, "no small objects: undefined, as pycocotools reports")
    XCTAssertTrue(
      metrics.summary.contains("Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000"))
    let path = NSTemporaryDirectory() + "bad-\(getpid()).json"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try #"{"images": [{"id": 1}], "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}]}"#
      .write(toFile: path, atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try CocoGroundTruth(path: path)) { error in
      XCTAssertEqual("\(error)", "\(path): annotations[0]: 'bbox' must be [x, y, width, height]")
    }
  }
}
