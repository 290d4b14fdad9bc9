import Language
import TensorCoreTestSupport
import XCTest

/// Prompts as users write them: phrase lists and captions with bracketed phrases.
final class PromptInputTests: XCTestCase {
  private let tokenizer = try! WordPieceTokenizer(vocabularyFile: Fixtures.path("language/vocab.txt"))

  private func text(_ prompt: Prompt, _ phrase: Int) -> String {
    let scalars = Array(prompt.text.unicodeScalars)
    return String(String.UnicodeScalarView(scalars[prompt.phraseSpans[phrase][0]]))
  }

  func testPhraseListsSplitOnPeriods() throws {
    let input = try PromptInput(parsing: " red circle.blue square. . star ")
    XCTAssertEqual(input, .phrases(["red circle", "blue square", "star"]))
    XCTAssertEqual(input.phraseNames, ["red circle", "blue square", "star"])
    XCTAssertEqual(input.prompt.text, "red circle. blue square. star")
    XCTAssertEqual(input.prompt.phraseSpans, [[0..<10], [12..<23], [25..<29]])
    XCTAssertEqual(try PromptInput(parsing: "a single phrase"), .phrases(["a single phrase"]))
  }

  func testBracketsMarkTheCaptionsPhrases() throws {
    let input = try PromptInput(parsing: "a [red circle] left of a [ blue square ].")
    guard case .caption(let prompt) = input else { return XCTFail("\(input)") }
    XCTAssertEqual(prompt.text, "a red circle left of a  blue square .")
    XCTAssertEqual(prompt.labels, [0, 1])
    XCTAssertEqual(text(prompt, 0), "red circle")
    XCTAssertEqual(text(prompt, 1), "blue square", "spaces inside the brackets are not part of the phrase")
    XCTAssertEqual(input.phraseNames, ["red circle", "blue square"])

    let repeated = try PromptInput(parsing: "[café] and [café]")
    XCTAssertEqual(repeated.prompt.text, "café and café")
    XCTAssertEqual(repeated.prompt.phraseSpans, [[0..<4], [9..<13]], "scalar offsets; each bracket is a phrase")
    let tokens = PositiveMap.phraseTokens(repeated.prompt.phraseSpans, in: tokenizer.encode(repeated.prompt.text))
    XCTAssertTrue(tokens.allSatisfy { !$0.isEmpty }, "every phrase covers tokens: \(tokens)")
  }

  func testMalformedPromptsAreErrorsNamingThePlace() {
    let cases = [
      ("a [red circle", "'[' at character 2 is never closed"),
      ("a red] circle", "']' at character 5 closes no phrase"),
      ("a [red [circle]]", "'[' at character 7 opens a phrase inside the one at 2"),
      ("a [  ] circle", "the phrase at character 2 is empty"),
      (" . .", "the prompt has no phrases"),
    ]
    for (text, message) in cases {
      XCTAssertThrowsError(try PromptInput(parsing: text), text) { error in
        XCTAssertTrue("\(error)".hasPrefix("prompt: " + message), "\(error)")
      }
    }
  }

  func testLongPhraseListsChunkAndLongCaptionsFailNamingThePhraseCutOff() throws {
    let names = (0..<30).map { "phrase number \($0)" }
    let chunks = try PromptInput.phrases(names).chunked(tokenizer: tokenizer, maxTokens: 32)
    XCTAssertGreaterThan(chunks.count, 1)
    XCTAssertEqual(chunks.flatMap(\.labels), Array(0..<30), "labels index the whole list")
    for chunk in chunks { XCTAssertLessThanOrEqual(tokenizer.encode(chunk.text).count, 32) }

    let caption = try PromptInput(
      parsing: "the [red circle] " + String(repeating: "and more words ", count: 12) + "[star]")
    XCTAssertEqual(try caption.chunked(tokenizer: tokenizer, maxTokens: 64).count, 1)
    XCTAssertThrowsError(try caption.chunked(tokenizer: tokenizer, maxTokens: 16)) { error in
      XCTAssertTrue("\(error)".contains("phrase 'star' falls past the limit"), "\(error)")
    }
  }
}

/// Prompts whose phrases cannot produce a single token are refused instead of detecting nothing silently.
final class HostilePromptTests: XCTestCase {
  private let tokenizer = try! WordPieceTokenizer(vocabularyFile: Fixtures.path("language/vocab.txt"))

  func testPhrasesWithoutTokensAreRefused() throws {
    let invisible = try PromptInput(parsing: "red circle. \u{200B}\u{0007}")
    XCTAssertThrowsError(try invisible.chunked(tokenizer: tokenizer, maxTokens: 256)) { error in
      XCTAssertTrue("\(error)".hasPrefix("prompt: phrase 2 ("), "\(error)")
      XCTAssertTrue("\(error)".contains("has no tokens"), "\(error)")
    }
    let caption = try PromptInput(parsing: "a [red circle] and [\u{200B}\u{0001}]")
    XCTAssertThrowsError(try caption.chunked(tokenizer: tokenizer, maxTokens: 256)) { error in
      XCTAssertTrue("\(error)".hasPrefix("prompt: phrase 2 ("), "\(error)")
    }
    XCTAssertEqual(try PromptInput(parsing: "red circle").chunked(tokenizer: tokenizer, maxTokens: 256).count, 1)
  }
}
