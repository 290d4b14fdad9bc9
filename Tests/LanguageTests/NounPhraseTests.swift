import Foundation
import Language
import TensorCoreTestSupport
import XCTest

/// The noun-phrase chunker against scripts/reference/phrases.py (spaCy's Penn tags and GLIP's grammar) on the
/// captions of Tests/Fixtures/phrases.
final class NounPhraseTests: XCTestCase {
  private struct Entry: Decodable {
    struct Phrase: Decodable {
      let text: String
      let span: [Int]
    }
    let caption: String
    let phrases: [Phrase]
  }

  private let chunker = NounPhraseChunker()

  /// Phrase-level precision and recall: a phrase counts when its span matches a reference span exactly. Measured
  /// at 0.968 and 0.972 on 259 captions; the floors leave room for small rule changes, not for a regression.
  func testPhrasesAgreeWithTheReferenceChunker() throws {
    let url = URL(fileURLWithPath: Fixtures.path("phrases/reference.json"))
    let entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: url))
    XCTAssertGreaterThanOrEqual(entries.count, 200)
    var (matched, found, expected) = (0, 0, 0)
    for entry in entries {
      let reference = Set(entry.phrases.map { $0.span[0]..<$0.span[1] })
      let spans = chunker.phrases(in: entry.caption).map(\.span)
      matched += spans.filter(reference.contains).count
      found += spans.count
      expected += reference.count
    }
    let precision = Double(matched) / Double(found), recall = Double(matched) / Double(expected)
    print(
      String(format: "noun phrases: precision %.4f, recall %.4f over %d captions", precision, recall, entries.count))
    XCTAssertGreaterThanOrEqual(precision, 0.95)
    XCTAssertGreaterThanOrEqual(recall, 0.95)
  }

  func testTheExampleCaption() {
    let caption = "a man riding a red bike next to two dogs"
    let phrases = chunker.phrases(in: caption)
    XCTAssertEqual(phrases.map(\.text), ["a man", "a red bike", "dogs"])
    XCTAssertEqual(phrases.map(\.span), [0..<5, 13..<23, 36..<40])
    XCTAssertEqual(
      chunker.tagger.tag(caption).map(\.tag), ["DT", "NN", "VBG", "DT", "JJ", "NN", "RB", "TO", "CD", "NNS"])
  }

  func testCountsAreWhatTheCaptionSays() {
    let phrases = chunker.phrases(
      in: "a man with two dogs and 3 cats, the old barn, the trees, some birds and one red kite")
    XCTAssertEqual(
      phrases.map(\.text), ["a man", "dogs", "cats", "the old barn", "the trees", "some birds", "red kite"])
    XCTAssertEqual(phrases.map(\.count), [1, 2, 3, 1, nil, nil, 1])
  }

  func testSpansKeepTheCaptionsCaseAndSkipPunctuation() {
    let caption = "Two dogs, a cat's toy and \"the old barn\"."
    let phrases = chunker.phrases(in: caption)
    XCTAssertEqual(phrases.map(\.text), ["dogs", "a cat", "toy", "the old barn"])
    let scalars = Array(caption.unicodeScalars)
    for phrase in phrases {
      XCTAssertEqual(String(String.UnicodeScalarView(scalars[phrase.span])), phrase.text)
    }
  }

  func testChunkGrammar() {
    XCTAssertEqual(NounPhraseChunker.chunks(["DT", "JJ", "JJ", "NN", "NNS", "VBZ", "DT", "VB"]), [0..<5])
    XCTAssertEqual(NounPhraseChunker.chunks(["DT", "DT", "NN", "IN", "JJ", "IN", "NNP"]), [1..<3, 6..<7])
    XCTAssertEqual(NounPhraseChunker.chunks([]), [])
  }

  func testWordsSplitLikeAPennTokenizer() {
    let words = CaptionWords.split("A close-up of the dog's nose (e.g. wet).")
    XCTAssertEqual(
      words.map(\.text), ["a", "close", "-", "up", "of", "the", "dog", "'s", "nose", "(", "e.g.", "wet", ")", "."])
  }

  func testLexiconReadsInflections() {
    let lexicon = Lexicon.wordNet
    XCTAssertTrue(lexicon.readings(of: "riding").contains { $0.wordClass == .verb && $0.inflection == .gerund })
    XCTAssertTrue(lexicon.readings(of: "sat").contains { $0.wordClass == .verb && $0.inflection == .past })
    XCTAssertTrue(lexicon.readings(of: "dogs").contains { $0.wordClass == .noun && $0.inflection == .plural })
    XCTAssertTrue(lexicon.readings(of: "bigger").contains { $0.inflection == .comparative })
    XCTAssertThrowsError(try Lexicon(entries: "man n6v1\nbroken", exceptions: "")) { error in
      XCTAssertTrue("\(error)".contains("line 2"), "\(error)")
    }
  }
}
