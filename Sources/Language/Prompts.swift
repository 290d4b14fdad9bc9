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
}

/// Detection prompts the GLIP way: class names cleaned, in category-id order, joined by ". ".
public enum PromptBuilder {
  public static let separator = ". "
  /// GLIP splits long class lists into chunks of at most this many classes.
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

  /// Splits a class list into prompts that each fit `maxTokens` (with [CLS]/[SEP]) and hold at most
  /// `maxClassesPerChunk` classes; each prompt's labels are the global class indices.
  public static func chunkedPrompts(
    classNames names: [String], tokenizer: WordPieceTokenizer, maxTokens: Int,
    maxClassesPerChunk: Int = PromptBuilder.maxClassesPerChunk
  ) throws -> [Prompt] {
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
