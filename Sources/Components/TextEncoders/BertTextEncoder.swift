import Config
import Detection
import Foundation
import Language
import NN
import TensorCore

/// BERT as in HF `BertModel` (no pooler): embeddings, then post-LN self-attention + GELU layers.
///
/// Loads an HF model directory (`config.json`, `vocab.txt`, `model.safetensors`) through the `hf_bert` remap table,
/// strictly; or starts from random weights of the configured sizes (bert-base by default). The output follows GLIP's
/// language backbone: the mean of the last `layers_to_average` layers divided again by that count (GLIP's quirk;
/// 1 gives the last layer), zeroed at padded tokens.
public final class BertTextEncoder: Module, TextEncoder {
  public enum Keys {
    public static let modelDir = ConfigKey<String>(
      "model_dir", default: "", "HF model directory (config.json, vocab.txt, model.safetensors); empty: random init")
    public static let hidden = ConfigKey<Int>(
      "hidden", default: 768, range: 1...16384, "hidden size when not loading a model")
    public static let layers = ConfigKey<Int>("layers", default: 12, range: 1...256, "layers when not loading a model")
    public static let heads = ConfigKey<Int>(
      "heads", default: 12, range: 1...1024, "attention heads when not loading a model")
    public static let intermediate = ConfigKey<Int>(
      "intermediate", default: 3072, range: 1...65536, "FFN width when not loading a model")
    public static let maxPositions = ConfigKey<Int>(
      "max_positions", default: 512, range: 1...65536, "position-table length when not loading a model")
    public static let vocabularySize = ConfigKey<Int>(
      "vocab_size", default: 30522, range: 1...1_048_576, "vocabulary size when not loading a model")
    public static let maxTokens = ConfigKey<Int>(
      "max_tokens", default: 256, range: 1...8192, "longest prompt in tokens, [CLS]/[SEP] included")
    public static let layersToAverage = ConfigKey<Int>(
      "layers_to_average", default: 1, range: 1...256, "average the last N layers (GLIP's N_LAYERS)")
    public static let lowercase = ConfigKey<Bool>("lowercase", default: true, "uncased tokenizer")
    public static let vocab = ConfigKey<String>(
      "vocab", default: "",
      "vocab.txt for a model whose weights come from a checkpoint (sizes from hidden/layers/…, no model_dir)")
    public static let all: [KeyDocumentation] = [
      modelDir.documentation, vocab.documentation, hidden.documentation, layers.documentation, heads.documentation,
      intermediate.documentation, maxPositions.documentation, vocabularySize.documentation, maxTokens.documentation,
      layersToAverage.documentation, lowercase.documentation,
    ]
  }

  public let configuration: BertConfiguration
  public let embeddings: BertEmbeddings
  public let layers: [BertLayer]
  public let maxTokens: Int
  public let layersToAverage: Int
  public let tokenizer: WordPieceTokenizer?

  public init(
    configuration: BertConfiguration, maxTokens: Int = 256, layersToAverage: Int = 1,
    tokenizer: WordPieceTokenizer? = nil, generator: inout SeededGenerator
  ) {
    precondition(
      layersToAverage >= 1 && layersToAverage <= configuration.layers, "bert: layers_to_average out of range")
    self.configuration = configuration
    embeddings = BertEmbeddings(configuration, generator: &generator)
    layers = (0..<configuration.layers).map { _ in BertLayer(configuration, generator: &generator) }
    self.maxTokens = maxTokens
    self.layersToAverage = layersToAverage
    self.tokenizer = tokenizer
    super.init()
    register("embeddings", embeddings)
    let encoder = Module()
    encoder.register("layer", ModuleList(layers))
    register("encoder", encoder)
  }

