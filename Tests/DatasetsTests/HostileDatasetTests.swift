import Datasets
import Foundation
import XCTest

/// Values that JSON holds but a dataset cannot mean are refused rather than coerced: booleans and fractions where
/// integers belong, integers beyond Int, fractional or whitespace-only caption spans.
final class HostileDatasetTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    directory = NSTemporaryDirectory() + "hostile-data-\(getpid())-\(UUID().uuidString)"
    try SyntheticDatasetWriter.write(to: directory, images: 1, seed: 3, size: 64)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  private func write(_ text: String, _ name: String) throws -> String {
    let path = directory + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  private func coco(categoryId: String, bbox: String = "[2, 2, 10, 10]") -> String {
    """
    {"images": [{"id": 1, "file_name": "images/000000.png", "width": 64, "height": 64}],
     "categories": [{"id": 1, "name": "circle"}, {"id": 2, "name": "square"}],
     "annotations": [{"id": 1, "image_id": 1, "category_id": \(categoryId), "bbox": \(bbox)}]}
    """
  }

  func testCOCOCategoryIdsAndBoxesAreNotCoerced() throws {
    let cases: [(categoryId: String, bbox: String, expected: String)] = [
      ("1.5", "[2, 2, 10, 10]", "needs an integer category_id, got 1.5"),
      ("true", "[2, 2, 10, 10]", "needs an integer category_id, got true"),
      ("1e30", "[2, 2, 10, 10]", "needs an integer category_id, got 1e+30"),
      ("1", "[2, 2, true, 10]", "'bbox' must be [x, y, width, height]"),
      ("1", "[2, 2, \"10\", 10]", "'bbox' must be [x, y, width, height]"),
    ]
    for (index, item) in cases.enumerated() {
      let path = try write(coco(categoryId: item.categoryId, bbox: item.bbox), "case\(index).json")
      XCTAssertThrowsError(try GroundingData.loadCOCO(path: path, imageRoot: directory)) { error in
        XCTAssertTrue("\(error)".hasPrefix("\(path): record 0 (images[0], id 1): annotations[0]: "), "\(error)")
        XCTAssertTrue("\(error)".contains(item.expected), "\(item): \(error)")
      }
    }
    let integral = try write(coco(categoryId: "2.0"), "integral.json")
    XCTAssertEqual(try GroundingData.loadCOCO(path: integral, imageRoot: directory).records[0].categories, [2])
  }

  func testODVGSpansMustBeIntegralAndCoverText() throws {
    func line(_ spans: String) -> String {
      """
      {"filename": "images/000000.png", "width": 64, "height": 64, "grounding": {"caption": "the  red circle",
       "regions": [{"bbox": [2, 2, 20, 20], "tokens_positive": \(spans)}]}}
      """.replacingOccurrences(of: "\n", with: "")
    }
    let cases = [
      ("[[4.5, 8]]", "tokens_positive [4.5,8] is not a span of the 15-character caption"),
      ("[[true, 8]]", "tokens_positive [true,8] is not a span of the 15-character caption"),
      ("[[3, 5]]", "tokens_positive [3, 5] covers only whitespace of the caption"),
    ]
    for (index, (spans, expected)) in cases.enumerated() {
      let path = try write(line(spans), "case\(index).odvg.jsonl")
      XCTAssertThrowsError(try GroundingData.loadODVG(path: path, imageRoot: directory)) { error in
        XCTAssertEqual("\(error)", "\(path): record 0 (line 1): regions[0]: \(expected)")
      }
    }
    let good = try write(line("[[5, 8]]"), "good.odvg.jsonl")
    XCTAssertEqual(try GroundingData.loadODVG(path: good, imageRoot: directory).records[0].spans, [[5..<8]])
  }

  func testSyntheticRequestsAreBounded() {
    XCTAssertThrowsError(try SyntheticDatasetWriter.write(to: directory + "/big", images: 1, seed: 0, size: 99_999_999))
    XCTAssertThrowsError(try SyntheticDatasetWriter.write(to: directory + "/many", images: Int.max, seed: 0))
  }
}
