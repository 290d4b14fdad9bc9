import ArgumentParser
import Foundation
import Language

struct PhrasesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "phrases",
    abstract: "Print a caption's noun phrases and their character spans, as GLIP chunks captions for grounding.",
    discussion: """
      The caption is lowercased and tagged with Penn Treebank tags (WordNet word classes, closed-class word \
      lists and context rules), then chunked with GLIP's grammar NP: {<DT>?<JJ.*>*<NN.*>+}. Each line is \
      START-END<tab>PHRASE, with START and END character offsets into the caption (END exclusive).
      """)

  @Flag(help: "Print JSON: [{\"caption\", \"phrases\": [{\"text\", \"span\": [start, end]}]}].")
  var json = false

  @Flag(help: "Also print each word with its tag.")
  var tags = false

  @Argument(help: "Captions.")
  var captions: [String]

  func validate() throws {
    guard !captions.isEmpty else { throw ValidationError("give at least one caption") }
  }

  func run() throws {
    let chunker = NounPhraseChunker()
    if json {
      let rows: [[String: Any]] = captions.map { caption in
        let phrases = chunker.phrases(in: caption).map {
          ["text": $0.text, "span": [$0.span.lowerBound, $0.span.upperBound]]
        }
        return ["caption": caption, "phrases": phrases]
      }
      let data = try JSONSerialization.data(withJSONObject: rows, options: [.sortedKeys, .withoutEscapingSlashes])
      print(String(decoding: data, as: UTF8.self))
      return
    }
    for (index, caption) in captions.enumerated() {
      if captions.count > 1 { print((index > 0 ? "\n" : "") + caption) }
      if tags { print(chunker.tagger.tag(caption).map { "\($0.word.text)/\($0.tag)" }.joined(separator: " ")) }
      for phrase in chunker.phrases(in: caption) {
        print("\(phrase.span.lowerBound)-\(phrase.span.upperBound)\t\(phrase.text)")
      }
    }
  }
}
