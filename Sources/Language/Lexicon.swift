import Foundation

/// An open word class, as WordNet has them.
public enum WordClass: Character, Sendable, CaseIterable {
  case noun = "n", verb = "v", adjective = "a", adverb = "r"
}

/// One way to read a word: its class, the inflection that makes it from its base form, and how common that class is
/// for the base (WordNet's tagged-sense count; 0 when WordNet never saw the sense in its corpus).
public struct Reading: Equatable, Hashable, Sendable {
  public enum Inflection: Sendable, Hashable {
    case base, plural, thirdPerson, gerund, past, comparative, superlative
  }

  public var wordClass: WordClass
  public var inflection: Inflection
  public var frequency: Int
  /// Whether the reading comes from the lexicon (a listed word or one of its inflections) rather than a suffix guess.
  public var isListed: Bool

  public init(_ wordClass: WordClass, _ inflection: Inflection = .base, frequency: Int = 0, isListed: Bool = true) {
    self.wordClass = wordClass
    self.inflection = inflection
    self.frequency = frequency
    self.isListed = isListed
  }
}

/// A problem with lexicon text: the line and what is wrong with it.
public struct LexiconError: Error, CustomStringConvertible {
  public let description: String
}

/// Word classes of English words: WordNet 3.0's lemmas (compacted by `scripts/make-lexicon.py` into
/// `LexiconData.swift`) with WordNet's morphology (its suffix rules and irregular forms), so "dogs", "riding" and
/// "sat" are read through "dog", "ride" and "sit".
///
/// Words WordNet knows in one class that `guess(_:)` already gives are not stored, so a word missing from the table
/// is read by its suffix.
public struct Lexicon: Sendable {
  /// Classes of each stored lemma with their tagged-sense counts.
  let entries: [String: [WordClass: Int]]
  /// Irregular inflected forms: the form → its class and base forms.
  let exceptions: [String: [(WordClass, String)]]

  /// The lexicon compiled into the library (WordNet 3.0).
  public static let wordNet: Lexicon = {
    do {
      return try Lexicon(entries: LexiconData.entries, exceptions: LexiconData.exceptions)
    } catch {
      fatalError("the built-in lexicon is malformed: \(error)")  // generated text; a failure is a programmer error
    }
  }()

  /// Reads the text format of `LexiconData.swift`: entry lines `word n6v1` (classes with optional counts) and
  /// exception lines `sat v sit` (form, class, base forms).
  public init(entries entryText: String, exceptions exceptionText: String) throws {
    var entries: [String: [WordClass: Int]] = [:]
    for (index, line) in entryText.split(separator: "\n").enumerated() {
      let fields = line.split(separator: " ")
      guard fields.count == 2, let classes = Lexicon.classes(fields[1]) else {
        throw LexiconError(description: "lexicon entry line \(index + 1) '\(line)': expected 'word n6v1'")
      }
      entries[String(fields[0])] = classes
    }
    var exceptions: [String: [(WordClass, String)]] = [:]
    for (index, line) in exceptionText.split(separator: "\n").enumerated() {
      let fields = line.split(separator: " ")
      guard fields.count >= 3, fields[1].count == 1, let wordClass = WordClass(rawValue: fields[1].first!) else {
        throw LexiconError(description: "lexicon exception line \(index + 1) '\(line)': expected 'form v base'")
      }
      exceptions[String(fields[0]), default: []] += fields[2...].map { (wordClass, String($0)) }
    }
    self.entries = entries
    self.exceptions = exceptions
  }

  /// `n6v1` → [noun: 6, verb: 1].
  static func classes(_ codes: Substring) -> [WordClass: Int]? {
    var classes: [WordClass: Int] = [:]
    var current: WordClass?
    for character in codes {
      if let wordClass = WordClass(rawValue: character) {
        current = wordClass
        classes[wordClass] = 0
      } else if let digit = character.wholeNumberValue, let wordClass = current {
        classes[wordClass] = classes[wordClass]! * 10 + digit
      } else {
        return nil
      }
    }
    return classes.isEmpty ? nil : classes
  }

  /// The class a word missing from the table has, by its suffix (nil for -ing and -ed: a verb form).
  public static func guess(_ word: String) -> WordClass? {
    if word.hasSuffix("ing") || word.hasSuffix("ed") { return nil }
    if word.hasSuffix("ly") { return .adverb }
    let adjectiveSuffixes = ["ous", "ful", "ive", "able", "ible", "al", "ic", "ish", "less"]
    if adjectiveSuffixes.contains(where: word.hasSuffix) { return .adjective }
    return .noun
  }

