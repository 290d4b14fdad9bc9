import Foundation

/// A caption word with its Penn Treebank tag (`NN`, `JJ`, `DT`, `VBG`, …).
public struct TaggedWord: Equatable, Sendable {
  public var word: CaptionWord
  public var tag: String

  public init(word: CaptionWord, tag: String) {
    self.word = word
    self.tag = tag
  }
}

/// A rule-based Penn Treebank tagger for image captions: function words from a closed list, open-class words from
/// a lexicon (WordNet), and left-to-right context rules for words with several readings ("a man riding": after a
/// noun, an -ing form is a verb; after a determiner, a word is a noun or an adjective).
///
/// It decides what GLIP's chunker needs (determiner, adjective, noun, or something else) and gets finer tags
/// right where it can.
///
/// ```swift
/// PartOfSpeechTagger().tag("a man riding a red bike").map(\.tag)  // ["DT", "NN", "VBG", "DT", "JJ", "NN"]
/// ```
public struct PartOfSpeechTagger: Sendable {
  public let lexicon: Lexicon

  public init(lexicon: Lexicon = .wordNet) {
    self.lexicon = lexicon
  }

  /// The caption's words, lowercased, each with its tag.
  public func tag(_ caption: String) -> [TaggedWord] {
    let words = CaptionWords.split(caption)
    var tags: [String] = []
    for index in words.indices {
      let next = index + 1 < words.count ? words[index + 1].text : nil
      let afterNext = index + 2 < words.count ? words[index + 2].text : nil
      let context = Context(
        previous: tags.last, previousWord: index > 0 ? words[index - 1].text : nil, next: next,
        afterNext: afterNext)
      tags.append(tag(words[index].text, context))
    }
    return zip(words, tags).map { TaggedWord(word: $0, tag: $1) }
  }

  /// What the rules look at: the tag already chosen for the previous word and the next two words.
  struct Context {
    var previous: String?
    var previousWord: String?
    var next: String?
    var afterNext: String?

    /// After a determiner, possessive, number or adjective a noun phrase is under way.
    var insideNounPhrase: Bool {
      guard let previous else { return false }
      return ["DT", "PDT", "PRP$", "POS", "CD", "WP$"].contains(previous) || previous.hasPrefix("JJ")
    }
    var afterNoun: Bool { previous.map { $0.hasPrefix("NN") } ?? false }
    var afterSubject: Bool { afterNoun || previous == "PRP" || previous == "EX" || previous == "WDT" }
  }

  func tag(_ word: String, _ context: Context) -> String {
    if let punctuation = PartOfSpeechTagger.punctuation(word) { return punctuation }
    if let tag = ClosedClassWords.tags[word] { return contextual(word, tag, context) }
    if Numerals.isNumber(word) { return "CD" }
    if word == "'s" || word == "’s" { return context.afterNoun ? "POS" : "VBZ" }
    if ["'re", "'m"].contains(word) { return "VBP" }
    if word == "'ll" || word == "'d" { return "MD" }
    if word == "'ve" { return "VBP" }
    guard word.unicodeScalars.contains(where: \.properties.isAlphabetic) else { return "SYM" }
    return openClass(lexicon.readings(of: word), context)
  }

  static func punctuation(_ word: String) -> String? {
    switch word {
    case ".", "!", "?": return "."
    case ",": return ","
    case ":", ";", "...", "…": return ":"
    case "-", "–", "—": return "HYPH"
    case "(", "[", "{": return "-LRB-"
    case ")", "]", "}": return "-RRB-"
    case "\"", "“", "'", "‘": return "``"
    case "”", "’": return "''"
    case "$", "#": return "$"
    default: return nil
    }
  }

  /// Function words whose tag depends on their neighbours.
  func contextual(_ word: String, _ tag: String, _ context: Context) -> String {
    let nextIsDeterminer = context.next.map { ["DT", "PRP$"].contains(ClosedClassWords.tags[$0] ?? "") } ?? false
    switch word {
    case "all", "both", "half":
      if nextIsDeterminer { return "PDT" }
      return word == "half" && !(context.next.map(startsNounPhrase) ?? false) ? "NN" : "DT"
    case "her": return context.next.map(startsNounPhrase) ?? false ? "PRP$" : "PRP"
    case "that":
      if context.afterNoun { return "WDT" }
      return context.next.map(startsNounPhrase) ?? false ? "DT" : "IN"
    case "there":
      let be = ["is", "are", "was", "were", "'s", "be"]
      return context.next.map(be.contains) ?? false ? "EX" : "RB"
    case "up" where context.previous == "HYPH": return "NN"  // "close-up"
    case "up", "down", "out", "off": return context.afterNoun || context.previous?.hasPrefix("VB") == true ? "RP" : tag
    default: return tag
    }
  }

