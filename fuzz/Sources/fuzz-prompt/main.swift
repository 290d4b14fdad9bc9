import FuzzSupport
import Language

/// Prompts as users type them (phrase lists and bracketed captions), then the WordPiece tokenizer, chunking and
/// positive maps, with the test vocabulary.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
  guard let text = FuzzInput.text(bytes, count), let tokenizer else { return 0 }
  let encoding = tokenizer.encode(text, maxTokens: 256)
  precondition(encoding.ids.count == encoding.offsets.count, "one offset per token")
  guard let input = try? PromptInput(parsing: text) else { return 0 }
  for prompt in (try? input.chunked(tokenizer: tokenizer, maxTokens: 64)) ?? [] {
    let promptEncoding = tokenizer.encode(prompt.text)
    let tokens = PositiveMap.phraseTokens(prompt.phraseSpans, in: promptEncoding)
    _ = PositiveMap.binaryMap(tokens, length: promptEncoding.ids.count)
  }
  return 0
}

let tokenizer = try? WordPieceTokenizer(
  vocabularyFile: FuzzInput.packageDirectory.deletingLastPathComponent()
    .appendingPathComponent("Tests/Fixtures/language/vocab.txt").path)

FuzzDriver.run(fuzz)
