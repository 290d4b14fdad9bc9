import Datasets
import Foundation
import TensorCore
import XCTest

@testable import Training

final class PromptSamplingTests: XCTestCase {
  let names = [1: "red circle", 2: "blue square", 3: "green star", 4: "ring", 5: "triangle"]

  func testSampledPromptsHoldEveryPresentClassAndTieBoxesToTheirNames() {
    var random = SeededGenerator(seed: 4)
    var lengths = Set<Int>(), firstPhrases = Set<String>()
    for _ in 0..<40 {
      let categories = [2, 4, 2]
      let (caption, spans) = BatchBuilder.sampledPrompt(categories: categories, names: names, random: &random)
      let scalars = Array(caption.unicodeScalars)
      let phrases = spans.map { String(String.UnicodeScalarView(scalars[$0[0]])) }
      XCTAssertEqual(phrases, ["blue square", "ring", "blue square"], caption)
      let listed = caption.components(separatedBy: ". ")
      XCTAssertEqual(Set(listed).count, listed.count, "no class twice: \(caption)")
      XCTAssertTrue(Set(listed).isSubset(of: Set(names.values)), caption)
      lengths.insert(listed.count)
      firstPhrases.insert(listed[0])
    }
    XCTAssertEqual(lengths, [2, 3, 4, 5], "the number of negatives varies from none to all")
    XCTAssertGreaterThan(firstPhrases.count, 2, "the order is shuffled")
  }

  func testSamplingIsDeterministicForASeed() {
    var first = SeededGenerator(seed: 9), second = SeededGenerator(seed: 9)
    for _ in 0..<5 {
      XCTAssertEqual(
        BatchBuilder.sampledPrompt(categories: [1, 5], names: names, random: &first).0,
        BatchBuilder.sampledPrompt(categories: [1, 5], names: names, random: &second).0)
    }
  }
}
