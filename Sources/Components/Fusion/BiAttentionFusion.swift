import Config
import Detection
import Foundation
import NN
import TensorCore

/// GLIP's cross-modality multi-head attention (X-MHA, `BiMultiHeadAttention`), with GLIP's key names.
///
/// Q = W_q V̂ / √d, K = W_k L̂, values W_vv V̂ and W_vl L̂; per head A = Q Kᵀ clamped to ±50000. Text attends image
/// through softmax over the image axis of (Aᵀ − its row max), clamped again; image attends text through softmax over
/// tokens with −9e15 at padded tokens. Δv = W_out_v(softmax(A)·Vl), Δl = W_out_l(softmax(Aᵀ)·Vv).
public final class BiMultiHeadAttention: Module {
  public let vProj: Linear, lProj: Linear, valuesV: Linear, valuesL: Linear, outV: Linear, outL: Linear
  public let heads: Int
  let dropoutV: Dropout, dropoutL: Dropout

  public init(visualDim: Int, textDim: Int, embedDim: Int, heads: Int, dropout: Float, generator: inout SeededGenerator)
  {
    precondition(embedDim % heads == 0, "bi_attention: \(heads) heads do not divide embed dim \(embedDim)")
    func linear(_ input: Int, _ output: Int) -> Linear {
      let layer = Linear(input, output, generator: &generator)
      layer.weight.assign(Initialization.xavierUniform(layer.weight.shape, generator: &generator))
      layer.bias?.assign(.zeros([output]))
      return layer
    }
    vProj = linear(visualDim, embedDim)
    lProj = linear(textDim, embedDim)
    valuesV = linear(visualDim, embedDim)
    valuesL = linear(textDim, embedDim)
    outV = linear(embedDim, visualDim)
    outL = linear(embedDim, textDim)
    self.heads = heads
    dropoutV = Dropout(dropout, seed: generator.next())
    dropoutL = Dropout(dropout, seed: generator.next())
    super.init()
    register("v_proj", vProj)
    register("l_proj", lProj)
    register("values_v_proj", valuesV)
    register("values_l_proj", valuesL)
    register("out_v_proj", outV)
    register("out_l_proj", outL)
    register("dropout_v", dropoutV)
    register("dropout_l", dropoutL)
  }

  /// visual `[B, N, Dv]`, text `[B, M, Dl]`, mask `[B, M]` → (Δv `[B, N, Dv]`, Δl `[B, M, Dl]`).
  public func callAsFunction(visual: Tensor, text: Tensor, mask: Tensor) -> (visual: Tensor, text: Tensor) {
    let (batch, pixels, tokens) = (visual.shape[0], visual.shape[1], text.shape[1])
    let headDim = vProj.outFeatures / heads
    let scale = 1 / Float(headDim).squareRoot()
    if !recordsGradients(from: visual, text) && !dropsOut {
      func weights(_ layer: Linear) -> Tensor.LinearWeights {
        Tensor.LinearWeights(weight: layer.weight.value, bias: layer.bias?.value)
      }
      let (deltaVisual, deltaText) = Tensor.bidirectionalAttention(
        visual: visual, key: lProj(text), textValues: valuesL(text), textMask: mask.mapMaskToAdditive(),
        query: weights(vProj), visualValues: weights(valuesV), output: weights(outV), heads: heads, scale: scale)
      return (deltaVisual, outL(deltaText))
    }
    func split(_ projected: Tensor, length: Int) -> Tensor {
      projected.reshaped([batch, length, heads, headDim]).permuted(0, 2, 1, 3)
    }
    let query = split(vProj(visual) * scale, length: pixels)
    let key = split(lProj(text), length: tokens)
    let visualValues = split(valuesV(visual), length: pixels)
    let textValues = split(valuesL(text), length: tokens)
    let scores = query.matmulTransposed(key).clamp(min: -50000, max: 50000)  // [B, H, N, M]
    let transposed = scores.transposed(2, 3)
    let textScores = (transposed - transposed.max(axis: 3, keepDim: true).values).clamp(min: -50000, max: 50000)
    let textProbabilities = dropoutL(textScores.softmax(axis: -1))
    let padding = mask.reshaped([batch, 1, 1, tokens]).mapMaskToAdditive()
    let visualProbabilities = dropoutV((scores + padding).softmax(axis: -1))
    let deltaVisual = visualProbabilities.matmul(textValues).permuted(0, 2, 1, 3).reshaped([batch, pixels, -1])
    let deltaText = textProbabilities.matmul(visualValues).permuted(0, 2, 1, 3).reshaped([batch, tokens, -1])
    return (outV(deltaVisual), outL(deltaText))
  }

