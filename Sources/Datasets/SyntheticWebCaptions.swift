import Foundation
import TensorCore

/// Web-style captions for the synthetic images: what a person would write under the picture ("a grainy photo with
/// two purple stars and a yellow ring"), naming some of the objects and never where they are. They are the
/// image–text pairs of self-training: the boxes behind each mention are withheld from training and kept apart, so
/// pseudo-labels can be scored against them.
extension SyntheticShapes {
  /// A web-style caption and, for each mention, the objects it names and the span of its noun phrase as GLIP's
  /// chunker finds it ("a yellow ring"; "purple stars" in "two purple stars": numerals are not part of the chunk).
  public struct WebCaption: Sendable {
    public var text: String
    public var mentions: [(objects: [Int], span: Range<Int>, phrase: String)]
  }

  static let webOpenings = [
    "a grainy photo with", "a picture of", "an image showing", "a blurry shot of", "a close-up of",
    "a drawing of", "a photo of", "colorful shapes including", "a noisy picture with", "",
  ]
  static let webEndings = ["", "", "", " on a noisy background", " on a striped texture", " in a blurry photo"]
  static let countWords = ["", "one", "two", "three", "four", "five"]

  /// The web caption of image `index` (its objects from `sample(index:seed:)`), drawn from a random stream of its
  /// own so the rest of the dataset is the same with or without web captions.
  public func webCaption(for objects: [Object], index: Int, seed: UInt64) -> WebCaption {
    var random = SeededGenerator(seed: (seed &* 0x9E37_79B9 &+ UInt64(index)) ^ 0x5745_4243_4150_5449)
    func pick(_ count: Int) -> Int { Int(random.next() % UInt64(count)) }
    var groups: [[Int]] = []  // objects of one colour and shape, in order of first appearance
    for (objectIndex, object) in objects.enumerated() {
      if let group = groups.firstIndex(where: { objects[$0[0]].phrase == object.phrase }) {
        groups[group].append(objectIndex)
      } else {
        groups.append([objectIndex])
      }
    }
    guard !groups.isEmpty else { return WebCaption(text: "an empty picture", mentions: []) }
    // Some of the groups, at least one, in a random order.
    var chosen = groups.filter { _ in random.nextUnitFloat() < 0.6 }
    if chosen.isEmpty { chosen = [groups[pick(groups.count)]] }
    for position in stride(from: chosen.count - 1, to: 0, by: -1) { chosen.swapAt(position, pick(position + 1)) }

    let opening = SyntheticShapes.webOpenings[pick(SyntheticShapes.webOpenings.count)]
    var text = opening.isEmpty ? "" : opening + " "
    var mentions: [(objects: [Int], span: Range<Int>, phrase: String)] = []
    for (position, group) in chosen.enumerated() {
      if position > 0 { text += position == chosen.count - 1 ? " and " : ", " }
      let (words, phraseStart) = mentionWords(group, objects, &random)
      let start = text.unicodeScalars.count + phraseStart
      text += words
      let phrase = String(words.dropFirst(phraseStart))
      mentions.append((group, start..<(start + phrase.unicodeScalars.count), phrase))
    }
    text += SyntheticShapes.webEndings[pick(SyntheticShapes.webEndings.count)]
    return WebCaption(text: text, mentions: mentions)
  }

  /// "a small red circle" or "two purple stars", and where its noun phrase starts (after the numeral).
  func mentionWords(_ group: [Int], _ objects: [Object], _ random: inout SeededGenerator) -> (String, Int) {
    let object = objects[group[0]]
    let colour = SyntheticShapes.colours[object.colour].name, shape = SyntheticShapes.shapes[object.shape]
    guard group.count == 1 else {
      let count = SyntheticShapes.countWords[min(group.count, SyntheticShapes.countWords.count - 1)] + " "
      return (count + "\(colour) \(shape)s", count.count)
    }
    let relative = object.radius / Float(size)
    var adjective = ""
    if random.nextUnitFloat() < 0.5 {
      adjective = relative < 0.09 ? "small " : (relative > 0.13 ? "large " : "")
    }
    let words = adjective + colour + " " + shape
    let article = "aeiou".contains(words.first!) ? "an " : "a "
    return (article + words, 0)
  }
}
