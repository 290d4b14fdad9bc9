/// English function words with their Penn Treebank tags: determiners, pronouns, prepositions, conjunctions,
/// numerals, auxiliaries and the like. They override the lexicon (WordNet lists "a", "in" and "can" as nouns).
enum ClosedClassWords {
  static let tags: [String: String] = {
    var tags: [String: String] = [:]
    func add(_ tag: String, _ words: String) {
      for word in words.split(separator: " ") { tags[String(word)] = tag }
    }
    add("DT", "a an the this these those another each every either neither some any no")
    add("PDT", "all both half")  // DT unless a determiner follows; see PartOfSpeechTagger.contextual
    add("PRP", "i you he she it we they me him us them itself himself herself themselves myself yourself ourselves")
    add("PRP$", "my your his her its our their")
    add(
      "IN",
      "of in on at by for with from into past onto over under above below near behind beside besides between among amongst "
        + "through across along around against toward towards during without within upon underneath beneath "
        + "inside outside like than while if because as after before since until unlike via per despite although "
        + "though whether atop amid throughout")
    add("CC", "and or but nor plus")
    add("TO", "to")
    add("MD", "can could will would shall should may might must")
    add("CD", Numerals.words)
    add("VBZ", "is has does")
    add("VBP", "are am have do")
    add("VBD", "was were had did")
    add("VB", "be")
    add("VBN", "been")
    add("VBG", "being")
    add("DT", "that")  // DT, WDT or IN; see PartOfSpeechTagger.contextual
    add("WDT", "which whichever")
    add("WP", "who whom what whoever")
    add("WP$", "whose")
    add("WRB", "where when how why")
    add("EX", "there")
    add(
      "RB",
      "not n't very too also just only here then now again almost away together alone back still even ever never "
        + "always often quite really rather nearly so next up down out off apart else yet")
    add("JJ", "many few several other much own such last")
    add("JJR", "more less fewer")
    add("JJS", "most least")
    add("NNS", "lots people")
    add("UH", "oh yes hello")
    return tags
  }()
}

/// Number words.
enum Numerals {
  static let words =
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    + "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand million "
    + "dozen"

  /// "12", "3.5", "1,000", "2nd" and "90s" read as numbers.
  static func isNumber(_ word: String) -> Bool {
    guard let first = word.unicodeScalars.first, first.properties.numericType != nil else { return false }
    return word.unicodeScalars.allSatisfy {
      $0.properties.numericType != nil || ".,:sthrdn".unicodeScalars.contains($0)
    }
  }
}