  /// Whether a word can start a noun phrase: an open-class word with a noun or adjective reading.
  func startsNounPhrase(_ word: String) -> Bool {
    if let tag = ClosedClassWords.tags[word] { return tag.hasPrefix("JJ") || tag.hasPrefix("NN") || tag == "CD" }
    if Numerals.isNumber(word) { return true }
    guard PartOfSpeechTagger.punctuation(word) == nil else { return false }
    return lexicon.readings(of: word).contains { $0.wordClass == .noun || $0.wordClass == .adjective }
  }

  /// Whether a word can go on a noun phrase (a noun or adjective reading); an -ing form counts as a verb here
  /// unless it is a common noun ("a white dress holding flowers", "a tall building").
  func canBeNoun(_ word: String) -> Bool {
    if let tag = ClosedClassWords.tags[word] { return tag.hasPrefix("NN") }
    guard PartOfSpeechTagger.punctuation(word) == nil, !Numerals.isNumber(word) else { return false }
    let readings = lexicon.readings(of: word)
    if readings.contains(where: { $0.inflection == .gerund }) {
      return readings.contains { $0.wordClass == .noun && $0.isListed && $0.frequency >= 2 }
    }
    return readings.contains { $0.wordClass == .noun || $0.wordClass == .adjective }
  }

  /// The tag of an open-class word from its readings and context.
  func openClass(_ readings: [Reading], _ context: Context) -> String {
    let classes = Set(readings.map(\.wordClass))
    let nounLike = readings.filter { $0.wordClass == .noun || $0.wordClass == .adjective }
    let verbs = readings.filter { $0.wordClass == .verb }
    if let gerund = verbs.first(where: { $0.inflection == .gerund }) {
      return gerundTag(gerund, nounLike, context)
    }
    if let past = verbs.first(where: { $0.inflection == .past }) {
      if let tag = participleTag(past, nounLike, context) { return tag }
    }
    if classes.count == 1 { return PartOfSpeechTagger.penn(best(readings, classes.first!), context) }
    if !verbs.isEmpty, prefersVerb(verbs, nounLike, context) {
      return PartOfSpeechTagger.penn(best(verbs, nil), context)
    }
    return nominalTag(readings, context)
  }

  /// "a parked car" → VBN (as Penn annotators tag participles before nouns), "a faded picture" → JJ where WordNet
  /// sees the adjective more often than the verb; "a circle left of" → VBN after a noun; nil when the word is
  /// better read as a listed noun or adjective ("a red rose", "a bed").
  func participleTag(_ past: Reading, _ nounLike: [Reading], _ context: Context) -> String? {
    let adjectiveFrequency = nounLike.filter { $0.wordClass == .adjective }.map(\.frequency).max()
    if context.afterNoun && !(context.next.map(canBeNoun) ?? false) { return PartOfSpeechTagger.penn(past, context) }
    let listedNoun = nounLike.contains { $0.wordClass == .noun && $0.isListedBase }
    if listedNoun && !context.afterSubject { return nil }
    if let adjectiveFrequency, adjectiveFrequency > past.frequency { return "JJ" }
    return listedNoun ? nil : PartOfSpeechTagger.penn(past, context)
  }

  /// "a man riding" → VBG; "a wedding cake", "a building" → NN (a common listed noun after a determiner); "a
  /// smiling man" → VBG.
  func gerundTag(_ gerund: Reading, _ nounLike: [Reading], _ context: Context) -> String {
    let adjectiveFrequency = nounLike.filter { $0.wordClass == .adjective && $0.isListed }.map(\.frequency).max() ?? 0
    if adjectiveFrequency > gerund.frequency { return "JJ" }  // "an interesting building"
    guard context.insideNounPhrase else { return "VBG" }
    let nounFrequency = nounLike.filter { $0.wordClass == .noun && $0.isListed }.map(\.frequency).max()
    guard let nounFrequency else { return "VBG" }
    let beforeNoun = context.next.map(canBeNoun) ?? false
    return !beforeNoun || nounFrequency >= 2 ? "NN" : "VBG"
  }

