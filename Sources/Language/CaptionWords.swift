import Foundation

/// A word or punctuation mark of a caption: its lowercased text and where it is (Unicode scalar offsets).
public struct CaptionWord: Equatable, Sendable {
  public var text: String
  public var span: Range<Int>

  public init(text: String, span: Range<Int>) {
    self.text = text
    self.span = span
  }
}

/// Splits a caption into words the way English taggers expect (spaCy's and Penn Treebank's rules, in short):
/// punctuation leaves the words it touches, a hyphen between letters is a word of its own, and clitics ("'s",
/// "n't", "'re") are split off. Text is lowercased, as GLIP lowercases captions before tagging.
public enum CaptionWords {
  static let leading: Set<Unicode.Scalar> = ["\"", "'", "(", "[", "{", "“", "‘", "¿", "¡", "$", "#", "*"]
  static let trailing: Set<Unicode.Scalar> = [
    ".", ",", "!", "?", ";", ":", ")", "]", "}", "\"", "'", "”", "’", "…", "*", "%",
  ]
  static let clitics = ["n't", "'s", "'re", "'ve", "'ll", "'m", "'d", "’s"]

  public static func split(_ text: String) -> [CaptionWord] {
    let scalars = Array(text.unicodeScalars)
    var words: [CaptionWord] = []
    var start: Int?
    for index in 0...scalars.count {
      let isSpace = index == scalars.count || scalars[index].properties.isWhitespace
      if isSpace, let begin = start {
        words += splitChunk(scalars, begin..<index)
        start = nil
      } else if !isSpace && start == nil {
        start = index
      }
    }
    return words
  }

  /// One whitespace-free chunk: leading and trailing punctuation, clitics and inner hyphens split off.
  static func splitChunk(_ scalars: [Unicode.Scalar], _ range: Range<Int>) -> [CaptionWord] {
    var (lower, upper) = (range.lowerBound, range.upperBound)
    var before: [CaptionWord] = [], after: [CaptionWord] = []
    while upper - lower > 1, leading.contains(scalars[lower]) {
      before.append(word(scalars, lower..<(lower + 1)))
      lower += 1
    }
    while upper - lower > 1 {
      if let clitic = clitics.first(where: { hasSuffix(scalars, lower..<upper, $0) }),
        upper - lower > clitic.unicodeScalars.count
      {
        let length = clitic.unicodeScalars.count
        after.insert(word(scalars, (upper - length)..<upper), at: 0)
        upper -= length
      } else if trailing.contains(scalars[upper - 1]) && !isAbbreviationDot(scalars, lower..<upper) {
        after.insert(word(scalars, (upper - 1)..<upper), at: 0)
        upper -= 1
      } else {
        break
      }
    }
    return before + splitHyphens(scalars, lower..<upper) + after
  }

  /// "e.g." and "u.s." keep their final dot.
  static func isAbbreviationDot(_ scalars: [Unicode.Scalar], _ range: Range<Int>) -> Bool {
    scalars[range.upperBound - 1] == "." && scalars[range].dropLast().contains(".")
      && scalars[range].allSatisfy { $0 == "." || $0.properties.isAlphabetic }
  }

  /// "black-and-white" → black, -, and, -, white; "x-ray" too; "3-4" and "-5" stay whole.
  static func splitHyphens(_ scalars: [Unicode.Scalar], _ range: Range<Int>) -> [CaptionWord] {
    var words: [CaptionWord] = []
    var start = range.lowerBound
    for index in range where scalars[index] == "-" || scalars[index] == "/" {
      guard index > range.lowerBound, index + 1 < range.upperBound,
        scalars[index - 1].properties.isAlphabetic, scalars[index + 1].properties.isAlphabetic
      else { continue }
      words.append(word(scalars, start..<index))
      words.append(word(scalars, index..<(index + 1)))
      start = index + 1
    }
    if start < range.upperBound { words.append(word(scalars, start..<range.upperBound)) }
    return words
  }

  static func hasSuffix(_ scalars: [Unicode.Scalar], _ range: Range<Int>, _ suffix: String) -> Bool {
    let tail = Array(suffix.unicodeScalars)
    guard range.count >= tail.count else { return false }
    return zip(scalars[(range.upperBound - tail.count)..<range.upperBound], tail).allSatisfy {
      $0.properties.lowercaseMapping == String($1)
    }
  }

  static func word(_ scalars: [Unicode.Scalar], _ range: Range<Int>) -> CaptionWord {
    CaptionWord(text: String(String.UnicodeScalarView(scalars[range])).lowercased(), span: range)
  }
}
