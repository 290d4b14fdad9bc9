import Datasets
import XCTest

@testable import Training

final class GroundingRecallTests: XCTestCase {
  func testRecallCountsAPhraseWhenOneOfItsTopKBoxesOverlapsHalf() {
    let truth: [[Float]] = [[0, 0, 10, 10]]
    let phrases = [
      GroundingRecall.PhraseResult(truth: truth, ranked: [[0, 0, 10, 10]]),
      GroundingRecall.PhraseResult(truth: truth, ranked: [[50, 50, 60, 60], [0, 0, 10, 8]]),
      GroundingRecall.PhraseResult(truth: truth, ranked: [[0, 0, 10, 4]]),
      GroundingRecall.PhraseResult(truth: truth, ranked: []),
    ]
    let recall = GroundingRecall.recall(phrases, ks: [1, 2])
    XCTAssertEqual(recall[1], 0.25, "only the first phrase hits at k=1 (IoU 0.4 of the third is below 0.5)")
    XCTAssertEqual(recall[2], 0.5)
  }

  func testBoxesSharingSpansFormOnePhrase() {
    let record = GroundingRecord(
      imagePath: "x.png", width: 10, height: 10, caption: "two red dots and a ring",
      boxes: [[0, 0, 1, 1], [2, 2, 3, 3], [4, 4, 5, 5]], spans: [[4..<12], [4..<12], [19..<23]])
    let (prompt, truth) = GroundingRecall.phrases(of: record)
    XCTAssertEqual(prompt.text, record.caption)
    XCTAssertEqual(prompt.phraseSpans, [[4..<12], [19..<23]])
    XCTAssertEqual(truth, [[[0, 0, 1, 1], [2, 2, 3, 3]], [[4, 4, 5, 5]]])
  }
}
