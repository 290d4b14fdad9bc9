import Config
import Detection
import Foundation
import NN
import TensorCore

/// A closed-set classifier: one logit per class from a linear layer (a 1×1 conv over the map), with the bias set so
/// every class starts at `priorProbability` (RetinaNet/FCOS/ATSS init). The prompt's tokens are ignored.
public final class LinearClassifier: Module, RegionClassifier {
  public enum Keys {
    public static let classes = ConfigKey<Int>(
      "num_classes", default: 0, range: 0...100_000, "classes of a linear classifier (ignored for alignment)")
    public static let all: [KeyDocumentation] = [classes.documentation]
  }

  public let logits: Linear

  public init(regionChannels: Int, classes: Int, priorProbability: Float = 0.01, generator: inout SeededGenerator) {
    logits = Linear(regionChannels, classes, generator: &generator)
    logits.weight.assign(Tensor.normal(logits.weight.shape, std: 0.01, generator: &generator))
    logits.bias?.assign(Tensor.full([classes], -Foundation.log((1 - priorProbability) / priorProbability)))
    super.init()
    register("logits", logits)
  }

  /// Reads `num_classes` from the head section; the regions' width is the levels' (`context.inputSpecs`).
  public static func build(config: ConfigSection, context: BuildContext) throws -> LinearClassifier {
    let classes = try config.read(Keys.classes)
    guard classes > 0 else { throw config.error("num_classes", "a linear classifier needs num_classes > 0") }
    guard let channels = context.inputSpecs.first?.channels else {
      throw ConfigError("\(config.dottedPath): a classifier needs region features", at: config.node?.mark)
    }
    return LinearClassifier(regionChannels: channels, classes: classes, generator: &context.random.generator)
  }

  public var scoresPromptTokens: Bool { false }

  public func callAsFunction(regions: Tensor, tokens: Tensor) -> Tensor { logits(regions) }

  override public var hyperParameters: String { "classes: \(logits.outFeatures)" }
}
