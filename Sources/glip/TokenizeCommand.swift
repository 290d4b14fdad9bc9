import ArgumentParser
import Foundation
import Language

struct TokenizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tokenize",
    abstract: "Tokenise texts with a BERT WordPiece vocabulary and print ids, tokens and offsets as JSON.")

  @Option(help: "Path to a vocab.txt.")
  var vocab: String

  @Option(help: "Keep at most this many tokens, [CLS] and [SEP] included.")
  var maxTokens: Int?

  @Flag(help: "Keep case (for cased vocabularies).")
  var cased = false

  @Argument(help: "Texts to tokenise.")
  var texts: [String]

  func run() throws {
    let tokenizer = try reportingErrors { try WordPieceTokenizer(vocabularyFile: vocab, lowercase: !cased) }
    let rows = texts.map { text in
      let encoding = tokenizer.encode(text, maxTokens: maxTokens)
      let fields = [
        "\"text\":" + jsonString(text), "\"ids\":[" + encoding.ids.map(String.init).joined(separator: ",") + "]",
        "\"tokens\":[" + encoding.tokens.map(jsonString).joined(separator: ",") + "]",
        "\"offsets\":[" + encoding.offsets.map { "[\($0.lowerBound),\($0.upperBound)]" }.joined(separator: ",") + "]",
      ]
      return "{" + fields.joined(separator: ",") + "}"
    }
    print("[" + rows.joined(separator: ",") + "]")
  }

  /// A JSON string literal (keys are written in a fixed order, so the object is assembled by hand).
  private func jsonString(_ text: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
    return String(String(data: data, encoding: .utf8)!.dropFirst().dropLast())
  }
}
