import Foundation
import TensorCore

/// Sizes of a BERT encoder, as in HF `BertConfig` (`config.json`).
public struct BertConfiguration: Equatable, Sendable {
  public var vocabularySize = 30522
  public var hiddenSize = 768
  public var layers = 12
  public var heads = 12
  public var intermediateSize = 3072
  public var maxPositions = 512
  public var typeVocabularySize = 2
  public var layerNormEpsilon: Float = 1e-12

  public init() {}

  /// Reads an HF `config.json`; every size must be present and positive.
  public init(configFile path: String) throws {
    guard let data = FileManager.default.contents(atPath: path),
      let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { throw BertConfigurationError(message: "\(path): not a readable JSON object") }
    func integer(_ key: String) throws -> Int {
      guard let value = (json[key] as? NSNumber)?.intValue, value > 0 else {
        throw BertConfigurationError(message: "\(path): '\(key)' must be a positive integer")
      }
      return value
    }
    vocabularySize = try integer("vocab_size")
    hiddenSize = try integer("hidden_size")
    layers = try integer("num_hidden_layers")
    heads = try integer("num_attention_heads")
    intermediateSize = try integer("intermediate_size")
    maxPositions = try integer("max_position_embeddings")
    typeVocabularySize = (json["type_vocab_size"] as? NSNumber)?.intValue ?? 2
    layerNormEpsilon = (json["layer_norm_eps"] as? NSNumber)?.floatValue ?? 1e-12
    if let activation = json["hidden_act"] as? String, activation != "gelu" {
      throw BertConfigurationError(message: "\(path): hidden_act '\(activation)' is not supported (only gelu)")
    }
    guard hiddenSize % heads == 0 else {
      throw BertConfigurationError(message: "\(path): hidden_size \(hiddenSize) is not divisible by \(heads) heads")
    }
  }
}

public struct BertConfigurationError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
}

/// Word + position + token-type embeddings, LayerNorm, dropout (HF `BertEmbeddings`).
public final class BertEmbeddings: Module {
  public let wordEmbeddings: Embedding
  public let positionEmbeddings: Embedding
  public let tokenTypeEmbeddings: Embedding
  public let layerNorm: LayerNorm
  public let dropout: Dropout

  public init(_ configuration: BertConfiguration, generator: inout SeededGenerator) {
    wordEmbeddings = Embedding(configuration.vocabularySize, configuration.hiddenSize, generator: &generator)
    positionEmbeddings = Embedding(configuration.maxPositions, configuration.hiddenSize, generator: &generator)
    tokenTypeEmbeddings = Embedding(configuration.typeVocabularySize, configuration.hiddenSize, generator: &generator)
    for table in [wordEmbeddings, positionEmbeddings, tokenTypeEmbeddings] {
      table.weight.assign(Tensor.normal(table.weight.shape, std: 0.02, generator: &generator))
    }
    layerNorm = LayerNorm(configuration.hiddenSize, epsilon: configuration.layerNormEpsilon)
    dropout = Dropout(0.1)
    super.init()
    register("word_embeddings", wordEmbeddings)
    register("position_embeddings", positionEmbeddings)
    register("token_type_embeddings", tokenTypeEmbeddings)
    register("LayerNorm", layerNorm)
    register("dropout", dropout)
  }

  /// ids `[B, T]` → `[B, T, H]`, with positions 0…T−1 and token type 0.
  public func callAsFunction(_ ids: Tensor) -> Tensor {
    let length = ids.shape[1]
    precondition(
      length <= positionEmbeddings.weight.shape[0],
      "BERT: \(length) tokens exceed the \(positionEmbeddings.weight.shape[0]) position embeddings")
    let positions = positionEmbeddings(Tensor.arange(length)).unsqueezed(0)
    let types = tokenTypeEmbeddings(Tensor.zeros([1, length]))
    return dropout(layerNorm(wordEmbeddings(ids) + positions + types))
  }
}

/// One post-LN transformer layer with HF BERT's names: `attention.self.{query,key,value}`,
/// `attention.output.{dense,LayerNorm}`, `intermediate.dense`, `output.{dense,LayerNorm}`.
public final class BertLayer: Module {
  public let query: Linear, key: Linear, value: Linear
  public let attentionOutput: Linear, attentionNorm: LayerNorm
  public let intermediate: Linear
  public let output: Linear, outputNorm: LayerNorm
  public let heads: Int
  /// GLIP's fusion-tower BERT layers (fp16 safety in the official code) clamp to ±this (50000): the scaled attention
  /// scores, the intermediate dense output and its GELU, the output dense, and the output LayerNorm. nil for plain
  /// BERT.
  public let clamp: Float?
  let attentionDropout: Dropout, hiddenDropout: Dropout, outputDropout: Dropout
  private let stackedProjection = StackedProjection()

