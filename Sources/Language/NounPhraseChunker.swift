import Foundation

/// A noun phrase of a caption: its text as written and its span (Unicode scalar offsets into the caption).
public struct NounPhrase: Equatable, Sendable {
  public var text: String
  public var span: Range<Int>
  /// How many things the caption says the phrase names, where it says: 1 for a singular noun after "a", "an",
  /// "one", "this", "that", "another" or "the"; n after a cardinal number ("two purple stars": the numeral is not
  /// part of GLIP's chunk, so it is read from the word before); nil otherwise ("stars", "some stars").
  public var count: Int?

  public init(text: String, span: Range<Int>, count: Int? = nil) {
    self.text = text
    self.span = span
    self.count = count
  }
}

/// Noun phrases as GLIP extracts them for grounding captions (maskrcnn_benchmark's `find_noun_phrases`): the
/// caption lowercased and tagged with Penn Treebank tags, then chunked with the grammar
/// `NP: {<DT>?<JJ.*>*<NN.*>+}` (an optional determiner, any adjectives, one or more nouns).
///
/// ```swift
/// NounPhraseChunker().phrases(in: "a man riding a red bike next to two dogs").map(\.text)
/// // ["a man", "a red bike", "dogs"]
/// ```
public struct NounPhraseChunker: Sendable {
  public let tagger: PartOfSpeechTagger

  public init(tagger: PartOfSpeechTagger = PartOfSpeechTagger()) {
    self.tagger = tagger
  }

  /// The caption's noun phrases in order, with their text in the caption's own case.
  public func phrases(in caption: String) -> [NounPhrase] {
    let tagged = tagger.tag(caption)
    let scalars = Array(caption.unicodeScalars)
    return NounPhraseChunker.chunks(tagged.map(\.tag)).map { range in
      let span = tagged[range.lowerBound].word.span.lowerBound..<tagged[range.upperBound - 1].word.span.upperBound
      return NounPhrase(
        text: String(String.UnicodeScalarView(scalars[span])), span: span,
        count: NounPhraseChunker.count(of: range, in: tagged))
    }
  }

  static let singularDeterminers: Set<String> = ["a", "an", "one", "this", "that", "another", "the"]
  static let numberWords = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
  ]

  /// The number of things a chunk names, as its determiner or a cardinal number before it says (see
  /// `NounPhrase.count`).
  static func count(of chunk: Range<Int>, in tagged: [TaggedWord]) -> Int? {
    if chunk.lowerBound > 0, tagged[chunk.lowerBound - 1].tag == "CD" {
      let word = tagged[chunk.lowerBound - 1].word.text.lowercased()
      if let value = Int(word), value > 0 { return value }
      return numberWords.firstIndex(of: word).map { $0 + 1 }
    }
    let first = tagged[chunk.lowerBound], head = tagged[chunk.upperBound - 1]
    guard first.tag == "DT", singularDeterminers.contains(first.word.text.lowercased()) else { return nil }
    return ["NN", "NNP"].contains(head.tag) ? 1 : nil
  }

  /// Word ranges matching `<DT>?<JJ.*>*<NN.*>+`, leftmost first and longest, as NLTK's RegexpParser finds them.
  public static func chunks(_ tags: [String]) -> [Range<Int>] {
    var found: [Range<Int>] = []
    var start = 0
    while start < tags.count {
      if let end = match(tags, at: start) {
        found.append(start..<end)
        start = end
      } else {
        start += 1
      }
    }
    return found
  }

  /// The end of a chunk starting at `start`, or nil.
  static func match(_ tags: [String], at start: Int) -> Int? {
    var index = start
    if tags[index] == "DT" { index += 1 }
    while index < tags.count && tags[index].hasPrefix("JJ") { index += 1 }
    let nounsStart = index
    while index < tags.count && tags[index].hasPrefix("NN") { index += 1 }
    return index > nounsStart ? index : nil
  }
}