  /// Noun or verb for words with both readings: a verb after a subject ("dogs run", "a man rides") or after "to"
  /// and modals; a noun at the start, after a determiner or preposition, or inside a compound ("a bus stop").
  func prefersVerb(_ verbs: [Reading], _ nounLike: [Reading], _ context: Context) -> Bool {
    guard let previous = context.previous else { return false }
    if previous == "TO" || previous == "MD" { return verbs.contains { $0.inflection == .base } }
    if context.insideNounPhrase || previous == "IN" { return false }
    guard context.afterSubject else { return false }
    let singularSubject = previous == "NN" || ["he", "she", "it", "this", "that"].contains(context.previousWord ?? "")
    if singularSubject {
      // "a man rides a bike", but "computer monitors", "palm trees": only a verb that is the commoner reading.
      let verbFrequency = verbs.filter { $0.inflection == .thirdPerson }.map(\.frequency).max() ?? -1
      let nounFrequency = nounLike.map(\.frequency).max() ?? 0
      return verbFrequency > nounFrequency || (previous == "PRP" && verbFrequency >= 0)
    }
    return verbs.contains { $0.inflection == .base } && verbs.contains { $0.frequency > 0 }
  }

  /// Adjective before a noun ("a red bike"), noun otherwise ("the red", "a stop sign": after a noun a noun).
  func nominalTag(_ readings: [Reading], _ context: Context) -> String {
    let adjectives = readings.filter { $0.wordClass == .adjective }
    let nouns = readings.filter { $0.wordClass == .noun }
    if !adjectives.isEmpty && !nouns.isEmpty {
      let coordinated = ["and", "or"].contains(context.next ?? "") && context.afterNext.map(startsNounPhrase) ?? false
      let beforeNoun = context.next.map(canBeNoun) ?? false || coordinated
      if context.afterNoun || !beforeNoun {
        // Not before a noun: a noun unless the adjective is much the more common reading ("a cart full of hay").
        let nounFrequency = nouns.map(\.frequency).max()!, adjectiveFrequency = adjectives.map(\.frequency).max()!
        let useNoun = adjectiveFrequency <= 3 * nounFrequency || (!context.afterNoun && context.insideNounPhrase)
        return PartOfSpeechTagger.penn(best(useNoun ? nouns : adjectives, nil), context)
      }
      return PartOfSpeechTagger.penn(best(adjectives, nil), context)
    }
    if !nouns.isEmpty { return PartOfSpeechTagger.penn(best(nouns, nil), context) }
    if !adjectives.isEmpty { return PartOfSpeechTagger.penn(best(adjectives, nil), context) }
    return PartOfSpeechTagger.penn(best(readings, nil), context)
  }

  /// The most frequent reading (of `wordClass` if given); listed readings before guesses.
  func best(_ readings: [Reading], _ wordClass: WordClass?) -> Reading {
    let pool = wordClass.map { wordClass in readings.filter { $0.wordClass == wordClass } } ?? readings
    return pool.max { ($0.isListed ? 1 : 0, $0.frequency) < ($1.isListed ? 1 : 0, $1.frequency) }!
  }

  /// A reading as a Penn Treebank tag.
  static func penn(_ reading: Reading, _ context: Context) -> String {
    switch (reading.wordClass, reading.inflection) {
    case (.noun, .plural): return "NNS"
    case (.noun, _): return "NN"
    case (.adjective, .comparative): return "JJR"
    case (.adjective, .superlative): return "JJS"
    case (.adjective, _): return "JJ"
    case (.adverb, _): return "RB"
    case (.verb, .gerund): return "VBG"
    case (.verb, .past): return context.afterSubject ? "VBD" : "VBN"
    case (.verb, .thirdPerson): return "VBZ"
    case (.verb, _):
      return context.previous == "TO" || context.previous == "MD" || context.previous == nil ? "VB" : "VBP"
    }
  }
}

extension Reading {
  /// A listed lemma read as itself (not an inflection of another word).
  var isListedBase: Bool { isListed && inflection == .base }
}
