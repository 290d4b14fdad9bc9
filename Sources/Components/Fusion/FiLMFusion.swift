import Config
import Detection
import Foundation
import NN
import TensorCore

/// Ablation fusion: feature-wise linear modulation of the image by the prompt. The mean of the unpadded token
/// features gives a per-channel scale and shift, v' = v · (1 + γ ⊙ s) + γ ⊙ b, with γ starting at 1/blocks; the text
/// passes through unchanged.
public final class FiLMFusion: Module, FusionBlock {
  public let scale: Linear, shift: Linear
  public let gamma: Parameter

  public init(visualDim: Int, textDim: Int, towerBlocks: Int, generator: inout SeededGenerator) {
    scale = Linear(textDim, visualDim, generator: &generator)
    shift = Linear(textDim, visualDim, generator: &generator)
    gamma = Parameter(Tensor.full([visualDim], 1 / Float(max(towerBlocks, 1))))
    super.init()
    register("scale", scale)
    register("shift", shift)
    register("gamma", gamma)
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> FiLMFusion {
    let channels = Set(context.inputSpecs.map(\.channels))
    guard channels.count == 1, let visualDim = channels.first else {
      throw ConfigError(
        "\(config.dottedPath): film needs every image level to have the same channels (add an fpn neck)",
        at: config.node?.mark)
    }
    return FiLMFusion(
      visualDim: visualDim, textDim: context.textHiddenSize, towerBlocks: context.towerBlocks,
      generator: &context.random.generator)
  }

  public func fuse(image: [Tensor], text: TextFeatures) -> (image: [Tensor], text: TextFeatures) {
    let (batch, tokens) = (text.mask.shape[0], text.mask.shape[1])
    let mask = text.mask.reshaped([batch, tokens, 1])
    let pooled = (text.hidden * mask).sum(axes: [1]) / (text.mask.sum(axes: [1], keepDim: true) + 1e-6)
    let channels = gamma.count
    let factor = (scale(pooled) * gamma.value + 1).reshaped([batch, channels, 1, 1])
    let offset = (shift(pooled) * gamma.value).reshaped([batch, channels, 1, 1])
    return (image.map { $0 * factor + offset }, text)
  }
}
