import Config
import Detection
import Foundation
import NN
import TensorCore

/// Feature pyramid (RetinaNet / GLIP style): a 1×1 lateral and a 3×3 output conv per input level, a top-down pathway
/// of nearest upsampling and addition, and extra levels by stride-2 3×3 convs — P6 from P5's output (or from C5) and
/// P7 from relu(P6). Convs use kaiming-uniform (a = 1) weights and zero bias, as GLIP's FPN does.
public final class FPN: Module, Neck {
  public enum Keys {
    public static let channels = ConfigKey<Int>(
      "channels", default: 256, range: 1...16384, "channels of every output level")
    public static let extraLevels = ConfigKey<Int>(
      "extra_levels", default: 2, range: 0...8, "levels added above the backbone's (P6, P7)")
    public static let extraFrom = ConfigKey<ExtraSource>("extra_from", default: .p5, "what P6 is computed from")
    public static let all: [KeyDocumentation] = [
      channels.documentation, extraLevels.documentation, extraFrom.documentation,
    ]
  }

  public enum ExtraSource: String, ConfigEnum, Sendable { case p5, c5 }

  public let lateral: [Conv2d]
  public let output: [Conv2d]
  public let extra: [Conv2d]
  public let extraFrom: ExtraSource
  public let outputSpecs: [FeatureSpec]

  public init(
    inputSpecs: [FeatureSpec], channels: Int, extraLevels: Int = 2, extraFrom: ExtraSource = .p5,
    generator: inout SeededGenerator
  ) {
    func conv(_ input: Int, kernel: Int, stride: Int = 1) -> Conv2d {
      let layer = Conv2d(
        input, channels, kernelSize: kernel, stride: stride, padding: kernel / 2, generator: &generator)
      layer.weight.assign(Initialization.kaimingUniform(layer.weight.shape, a: 1, generator: &generator))
      layer.bias?.assign(.zeros([channels]))
      return layer
    }
    lateral = inputSpecs.map { conv($0.channels, kernel: 1) }
    output = inputSpecs.map { _ in conv(channels, kernel: 3) }
    extra = (0..<extraLevels).map { index in
      conv(index == 0 && extraFrom == .c5 ? inputSpecs.last!.channels : channels, kernel: 3, stride: 2)
    }
    self.extraFrom = extraFrom
    let topStride = inputSpecs.last!.stride
    outputSpecs =
      inputSpecs.map { FeatureSpec(channels: channels, stride: $0.stride) }
      + (0..<extraLevels).map { FeatureSpec(channels: channels, stride: topStride << ($0 + 1)) }
    super.init()
    register("lateral", ModuleList(lateral))
    register("output", ModuleList(output))
    for (index, layer) in extra.enumerated() {
      register("p\(Int(log2(Double(topStride))) + index + 1)", layer)
    }
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> FPN {
    let channels = try config.read(Keys.channels), extraLevels = try config.read(Keys.extraLevels)
    guard channels > 0 else { throw config.error("channels", "expected a positive width, got \(channels)") }
    guard (0...3).contains(extraLevels) else { throw config.error("extra_levels", "expected 0…3, got \(extraLevels)") }
    guard !context.inputSpecs.isEmpty else {
      throw ConfigError("fpn: the backbone publishes no levels", at: config.node?.mark)
    }
    return FPN(
      inputSpecs: context.inputSpecs, channels: channels, extraLevels: extraLevels,
      extraFrom: try config.read(Keys.extraFrom), generator: &context.random.generator)
  }

  public func callAsFunction(_ features: [Tensor]) -> [Tensor] {
    precondition(features.count == lateral.count, "fpn: expected \(lateral.count) levels, got \(features.count)")
    var inner = lateral.last!(features.last!)
    var results = [output.last!(inner)]
    for index in stride(from: features.count - 2, through: 0, by: -1) {
      let lateralFeature = lateral[index](features[index])
      let upsampled = Tensor.interpolate(
        inner, size: (lateralFeature.shape[2], lateralFeature.shape[3]), mode: .nearest)
      inner = lateralFeature + upsampled
      results.insert(output[index](inner), at: 0)
    }
    var previous = extraFrom == .p5 ? results.last! : features.last!
    for (index, layer) in extra.enumerated() {
      previous = layer(index == 0 ? previous : previous.relu())
      results.append(previous)
    }
    return results
  }

  override public var hyperParameters: String { "outputs: \(outputSpecs)" }
}
