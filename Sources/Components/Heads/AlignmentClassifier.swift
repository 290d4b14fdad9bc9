import Config
import Detection
import Foundation
import NN
import TensorCore

/// GLIP's region-word alignment scores, replacing a detector's class logits.
///
/// P̄ = L2-normalise(tokens); P̃ = projection(P̄ / 2); token bias b = P̄·w_lang + bias0;
/// S = O·P̃ᵀ / exp(log_scale) + b, clamped to ±50000. bias0 starts at −log((1 − 0.01)/0.01), w_lang at zero.
public final class AlignmentClassifier: Module, RegionClassifier {
  public let projection: Linear
  public let biasLanguage: Parameter
  public let bias0: Parameter
  public let logScale: Parameter

  public init(regionChannels: Int, textHidden: Int, priorProbability: Float = 0.01, generator: inout SeededGenerator) {
    projection = Linear(textHidden, regionChannels, generator: &generator)
    biasLanguage = Parameter(.zeros([textHidden]))
    bias0 = Parameter(Tensor(shape: [1], values: [-Foundation.log((1 - priorProbability) / priorProbability)]))
    logScale = Parameter(Tensor(shape: [1], values: [0]))
    super.init()
    register("projection", projection)
    register("bias_lang", biasLanguage)
    register("bias0", bias0)
    register("log_scale", logScale)
  }

  /// Alignment against the text encoder's width (`context.textHiddenSize`) for regions of the levels' width.
  /// `num_classes` is read and ignored, so a detector config turns into a grounding one by its `classifier` key alone.
  public static func build(config: ConfigSection, context: BuildContext) throws -> AlignmentClassifier {
    _ = try config.read(LinearClassifier.Keys.classes)
    guard let channels = context.inputSpecs.first?.channels else {
      throw ConfigError("\(config.dottedPath): a classifier needs region features", at: config.node?.mark)
    }
    return AlignmentClassifier(
      regionChannels: channels, textHidden: context.textHiddenSize, generator: &context.random.generator)
  }

  public var scoresPromptTokens: Bool { true }

  /// regions `[N, P, C]`, tokens `[N, T, D]` → logits `[N, P, T]`.
  public func callAsFunction(regions: Tensor, tokens: Tensor) -> Tensor {
    let normalized = tokens * (tokens.square().sum(axes: [-1], keepDim: true) + 1e-24).rsqrt()
    let projected = projection(normalized * 0.5)
    let tokenBias =
      normalized.matmul(biasLanguage.value.reshaped([-1, 1])).reshaped([tokens.shape[0], 1, tokens.shape[1]])
      + bias0.value
    let scores = regions.matmulTransposed(projected) * (-logScale.value).exp() + tokenBias
    return scores.clamp(min: -50000, max: 50000)
  }

  override public var hyperParameters: String { "text \(projection.inFeatures) → regions \(projection.outFeatures)" }
}
