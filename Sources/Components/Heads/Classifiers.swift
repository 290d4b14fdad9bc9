import Config
import Detection
import Foundation
import NN
import TensorCore

/// The `classifier` sub-slot of dense heads: region features against either a fixed class list (`linear`) or the
/// prompt's tokens (`alignment`). Switching this key, with a text encoder, turns a detector into a grounding model.
public enum ClassifierKind: String, ConfigEnum, Sendable {
  case linear, alignment
}

/// Scores regions `[N, P, C]` against T targets (classes or tokens) → logits `[N, P, T]`.
public protocol RegionClassifier: Module {
  func callAsFunction(regions: Tensor, tokens: Tensor) -> Tensor
}

extension AlignmentClassifier: RegionClassifier {}

/// A closed-set classifier: one logit per class from a linear layer (a 1×1 conv over the map), with the bias set so
/// every class starts at `priorProbability` (RetinaNet/FCOS/ATSS init). The prompt's tokens are ignored.
public final class LinearClassifier: Module, RegionClassifier {
  public let logits: Linear

  public init(regionChannels: Int, classes: Int, priorProbability: Float = 0.01, generator: inout SeededGenerator) {
    logits = Linear(regionChannels, classes, generator: &generator)
    logits.weight.assign(Tensor.normal(logits.weight.shape, std: 0.01, generator: &generator))
    logits.bias?.assign(Tensor.full([classes], -Foundation.log((1 - priorProbability) / priorProbability)))
    super.init()
    register("logits", logits)
  }

  public func callAsFunction(regions: Tensor, tokens: Tensor) -> Tensor { logits(regions) }

  override public var hyperParameters: String { "classes: \(logits.outFeatures)" }
}

enum ClassifierKeys {
  static let kind = ConfigKey<ClassifierKind>(
    "classifier", default: .alignment, "alignment: region-word scores against the prompt; linear: N fixed classes")
  static let classes = ConfigKey<Int>(
    "num_classes", default: 0, "classes of a linear classifier (ignored for alignment)")
  static let all: [KeyDocumentation] = [kind.documentation, classes.documentation]

  /// Builds the configured classifier for regions of `channels` features.
  static func build(_ config: ConfigSection, channels: Int, context: BuildContext) throws -> any RegionClassifier {
    let classes = try config.read(classes)
    switch try config.read(kind) {
    case .alignment:
      return AlignmentClassifier(
        regionChannels: channels, textHidden: context.textHiddenSize, generator: &context.random.generator)
    case .linear:
      guard classes > 0 else { throw config.error("num_classes", "a linear classifier needs num_classes > 0") }
      return LinearClassifier(regionChannels: channels, classes: classes, generator: &context.random.generator)
    }
  }
}
