import Datasets
import XCTest

final class FewShotSamplerTests: XCTestCase {
  private func record(_ categories: [Int]) -> GroundingRecord {
    GroundingRecord(
      imagePath: "x.png", width: 10, height: 10, caption: "", boxes: categories.map { _ in [0, 0, 1, 1] },
      spans: categories.map { _ in [] }, categories: categories)
  }

  func testAnImageCountsForEveryCategoryItHoldsAsInGLIP() {
    // Images in file order: {1, 2}, {1}, {2}, {3}, {}, {1, 3}, {2}.
    let records = [[1, 2], [1], [2], [3], [], [1, 3], [2]].map(record)
    XCTAssertEqual(FewShotSampler.select(records, shots: 1, seed: 0), [0, 3], "seed 0 keeps the file order")
    XCTAssertEqual(FewShotSampler.select(records, shots: 2, seed: 0), [0, 1, 2, 3, 5])
    XCTAssertEqual(FewShotSampler.shortfall(records, selected: [0, 3], shots: 1), [:])
    XCTAssertEqual(FewShotSampler.shortfall(records, selected: [0, 3], shots: 2), [1: 1, 2: 1, 3: 1])
  }

  func testTheSplitIsSeededAndCoversEveryCategory() {
    let records = (0..<60).map { record([$0 % 5, ($0 * 7) % 5]) }
    let first = FewShotSampler.select(records, shots: 3, seed: 4)
    XCTAssertEqual(first, FewShotSampler.select(records, shots: 3, seed: 4), "the same seed gives the same split")
    XCTAssertNotEqual(first, FewShotSampler.select(records, shots: 3, seed: 5), "another seed, another split")
    XCTAssertEqual(FewShotSampler.shortfall(records, selected: first, shots: 3), [:], "every category has 3 images")
    XCTAssertLessThanOrEqual(first.count, 15, "at most k images per category")
  }

  func testCaptionsAndEmptyImagesAreNeverTaken() {
    var caption = record([])
    caption.categories = nil
    XCTAssertEqual(FewShotSampler.select([caption, record([]), record([7])], shots: 5, seed: 1), [2])
  }
}
