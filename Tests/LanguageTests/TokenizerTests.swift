import Foundation
import Language
import TensorCoreTestSupport
import XCTest

/// Exact equality with HF `BertTokenizerFast` on a varied corpus (scripts/reference/tokenizer.py).
final class TokenizerTests: XCTestCase {
  private struct Row: Decodable {
    let text: String
    let ids: [Int]
    let tokens: [String]
    let offsets: [[Int]]
  }

  private func fixture() throws -> [String: [Row]] {
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("language/tokenizer.json")))
    return try JSONDecoder().decode([String: [Row]].self, from: data)
  }

  private func check(_ rows: [Row], _ tokenizer: WordPieceTokenizer, maxTokens: Int? = nil, label: String) {
    var failures = 0
    for row in rows {
      let encoding = tokenizer.encode(row.text, maxTokens: maxTokens)
      let offsets = encoding.offsets.map { [$0.lowerBound, $0.upperBound] }
      if encoding.ids != row.ids || encoding.tokens != row.tokens || offsets != row.offsets {
        failures += 1
        if failures <= 5 {
          XCTFail(
            "\(label) \(row.text.debugDescription):\n  got      \(encoding.tokens) \(offsets)\n  expected \(row.tokens) \(row.offsets)"
          )
        }
      }
    }
    XCTAssertEqual(failures, 0, "\(label): \(failures) of \(rows.count) texts differ")
  }

  func testUncasedMatchesHuggingFace() throws {
    let tokenizer = try WordPieceTokenizer(vocabularyFile: Fixtures.path("language/vocab.txt"))
    let rows = try fixture()["uncased"]!
    XCTAssertEqual(rows.count, 300)
    check(rows, tokenizer, label: "uncased")
  }

  func testCasedMatchesHuggingFace() throws {
    let tokenizer = try WordPieceTokenizer(vocabularyFile: Fixtures.path("language/vocab.txt"), lowercase: false)
    check(try fixture()["cased"]!, tokenizer, label: "cased")
  }

  func testTruncationMatchesHuggingFace() throws {
    let tokenizer = try WordPieceTokenizer(vocabularyFile: Fixtures.path("language/vocab.txt"))
    check(try fixture()["truncated"]!, tokenizer, maxTokens: 8, label: "truncated")
  }

  func testMissingVocabularyIsAClearError() {
    XCTAssertThrowsError(try WordPieceTokenizer(vocabularyFile: "nowhere/vocab.txt")) { error in
      XCTAssertEqual("\(error)", "cannot read vocabulary file 'nowhere/vocab.txt'")
    }
    XCTAssertThrowsError(try WordPieceTokenizer(vocabulary: ["[PAD]", "[CLS]", "[SEP]"])) { error in
      XCTAssertEqual("\(error)", "vocabulary has no [UNK] token")
    }
  }
}