  /// Builds from an HF model directory: sizes from config.json, tokenizer from vocab.txt, weights (unless building
  /// from shapes only) from model.safetensors through `remap`.
  public static func load(
    modelDirectory: String, remap: RemapTable, maxTokens: Int = 256, layersToAverage: Int = 1, lowercase: Bool = true,
    generator: inout SeededGenerator
  ) throws -> BertTextEncoder {
    let directory = URL(fileURLWithPath: modelDirectory)
    for file in ["config.json", "vocab.txt", "model.safetensors"] {
      let path = directory.appendingPathComponent(file).path
      guard FileManager.default.fileExists(atPath: path) else {
        throw ConfigError("bert: model directory '\(modelDirectory)' has no \(file) (looked for \(path))")
      }
    }
    let configuration = try BertConfiguration(configFile: directory.appendingPathComponent("config.json").path)
    guard layersToAverage <= configuration.layers else {
      throw ConfigError("bert: layers_to_average \(layersToAverage) exceeds the model's \(configuration.layers) layers")
    }
    let tokenizer = try WordPieceTokenizer(
      vocabularyFile: directory.appendingPathComponent("vocab.txt").path, lowercase: lowercase)
    let encoder = BertTextEncoder(
      configuration: configuration, maxTokens: maxTokens, layersToAverage: layersToAverage, tokenizer: tokenizer,
      generator: &generator)
    if !ShapeOnlyMode.isEnabled {
      let weightsPath = directory.appendingPathComponent("model.safetensors").path
      let (mapped, _) = try remap.apply(try SafetensorsFile.read(path: weightsPath).tensors)
      do {
        try encoder.load(parameters: mapped)
      } catch {
        throw ConfigError("bert: \(weightsPath): \(error)")
      }
    }
    return encoder
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> BertTextEncoder {
    let maxTokens = try config.read(Keys.maxTokens)
    let average = try config.read(Keys.layersToAverage)
    let lowercase = try config.read(Keys.lowercase)
    let directory = try config.read(Keys.modelDir)
    guard maxTokens >= 2 else { throw config.error("max_tokens", "expected at least 2, got \(maxTokens)") }
    var configuration = BertConfiguration()
    if directory.isEmpty {
      configuration.hiddenSize = try config.read(Keys.hidden)
      configuration.layers = try config.read(Keys.layers)
      configuration.heads = try config.read(Keys.heads)
      configuration.intermediateSize = try config.read(Keys.intermediate)
      configuration.vocabularySize = try config.read(Keys.vocabularySize)
      configuration.maxPositions = try config.read(Keys.maxPositions)
      guard configuration.hiddenSize % configuration.heads == 0 else {
        throw config.error(
          "heads", "\(configuration.heads) heads do not divide hidden size \(configuration.hiddenSize)")
      }
    } else {
      for key in [Keys.hidden, Keys.layers, Keys.heads, Keys.intermediate, Keys.vocabularySize, Keys.maxPositions]
      where config.contains(key.name) {
        throw config.error(key.name, "sizes come from \(directory)/config.json; remove '\(key.name)'")
      }
    }
    guard average >= 1 && average <= (directory.isEmpty ? configuration.layers : Int.max) else {
      throw config.error("layers_to_average", "expected 1…\(configuration.layers), got \(average)")
    }
    let vocabulary = try config.read(Keys.vocab)
    if !vocabulary.isEmpty && !directory.isEmpty {
      throw config.error("vocab", "model_dir brings its own vocab.txt; give one of model_dir and vocab")
    }
    if directory.isEmpty {
      let tokenizer = try vocabulary.isEmpty ? nil : readVocabulary(vocabulary, lowercase: lowercase, config: config)
      if let tokenizer, tokenizer.idToToken.count != configuration.vocabularySize {
        throw config.error(
          "vocab",
          "\(vocabulary) has \(tokenizer.idToToken.count) tokens but vocab_size is \(configuration.vocabularySize)")
      }
      return BertTextEncoder(
        configuration: configuration, maxTokens: maxTokens, layersToAverage: average, tokenizer: tokenizer,
        generator: &context.random.generator)
    }
    let remap = try RemapTable(yaml: BuiltinRemaps.hfBert, file: "configs/remaps/hf_bert.yaml")
    do {
      return try load(
        modelDirectory: directory, remap: remap, maxTokens: maxTokens, layersToAverage: average, lowercase: lowercase,
        generator: &context.random.generator)
    } catch let error as ConfigError {
      throw ConfigError(error.message, at: config.mark(of: "model_dir"))
    }
  }

  private static func readVocabulary(_ path: String, lowercase: Bool, config: ConfigSection) throws
    -> WordPieceTokenizer
  {
    guard FileManager.default.fileExists(atPath: path) else { throw config.error("vocab", "\(path): file not found") }
    do {
      return try WordPieceTokenizer(vocabularyFile: path, lowercase: lowercase)
    } catch {
      throw config.error("vocab", "\(path): \(error)")
    }
  }

  public var hiddenSize: Int { configuration.hiddenSize }

  /// The most tokens a prompt may take, [CLS] and [SEP] included: `max_tokens`, or fewer when the position table is
  /// shorter.
  public var tokenLimit: Int { min(maxTokens, configuration.maxPositions) }

  /// A phrase list in chunks that fit `tokenLimit` (GLIP's class chunking); a caption whole, or an error when a
  /// phrase falls past the limit.
  public func prompts(for input: PromptInput) throws -> [Prompt] {
    try input.chunked(tokenizer: try vocabulary(), maxTokens: tokenLimit)
  }

  /// The prompts' tokens, and each phrase's tokens from its character spans (GLIP's positive map).
  public func tokenize(_ prompts: [Prompt]) throws -> EncodedPrompts {
    let (batch, encodings) = try tokenize(prompts.map(\.text))
    return EncodedPrompts(
      tokens: batch, phraseTokens: zip(prompts, encodings).map { PositiveMap.phraseTokens($0.phraseSpans, in: $1) })
  }

  private func vocabulary() throws -> WordPieceTokenizer {
    guard let tokenizer else {
      throw ConfigError(
        "bert: this text encoder has no vocabulary (random weights without model_dir): set model_dir or vocab")
    }
    return tokenizer
  }

  /// Tokenises texts (padded to the longest, at most `maxTokens`) with this encoder's vocabulary.
  public func tokenize(_ texts: [String]) throws -> (batch: TokenBatch, encodings: [Encoding]) {
    let tokenizer = try vocabulary()
    let encodings = texts.map { tokenizer.encode($0, maxTokens: maxTokens) }
    let length = encodings.map(\.count).max() ?? 2
    var ids = [Float](repeating: Float(tokenizer.paddingID), count: texts.count * length)
    var mask = [Float](repeating: 0, count: texts.count * length)
    for (row, encoding) in encodings.enumerated() {
      for (column, id) in encoding.ids.enumerated() {
        ids[row * length + column] = Float(id)
        mask[row * length + column] = 1
      }
    }
    return (
      TokenBatch(
        ids: Tensor(shape: [texts.count, length], values: ids),
        attentionMask: Tensor(shape: [texts.count, length], values: mask)),
      encodings
    )
  }

  /// The output of every layer, `[B, T, H]` each (HF's hidden_states without the embedding output).
  public func hiddenStates(_ tokens: TokenBatch) -> [Tensor] {
    let additive = BertLayer.additiveMask(tokens.attentionMask)
    var hidden = embeddings(tokens.ids)
    return layers.map { layer in
      hidden = layer(hidden, additiveMask: additive)
      return hidden
    }
  }

  public func encode(_ tokens: TokenBatch) -> TextFeatures {
    let run = {
      let kept = Array(self.hiddenStates(tokens).suffix(self.layersToAverage))
      let averaged = kept.count == 1 ? kept[0] : Tensor.stack(kept, axis: 1).mean(axes: [1]) * (1 / Float(kept.count))
      let mask = tokens.attentionMask.reshaped([tokens.batchSize, tokens.length, 1])
      return TextFeatures(hidden: averaged * mask, mask: tokens.attentionMask)
    }
    return trainableParameterCount == 0 ? withNoGrad(run) : run()
  }

  override public var hyperParameters: String {
    "hidden: \(configuration.hiddenSize), layers: \(configuration.layers), heads: \(configuration.heads)"
  }
}
