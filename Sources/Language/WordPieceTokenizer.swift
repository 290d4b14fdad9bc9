import Foundation

/// One tokenised text: ids, token strings and character offsets into the original text (Unicode scalar indices, as
/// Python's `str` indices). Special tokens have offsets (0, 0).
public struct Encoding: Equatable, Sendable {
  public var ids: [Int]
  public var tokens: [String]
  public var offsets: [Range<Int>]

  public var count: Int { ids.count }
}

/// Errors loading a vocabulary.
public struct TokenizerError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
}

/// BERT's WordPiece tokenizer with the behaviour of HF `BertTokenizerFast`: BERT normalisation (control characters
/// removed, whitespace unified, CJK characters isolated, accents stripped and text lowercased for uncased models),
/// splitting on whitespace and punctuation, greedy longest-match WordPiece with `##` continuations, `[UNK]` for words
/// over 100 characters, `[CLS]`/`[SEP]`, truncation and offsets.
public final class WordPieceTokenizer: @unchecked Sendable {
  public let vocabulary: [String: Int]
  public let idToToken: [String]
  public let lowercase: Bool
  public let stripAccents: Bool
  public let maxCharactersPerWord = 100
  public let unknownID: Int
  public let classifierID: Int
  public let separatorID: Int
  public let paddingID: Int

  /// - Parameters: `lowercase` for uncased models; `stripAccents` defaults to `lowercase`, as in BERT.
  public init(vocabulary tokens: [String], lowercase: Bool = true, stripAccents: Bool? = nil) throws {
    var vocabulary: [String: Int] = [:]
    for (index, token) in tokens.enumerated() where vocabulary[token] == nil { vocabulary[token] = index }
    func require(_ token: String) throws -> Int {
      guard let id = vocabulary[token] else { throw TokenizerError(message: "vocabulary has no \(token) token") }
      return id
    }
    self.vocabulary = vocabulary
    idToToken = tokens
    self.lowercase = lowercase
    self.stripAccents = stripAccents ?? lowercase
    unknownID = try require("[UNK]")
    classifierID = try require("[CLS]")
    separatorID = try require("[SEP]")
    paddingID = try require("[PAD]")
  }

  /// Reads a `vocab.txt` (one token per line, id = line number).
  public convenience init(vocabularyFile path: String, lowercase: Bool = true, stripAccents: Bool? = nil) throws {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      throw TokenizerError(message: "cannot read vocabulary file '\(path)'")
    }
    var lines = text.components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    try self.init(
      vocabulary: lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }, lowercase: lowercase,
      stripAccents: stripAccents)
  }

  // MARK: Encoding

  /// Tokenises `text` with `[CLS]`/`[SEP]`, keeping at most `maxTokens` tokens (specials included).
  public func encode(_ text: String, maxTokens: Int? = nil) -> Encoding {
    var pieces = wordPieces(text)
    if let maxTokens { pieces = Array(pieces.prefix(max(0, maxTokens - 2))) }
    return Encoding(
      ids: [classifierID] + pieces.map(\.id) + [separatorID],
      tokens: ["[CLS]"] + pieces.map { idToToken[$0.id] } + ["[SEP]"],
      offsets: [0..<0] + pieces.map(\.offsets) + [0..<0])
  }

  /// The WordPiece tokens of `text` without special tokens.
  public func wordPieces(_ text: String) -> [(id: Int, offsets: Range<Int>)] {
    let normalized = normalize(text)
    var result: [(id: Int, offsets: Range<Int>)] = []
    for word in splitWords(normalized) { result += pieces(of: word) }
    return result
  }

  // MARK: Normalisation

  /// A normalised character and the index of the original character it came from.
  struct Character {
    let scalar: Unicode.Scalar
    let source: Int
  }

  func normalize(_ text: String) -> [Character] {
    var output: [Character] = []
    for (index, scalar) in text.unicodeScalars.enumerated() {
      if scalar.value == 0 || scalar.value == 0xFFFD || WordPieceTokenizer.isControl(scalar) { continue }
      if WordPieceTokenizer.isWhitespace(scalar) {
        output.append(Character(scalar: " ", source: index))
        continue
      }
      if WordPieceTokenizer.isChinese(scalar) {
        output += [" ", scalar, " "].map { Character(scalar: $0, source: index) }
        continue
      }
      var scalars: [Unicode.Scalar] = [scalar]
      if stripAccents {
        scalars = String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars
          .filter { $0.properties.generalCategory != .nonspacingMark }
      }
      if lowercase { scalars = scalars.flatMap { Array(String($0).lowercased().unicodeScalars) } }
      output += scalars.map { Character(scalar: $0, source: index) }
    }
    return output
  }

  /// Splits on whitespace (dropped) and punctuation (kept as single-character words).
  func splitWords(_ characters: [Character]) -> [[Character]] {
    var words: [[Character]] = []
    var current: [Character] = []
    for character in characters {
      if WordPieceTokenizer.isWhitespace(character.scalar) {
        if !current.isEmpty { words.append(current) }
        current = []
      } else if WordPieceTokenizer.isPunctuation(character.scalar) {
        if !current.isEmpty { words.append(current) }
        words.append([character])
        current = []
      } else {
        current.append(character)
      }
    }
    if !current.isEmpty { words.append(current) }
    return words
  }

  /// Greedy longest-match WordPiece; a word with an unmatched remainder, or over 100 characters, is one `[UNK]`.
  func pieces(of word: [Character]) -> [(id: Int, offsets: Range<Int>)] {
    let whole = word.first!.source..<(word.last!.source + 1)
    guard word.count <= maxCharactersPerWord else { return [(unknownID, whole)] }
    let text = word.map { String($0.scalar) }
    var result: [(id: Int, offsets: Range<Int>)] = []
    var start = 0
    while start < word.count {
      var end = word.count
      var found: Int?
      while end > start {
        let candidate = (start > 0 ? "##" : "") + text[start..<end].joined()
        if let id = vocabulary[candidate] {
          found = id
          break
        }
        end -= 1
      }
      guard let id = found else { return [(unknownID, whole)] }
      result.append((id, word[start].source..<(word[end - 1].source + 1)))
      start = end
    }
    return result
  }

  // MARK: Character classes (as in HF tokenizers' BERT normaliser and pre-tokeniser)

  static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar.properties.isWhitespace
  }

  static func isControl(_ scalar: Unicode.Scalar) -> Bool {
    if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
    switch scalar.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned: return true
    default: return false
    }
  }

  static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
    let value = scalar.value
    if (33...47).contains(value) || (58...64).contains(value) || (91...96).contains(value)
      || (123...126).contains(value)
    {
      return true
    }
    switch scalar.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
      .finalPunctuation, .otherPunctuation:
      return true
    default: return false
    }
  }

  static func isChinese(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
      0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
      return true
    default: return false
    }
  }
}
