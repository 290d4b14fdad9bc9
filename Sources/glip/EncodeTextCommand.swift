import ArgumentParser
import Components
import Detection
import Foundation
import TensorCore

struct EncodeTextCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "encode-text",
    abstract: "Run a BERT model directory on texts and write hidden states, mask and input ids as safetensors.")

  @Option(help: "HF model directory (config.json, vocab.txt, model.safetensors).")
  var model: String

  @Option(help: "Keep at most this many tokens per text, [CLS] and [SEP] included.")
  var maxTokens: Int = 256

  @Option(help: "Output .safetensors file.")
  var out: String

  @Argument(help: "Texts to encode.")
  var texts: [String]

  func validate() throws {
    guard maxTokens >= 2 else { throw ValidationError("--max-tokens must be at least 2") }
    guard !texts.isEmpty else { throw ValidationError("give at least one text") }
  }

  func run() throws {
    try reportingErrors {
      var generator = SeededGenerator(seed: 0)
      let remap = try RemapTable(yaml: BuiltinRemaps.hfBert, file: "configs/remaps/hf_bert.yaml")
      let encoder = try BertTextEncoder.load(
        modelDirectory: model, remap: remap, maxTokens: maxTokens, generator: &generator)
      encoder.eval()
      let (batch, _) = try encoder.tokenize(texts)
      let hidden = withNoGrad { encoder.hiddenStates(batch).last! }
      try SafetensorsFile(
        tensors: ["hidden": hidden, "mask": batch.attentionMask, "input_ids": batch.ids],
        metadata: ["model": model, "texts": texts.joined(separator: "\n")]
      ).write(path: out)
      print("wrote \(out): hidden \(hidden.shape), \(texts.count) texts")
    }
  }
}
