import Foundation

/// A text prompt and where its phrases are: character spans in Unicode scalar indices, one list per phrase, with the
/// global label of each phrase (the class id for detection prompts).
public struct Prompt: Equatable, Sendable {
  public var text: String
  public var phraseSpans: [[Range<Int>]]
  public var labels: [Int]

  public init(text: String, phraseSpans: [[Range<Int>]], labels: [Int]) {
    precondition(phraseSpans.count == labels.count, "Prompt: \(phraseSpans.count) phrases but \(labels.count) labels")
    self.text = text
    self.phraseSpans = phraseSpans
    self.labels = labels
  }

  /// Each phrase's text: its spans' characters, joined by a space when a phrase has several spans.
  public var phraseTexts: [String] {
    let scalars = Array(text.unicodeScalars)
    return phraseSpans.map { spans in
      spans.map { String(String.UnicodeScalarView(scalars[$0])) }.joined(separator: " ")
    }
  }
}

/// Detection prompts the GLIP way: class names cleaned, in category-id order, joined by ". ".
public enum PromptBuilder {
  public static let separator = ". "
  /// GLIP splits class lists that do not fit the text encoder (LVIS) into chunks of at most this many classes; a list
  /// that fits (COCO's 80) stays one prompt.
  public static let maxClassesPerChunk = 40

  /// GLIP's name cleaning: everything from the first "(" to the last ")" removed, "_" → space, then each double
  /// space collapsed once. Trailing spaces are kept, as GLIP keeps them.
  public static func cleanName(_ name: String) -> String {
    var cleaned = name
    if let open = cleaned.firstIndex(of: "("), let close = cleaned.lastIndex(of: ")"), open < close {
      cleaned.removeSubrange(open...close)
    }
    cleaned = cleaned.replacingOccurrences(of: "_", with: " ")
    return cleaned.replacingOccurrences(of: "  ", with: " ")
  }

  /// One prompt over `names` (already in category-id order); `labels` default to 0…n−1.
  public static func detectionPrompt(classNames names: [String], labels: [Int]? = nil) -> Prompt {
    var text = ""
    var length = 0
    var spans: [[Range<Int>]] = []
    for (index, name) in names.enumerated() {
      let cleaned = cleanName(name)
      let start = length
      text += cleaned
      length += cleaned.unicodeScalars.count
      spans.append([start..<length])
      if index != names.count - 1 {
        text += separator
        length += separator.unicodeScalars.count
      }
    }
    return Prompt(text: text, phraseSpans: spans, labels: labels ?? Array(names.indices))
  }

  /// One prompt for a class list that fits `maxTokens` (with [CLS]/[SEP]); otherwise prompts that each fit and hold
  /// at most `maxClassesPerChunk` classes. Each prompt's labels are the global class indices.
  public static func chunkedPrompts(
    classNames names: [String], tokenizer: WordPieceTokenizer, maxTokens: Int,
    maxClassesPerChunk: Int = PromptBuilder.maxClassesPerChunk
  ) throws -> [Prompt] {
    let whole = detectionPrompt(classNames: names)
    if !names.isEmpty && tokenizer.wordPieces(whole.text).count + 2 <= maxTokens { return [whole] }
    var prompts: [Prompt] = []
    var start = 0
    while start < names.count {
      var end = start
      while end < names.count && end - start < maxClassesPerChunk {
        let candidate = detectionPrompt(classNames: Array(names[start...end]))
        if tokenizer.wordPieces(candidate.text).count + 2 > maxTokens { break }
        end += 1
      }
      guard end > start else {
        throw TokenizerError(
          message: "class '\(names[start])' alone needs more than \(maxTokens) tokens; raise max_tokens")
      }
      prompts.append(detectionPrompt(classNames: Array(names[start..<end]), labels: Array(start..<end)))
      start = end
    }
    return prompts
  }
}

/// Character spans → token positions (GLIP's positive map).
public enum PositiveMap {
  /// The token whose character range contains `character` (special tokens excluded), as HF's `char_to_token`.
  public static func token(containing character: Int, in encoding: Encoding) -> Int? {
    guard character >= 0 else { return nil }
    for (index, range) in encoding.offsets.enumerated() where !range.isEmpty && range.contains(character) {
      return index
    }
    return nil
  }

  /// Token positions covered by a span. When an edge falls between tokens (on a space), GLIP retries the start at
  /// +1 and +2 characters and the end at −2 and −3 (i.e. the last character −1 and −2); a span still unresolved
  /// covers nothing.
  public static func tokens(for span: Range<Int>, in encoding: Encoding) -> [Int] {
    let first =
      token(containing: span.lowerBound, in: encoding)
      ?? token(containing: span.lowerBound + 1, in: encoding) ?? token(containing: span.lowerBound + 2, in: encoding)
    let last =
      token(containing: span.upperBound - 1, in: encoding)
      ?? token(containing: span.upperBound - 2, in: encoding) ?? token(containing: span.upperBound - 3, in: encoding)
    guard let first, let last, first <= last else { return [] }
    return Array(first...last)
  }

  /// For each phrase (a list of spans), the sorted token positions it covers.
  public static func phraseTokens(_ phraseSpans: [[Range<Int>]], in encoding: Encoding) -> [[Int]] {
    phraseSpans.map { spans in Array(Set(spans.flatMap { tokens(for: $0, in: encoding) })).sorted() }
  }