  public init(_ configuration: BertConfiguration, clamp: Float? = nil, generator: inout SeededGenerator) {
    let (hidden, inner) = (configuration.hiddenSize, configuration.intermediateSize)
    func linear(_ input: Int, _ output: Int) -> Linear {
      let layer = Linear(input, output, generator: &generator)
      layer.weight.assign(Tensor.normal(layer.weight.shape, std: 0.02, generator: &generator))
      layer.bias?.assign(.zeros([output]))
      return layer
    }
    query = linear(hidden, hidden)
    key = linear(hidden, hidden)
    value = linear(hidden, hidden)
    attentionOutput = linear(hidden, hidden)
    attentionNorm = LayerNorm(hidden, epsilon: configuration.layerNormEpsilon)
    intermediate = linear(hidden, inner)
    output = linear(inner, hidden)
    outputNorm = LayerNorm(hidden, epsilon: configuration.layerNormEpsilon)
    heads = configuration.heads
    self.clamp = clamp
    attentionDropout = Dropout(0.1, seed: 1)
    hiddenDropout = Dropout(0.1, seed: 2)
    outputDropout = Dropout(0.1, seed: 3)
    super.init()
    let attention = Module(), selfAttention = Module(), attentionOut = Module()
    selfAttention.register("query", query)
    selfAttention.register("key", key)
    selfAttention.register("value", value)
    selfAttention.register("dropout", attentionDropout)
    attentionOut.register("dense", attentionOutput)
    attentionOut.register("LayerNorm", attentionNorm)
    attentionOut.register("dropout", hiddenDropout)
    attention.register("self", selfAttention)
    attention.register("output", attentionOut)
    let intermediateModule = Module(), outputModule = Module()
    intermediateModule.register("dense", intermediate)
    outputModule.register("dense", output)
    outputModule.register("LayerNorm", outputNorm)
    outputModule.register("dropout", outputDropout)
    register("attention", attention)
    register("intermediate", intermediateModule)
    register("output", outputModule)
  }

  /// hidden `[B, T, H]`, additive mask broadcastable to `[B, heads, T, T]` → `[B, T, H]`.
  public func callAsFunction(_ hidden: Tensor, additiveMask: Tensor?) -> Tensor {
    let (batch, length, width) = (hidden.shape[0], hidden.shape[1], hidden.shape[2])
    let headDim = width / heads
    let context: Tensor
    if clamp == nil && (!attentionDropout.isTraining || attentionDropout.probability == 0) {
      // Nothing between the scores and the softmax but the mask: one fused kernel on the packed projections.
      let scale = 1 / Float(headDim).squareRoot()
      if recordsGradients(from: hidden) {
        context = Tensor.multiHeadAttention(
          query: query(hidden), key: key(hidden), value: value(hidden), heads: heads, mask: additiveMask, scale: scale)
      } else {
        context = Tensor.multiHeadAttention(
          packedProjections: stackedProjection.apply(hidden, query, key, value), heads: heads, mask: additiveMask,
          scale: scale)
      }
    } else {
      func split(_ projected: Tensor) -> Tensor {
        projected.reshaped([batch, length, heads, headDim]).permuted(0, 2, 1, 3)
      }
      let (q, k, v) = (split(query(hidden)), split(key(hidden)), split(value(hidden)))
      var scores = q.matmulTransposed(k) * (1 / Float(headDim).squareRoot())
      scores = clamped(scores)
      if let additiveMask { scores = scores + additiveMask }
      context = attentionDropout(scores.softmax(axis: -1)).matmul(v).permuted(0, 2, 1, 3)
        .reshaped([batch, length, width])
    }
    let attended = attentionNorm(hiddenDropout(attentionOutput(context)) + hidden)
    let inner = intermediate.followedByGELU(attended, clampBound: clamp)
    return clamped(outputNorm(clamped(outputDropout(output(inner))) + attended))
  }

  /// `values` clamped to ±`clamp`, or unchanged without one.
  func clamped(_ values: Tensor) -> Tensor {
    guard let clamp else { return values }
    return values.clamp(min: -clamp, max: clamp)
  }

  /// `[B, T]` 0/1 attention mask → additive `[B, 1, 1, T]` (HF: (1 − mask) · most negative float), or nil when
  /// every token is attended: adding zeros changes no score, and each layer would otherwise add them to all of its
  /// `[B, heads, T, T]` scores.
  public static func additiveMask(_ mask: Tensor) -> Tensor? {
    guard mask.scalars.contains(where: { $0 != 1 }) else { return nil }
    return ((1 - mask) * -Float.greatestFiniteMagnitude).reshaped([mask.shape[0], 1, 1, mask.shape[1]])
  }
}

/// Several linear layers over the same input as one product, for inference: their weights and biases stacked along
/// the output axis, so `[B, T, in]` → `[B, T, Σ out]` with each layer's outputs side by side (BERT's query, key and
/// value: one product of three times the width instead of three). The stack is kept while the layers hold the
/// tensors it was made from; a new or updated weight (an optimizer's in-place update goes through copy-on-write,
/// since the stack holds the old tensor) makes a new stack.
final class StackedProjection: @unchecked Sendable {
  private let lock = NSLock()
  private var sources: [Tensor] = []
  private var stacked: (weight: Tensor, bias: Tensor?)?

  func apply(_ input: Tensor, _ layers: Linear...) -> Tensor {
    let (weight, bias) = stack(layers)
    return Tensor.linear(input, weight: weight, bias: bias)
  }

  private func stack(_ layers: [Linear]) -> (weight: Tensor, bias: Tensor?) {
    lock.lock()
    defer { lock.unlock() }
    let current = layers.flatMap { [$0.weight.value] + ($0.bias.map { [$0.value] } ?? []) }
    if let stacked, current.count == sources.count, zip(current, sources).allSatisfy({ $0.data == $1.data }) {
      return stacked
    }
    let hasBias = layers.contains { $0.bias != nil }
    let made = (
      weight: Tensor.concat(layers.map(\.weight.value), axis: 0),
      bias: hasBias
        ? Tensor.concat(layers.map { $0.bias?.value ?? Tensor.zeros([$0.weight.shape[0]]) }, axis: 0) : nil
    )
    (sources, stacked) = (current, made)
    return made
  }
}
