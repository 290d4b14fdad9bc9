import Evaluation
import Foundation
import XCTest

/// COCO result files that pycocotools refuses are refused here too, and numbers are never coerced.
final class HostileCocoFileTests: XCTestCase {
  private func write(_ text: String) throws -> String {
    let path = NSTemporaryDirectory() + "hostile-coco-\(UUID().uuidString).json"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
  }

  private let truthText = """
    {"images": [{"id": 1}], "categories": [{"id": 3}],
     "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 4, 4], "area": 16}]}
    """

  func testDetectionsOfUnknownImagesOrCategoriesAreRefused() throws {
    let truth = try CocoGroundTruth(path: try write(truthText))
    let cases = [
      ("[{\"image_id\": 9, \"category_id\": 3, \"bbox\": [0, 0, 4, 4], \"score\": 1}]", "image_id 9 is not an image"),
      (
        "[{\"image_id\": 1, \"category_id\": 8, \"bbox\": [0, 0, 4, 4], \"score\": 1}]",
        "category_id 8 is not a category"
      ),
    ]
    for (text, expected) in cases {
      let path = try write(text)
      let detections = try readCocoDetections(path: path)
      XCTAssertThrowsError(try truth.check(detections, from: path)) { error in
        XCTAssertTrue("\(error)".hasPrefix("\(path): [0]: \(expected)"), "\(error)")
      }
    }
  }

  func testNonIntegralIdsAndBooleanNumbersAreRefused() throws {
    for record in [
      "{\"image_id\": 1.5, \"category_id\": 3, \"bbox\": [0, 0, 4, 4], \"score\": 1}",
      "{\"image_id\": 1, \"category_id\": 1e30, \"bbox\": [0, 0, 4, 4], \"score\": 1}",
      "{\"image_id\": 1, \"category_id\": true, \"bbox\": [0, 0, 4, 4], \"score\": 1}",
      "{\"image_id\": 1, \"category_id\": 3, \"bbox\": [0, 0, 4, 4], \"score\": false}",
    ] {
      let path = try write("[\(record)]")
      XCTAssertThrowsError(try readCocoDetections(path: path), record) { error in
        XCTAssertTrue("\(error)".hasPrefix("\(path): [0]: needs integer image_id"), "\(error)")
      }
    }
    let path = try write(truthText.replacingOccurrences(of: "[0, 0, 4, 4]", with: "[0, 0, true, 4]"))
    XCTAssertThrowsError(try CocoGroundTruth(path: path)) { error in
      XCTAssertTrue("\(error)".contains("annotations[0]: 'bbox' must be"), "\(error)")
    }
  }
}