  /// Every reading of a lowercased word: as a listed lemma, through WordNet's suffix rules and irregular forms, and
  /// by its suffix when the table does not store it (WordNet's reading of a word left out, or a guess).
  public func readings(of word: String) -> [Reading] {
    var readings: [Reading] = []
    if let classes = entries[word] {
      readings += classes.map { Reading($0.key, frequency: $0.value) }
    }
    readings += inflectedReadings(of: word)
    if entries[word] == nil && (Lexicon.guess(word) != nil || readings.isEmpty) {
      readings += guessedReadings(of: word)
    }
    var seen = Set<Reading>()
    return readings.filter { seen.insert($0).inserted }
  }

  /// WordNet's detachment rules (morphy) and exception lists.
  func inflectedReadings(of word: String) -> [Reading] {
    var readings: [Reading] = []
    for (wordClass, base) in exceptions[word] ?? [] {
      let frequency = entries[base]?[wordClass] ?? 0
      switch wordClass {
      case .verb:
        let inflection: Reading.Inflection =
          word.hasSuffix("ing") ? .gerund : (word.hasSuffix("s") ? .thirdPerson : .past)
        readings.append(Reading(.verb, inflection, frequency: frequency))
      case .adjective:
        readings.append(Reading(.adjective, word.hasSuffix("st") ? .superlative : .comparative, frequency: frequency))
      default: break
      }
    }
    let rules: [(suffix: String, ending: String, wordClass: WordClass, inflection: Reading.Inflection)] = [
      ("s", "", .noun, .plural), ("ses", "s", .noun, .plural), ("xes", "x", .noun, .plural),
      ("zes", "z", .noun, .plural), ("ches", "ch", .noun, .plural), ("shes", "sh", .noun, .plural),
      ("men", "man", .noun, .plural), ("ies", "y", .noun, .plural), ("ves", "f", .noun, .plural),
      ("ves", "fe", .noun, .plural),
      ("s", "", .verb, .thirdPerson), ("ies", "y", .verb, .thirdPerson), ("es", "e", .verb, .thirdPerson),
      ("es", "", .verb, .thirdPerson), ("ed", "e", .verb, .past), ("ed", "", .verb, .past),
      ("ing", "e", .verb, .gerund), ("ing", "", .verb, .gerund),
      ("er", "", .adjective, .comparative), ("est", "", .adjective, .superlative),
      ("er", "e", .adjective, .comparative), ("est", "e", .adjective, .superlative),
    ]
    for rule in rules where word.hasSuffix(rule.suffix) && word.count > rule.suffix.count + 1 {
      let stem = String(word.dropLast(rule.suffix.count))
      for base in [stem + rule.ending] + doubledConsonantBase(stem, rule.inflection) {
        if let frequency = isListedLemma(base, rule.wordClass) {
          readings.append(Reading(rule.wordClass, rule.inflection, frequency: frequency))
        }
      }
    }
    return readings
  }

  /// "running" → "run", "bigger" → "big": the stem with a doubled final consonant undone.
  func doubledConsonantBase(_ stem: String, _ inflection: Reading.Inflection) -> [String] {
    guard [.gerund, .past, .comparative, .superlative].contains(inflection), stem.count >= 3 else { return [] }
    let last = stem.suffix(2)
    guard last.first == last.last, !"aeiouyslw".contains(last.last!) else { return [] }
    return [String(stem.dropLast())]
  }

  /// The tagged-sense count of `base` as a lemma of `wordClass`: stored in the table, or left out of it because its
  /// suffix guess is that class (unknown words read the same way). Nil when `base` is no such lemma.
  func isListedLemma(_ base: String, _ wordClass: WordClass) -> Int? {
    if let classes = entries[base] { return classes[wordClass] }
    return Lexicon.guess(base) == wordClass ? 0 : nil
  }

  /// Readings of a word the lexicon does not know, by its suffix.
  func guessedReadings(of word: String) -> [Reading] {
    guard let wordClass = Lexicon.guess(word) else {
      return [Reading(.verb, word.hasSuffix("ing") ? .gerund : .past, isListed: false)]
    }
    let plural = wordClass == .noun && word.hasSuffix("s") && !["ss", "us", "is"].contains(where: word.hasSuffix)
    return [Reading(wordClass, plural ? .plural : .base)]
  }
}
