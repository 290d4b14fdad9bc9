import Foundation
import Language
import TensorCoreTestSupport
import XCTest

/// GLIP's prompt rules and positive maps against scripts/reference/prompts.py (HF char_to_token underneath).
final class PromptTests: XCTestCase {
  private struct Case: Decodable {
    let name: String
    let kind: String
    let classes: [String]?
    let text: String
    let spans: [[[Int]]]
    let tokens: [[Int]]
    let max_tokens: Int
  }

  private struct Fixture: Decodable {
    let cases: [Case]
    let chunks_64: [[Int]]
  }

  private let tokenizer = try! WordPieceTokenizer(vocabularyFile: Fixtures.path("language/vocab.txt"))

  private func fixture() throws -> Fixture {
    try JSONDecoder().decode(
      Fixture.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("language/prompts.json"))))
  }

  func testPromptsAndPositiveMapsMatchGLIP() throws {
    let cases = try fixture().cases
    XCTAssertEqual(cases.count, 9)
    for testCase in cases {
      let spans = testCase.spans.map { $0.map { $0[0]..<$0[1] } }
      if let classes = testCase.classes {
        let prompt = PromptBuilder.detectionPrompt(classNames: classes)
        XCTAssertEqual(prompt.text, testCase.text, testCase.name)
        XCTAssertEqual(prompt.phraseSpans, spans, testCase.name)
      }
      let encoding = tokenizer.encode(testCase.text, maxTokens: testCase.max_tokens)
      XCTAssertEqual(PositiveMap.phraseTokens(spans, in: encoding), testCase.tokens, testCase.name)
    }
  }

  func testChunkingFitsTheTokenBudgetAndKeepsGlobalLabels() throws {
    let coco = try fixture().cases.first { $0.name == "coco" }!.classes!
    let prompts = try PromptBuilder.chunkedPrompts(classNames: coco, tokenizer: tokenizer, maxTokens: 64)
    XCTAssertEqual(prompts.map(\.labels), try fixture().chunks_64)
    for prompt in prompts { XCTAssertLessThanOrEqual(tokenizer.encode(prompt.text).count, 64) }
    let whole = try PromptBuilder.chunkedPrompts(classNames: coco, tokenizer: tokenizer, maxTokens: 256)
    XCTAssertEqual(whole.map(\.labels.count), [80], "COCO's 80 names fit 256 tokens: one prompt, as GLIP evaluates")
    let long = try PromptBuilder.chunkedPrompts(classNames: coco + coco + coco, tokenizer: tokenizer, maxTokens: 256)
    XCTAssertEqual(
      long.map(\.labels.count), [40, 40, 40, 40, 40, 40], "a list that does not fit: GLIP's 40-class chunks")
    XCTAssertEqual(long.flatMap(\.labels), Array(0..<240))
    XCTAssertThrowsError(
      try PromptBuilder.chunkedPrompts(classNames: ["traffic light"], tokenizer: tokenizer, maxTokens: 3))
  }

  func testCleanNameFollowsGLIP() {
    XCTAssertEqual(PromptBuilder.cleanName("bolt_(fastener)"), "bolt ")
    XCTAssertEqual(PromptBuilder.cleanName("Ölkanne (jug) (metal)"), "Ölkanne ")
    XCTAssertEqual(PromptBuilder.cleanName("tv  remote"), "tv remote")
    XCTAssertEqual(PositiveMap.binaryMap([[1, 2], [4]], length: 5), [0, 1, 1, 0, 0, 0, 0, 0, 0, 1])
  }
}