  /// Binary `[phrases × length]` map (row-major), 1 at every token of the phrase: GLIP's training target.
  public static func binaryMap(_ phraseTokens: [[Int]], length: Int) -> [Float] {
    var values = [Float](repeating: 0, count: phraseTokens.count * length)
    for (row, tokens) in phraseTokens.enumerated() {
      for token in tokens where token < length { values[row * length + token] = 1 }
    }
    return values
  }
}

/// A prompt as a user writes it, before tokenising: a list of phrases (`"red circle. blue square"`, GLIP's detection
/// prompt) or a free-text caption whose phrases are marked in brackets (`"a [red circle] left of a [blue square]"`).
public enum PromptInput: Equatable, Sendable {
  /// Phrases of a detection-style prompt, in order; the prompt text joins them with `". "` and may be chunked.
  case phrases([String])
  /// A caption with its brackets removed and the spans of the bracketed phrases; it is never chunked.
  case caption(Prompt)

  /// Reads `text`: with brackets it is a caption, otherwise phrases separated by `.`.
  ///
  /// Brackets must pair up, not nest, and hold a non-blank phrase; the phrase span excludes the spaces just inside
  /// the brackets. Errors name the character (Unicode scalar offset into `text`) where the problem is.
  public init(parsing text: String) throws {
    guard text.contains("[") || text.contains("]") else {
      let phrases = text.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
      guard !phrases.isEmpty else { throw PromptError("the prompt has no phrases (separate them with '.')") }
      self = .phrases(phrases)
      return
    }
    var output: [Unicode.Scalar] = []
    var spans: [[Range<Int>]] = []
    var open: (output: Int, input: Int)?
    for (index, scalar) in text.unicodeScalars.enumerated() {
      switch scalar {
      case "[":
        if let open { throw PromptError("'[' at character \(index) opens a phrase inside the one at \(open.input)") }
        open = (output.count, index)
      case "]":
        guard let start = open else { throw PromptError("']' at character \(index) closes no phrase") }
        var (lower, upper) = (start.output, output.count)
        while lower < upper && output[lower].properties.isWhitespace { lower += 1 }
        while upper > lower && output[upper - 1].properties.isWhitespace { upper -= 1 }
        guard lower < upper else { throw PromptError("the phrase at character \(start.input) is empty") }
        spans.append([lower..<upper])
        open = nil
      default:
        output.append(scalar)
      }
    }
    if let open { throw PromptError("'[' at character \(open.input) is never closed") }
    self = .caption(
      Prompt(
        text: String(String.UnicodeScalarView(output)), phraseSpans: spans, labels: Array(spans.indices)))
  }

  /// The phrases' texts, in order.
  public var phraseNames: [String] {
    switch self {
    case .phrases(let names): return names
    case .caption(let prompt): return prompt.phraseTexts
    }
  }

  /// The whole prompt as one `Prompt` (phrases joined with GLIP's `". "`, or the caption).
  public var prompt: Prompt {
    switch self {
    case .phrases(let names): return PromptBuilder.detectionPrompt(classNames: names)
    case .caption(let prompt): return prompt
    }
  }

  /// Prompts that each fit `maxTokens` (with [CLS]/[SEP]); labels index `phraseNames`. Phrase lists are split with
  /// `PromptBuilder.chunkedPrompts`; a caption that does not fit is an error naming the first phrase cut off.
  ///
  /// A phrase that tokenises to nothing (only control, zero-width or other characters the tokenizer drops) is an
  /// error: nothing could ever be detected for it.
  public func chunked(tokenizer: WordPieceTokenizer, maxTokens: Int) throws -> [Prompt] {
    try checkEveryPhraseHasTokens(tokenizer)
    switch self {
    case .phrases(let names):
      return try PromptBuilder.chunkedPrompts(classNames: names, tokenizer: tokenizer, maxTokens: maxTokens)
    case .caption(let prompt):
      let pieces = tokenizer.wordPieces(prompt.text)
      if pieces.count + 2 > maxTokens {
        let end = maxTokens >= 3 ? pieces[maxTokens - 3].offsets.upperBound : 0
        if let cut = prompt.phraseSpans.firstIndex(where: { $0.contains { $0.upperBound > end } }) {
          throw PromptError(
            "the caption needs \(pieces.count + 2) tokens, more than the \(maxTokens) allowed, and phrase "
              + "'\(phraseNames[cut])' falls past the limit; shorten the caption")
        }
      }
      return [prompt]
    }
  }
}

extension PromptInput {
  func checkEveryPhraseHasTokens(_ tokenizer: WordPieceTokenizer) throws {
    switch self {
    case .phrases(let names):
      if let index = names.firstIndex(where: { tokenizer.wordPieces($0).isEmpty }) {
        throw PromptError(
          "phrase \(index + 1) (\(names[index].debugDescription)) has no tokens: it holds only characters "
            + "the tokenizer drops (control or zero-width characters)")
      }
    case .caption(let prompt):
      let encoding = tokenizer.encode(prompt.text)
      let tokens = PositiveMap.phraseTokens(prompt.phraseSpans, in: encoding)
      if let index = tokens.firstIndex(where: \.isEmpty) {
        throw PromptError(
          "phrase \(index + 1) ('\(prompt.phraseTexts[index])') has no tokens: it holds only characters "
            + "the tokenizer drops (control or zero-width characters)")
      }
    }
  }
}

/// A prompt that cannot be read or does not fit.
public struct PromptError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { "prompt: \(message)" }
  public init(_ message: String) { self.message = message }
}