  /// Whether dropout would change the attention maps (training with a positive rate).
  private var dropsOut: Bool { isTraining && (dropoutV.probability > 0 || dropoutL.probability > 0) }

  override public var hyperParameters: String { "embed: \(vProj.outFeatures), heads: \(heads)" }
}

extension Tensor {
  /// GLIP's additive token mask: 1 where valid (a constant shift that softmax ignores), −9e15 where padded.
  fileprivate func mapMaskToAdditive() -> Tensor { withNoGrad { self.maskedFill(self .== 0, -9e15) } }
}

/// The fusion block of each head-tower stage: pre-LayerNorm on both streams, X-MHA, and a residual on the normalised
/// input scaled by learnable per-channel γ (initialised to 1/blocks). `direction` keeps one side only for ablations.
public final class BiAttentionFusion: Module, FusionBlock {
  public enum Direction: String, Sendable {
    case both = "bi_attention"
    case textToImage = "text_to_image"
    case imageToText = "image_to_text"
  }

  public enum Keys {
    public static let embedDim = ConfigKey<Int>(
      "embed_dim", default: 2048, range: 1...16384, "width of the attention (GLIP: 2048)")
    public static let heads = ConfigKey<Int>("heads", default: 8, range: 1...1024, "attention heads (GLIP: 8)")
    public static let dropout = ConfigKey<Float>("dropout", default: 0.1, "dropout on both attention maps")
    public static let all: [KeyDocumentation] = [
      Assembler.Keys.placement.documentation, embedDim.documentation, heads.documentation, dropout.documentation,
    ]
  }

  public let normV: LayerNorm, normL: LayerNorm
  public let attention: BiMultiHeadAttention
  public let gammaV: Parameter, gammaL: Parameter
  public let direction: Direction

  public init(
    visualDim: Int, textDim: Int, embedDim: Int, heads: Int, dropout: Float, towerBlocks: Int, direction: Direction,
    generator: inout SeededGenerator
  ) {
    normV = LayerNorm(visualDim)
    normL = LayerNorm(textDim)
    attention = BiMultiHeadAttention(
      visualDim: visualDim, textDim: textDim, embedDim: embedDim, heads: heads, dropout: dropout, generator: &generator)
    let scale = 1 / Float(max(towerBlocks, 1))
    gammaV = Parameter(Tensor.full([visualDim], scale))
    gammaL = Parameter(Tensor.full([textDim], scale))
    self.direction = direction
    super.init()
    register("gamma_v", gammaV)
    register("gamma_l", gammaL)
    register("layer_norm_v", normV)
    register("layer_norm_l", normL)
    register("attn", attention)
  }

  public static func build(config: ConfigSection, context: BuildContext, direction: Direction) throws
    -> BiAttentionFusion
  {
    let channels = Set(context.inputSpecs.map(\.channels))
    guard channels.count == 1, let visualDim = channels.first else {
      throw ConfigError(
        "\(config.dottedPath): fusion needs every image level to have the same channels (add an fpn neck); got "
          + "\(context.inputSpecs)", at: config.node?.mark)
    }
    let (embed, heads) = (try config.read(Keys.embedDim), try config.read(Keys.heads))
    guard embed > 0, heads > 0, embed % heads == 0 else {
      throw config.error("heads", "\(heads) heads must divide embed_dim \(embed)")
    }
    return BiAttentionFusion(
      visualDim: visualDim, textDim: context.textHiddenSize, embedDim: embed, heads: heads,
      dropout: try config.read(Keys.dropout), towerBlocks: context.towerBlocks, direction: direction,
      generator: &context.random.generator)
  }

  /// Image levels `[B, C, H, W]` are flattened and concatenated into one sequence, fused, and split back.
  public func fuse(image: [Tensor], text: TextFeatures) -> (image: [Tensor], text: TextFeatures) {
    let batch = image[0].shape[0]
    let sizes = image.map { $0.shape[2] * $0.shape[3] }
    let sequence = Tensor.concat(image.map { $0.flattened(startAxis: 2).transposed(1, 2) }, axis: 1)
    let (visual, language) = (normV(sequence), normL(text.hidden))
    let (deltaVisual, deltaText) = attention(visual: visual, text: language, mask: text.mask)
    let fusedVisual = direction == .imageToText ? visual : visual + deltaVisual * gammaV.value
    let fusedText = direction == .textToImage ? language : language + deltaText * gammaL.value
    let levels = fusedVisual.split(sizes: sizes, axis: 1).enumerated().map { index, level in
      level.transposed(1, 2).reshaped([batch, -1, image[index].shape[2], image[index].shape[3]])
    }
    return (levels, TextFeatures(hidden: fusedText, mask: text.mask))
  }

  override public var hyperParameters: String { "\(direction.rawValue), \(attention.hyperParameters)" }
}
