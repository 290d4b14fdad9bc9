import Config
import Detection
import Imaging
import NN
import TensorCore

/// A small strided CNN for tests and smoke runs: a stem, then one 3×3 stride-2 conv + GroupNorm + ReLU per stage.
/// Outputs the last three stages at strides 8, 16 and 32.
public final class TinyCNN: Module, Backbone {
  public enum Keys {
    public static let channels = ConfigKey<[Int]>(
      "channels", default: [8, 16, 32, 64], range: 1...16384, "widths of the four stages")
    public static let frozenStages = ConfigKey<Int>(
      "frozen_stages", default: 0, "freeze the first N stages, the stem being stage 0 (GLIP's FREEZE_CONV_BODY_AT)")
    public static let all: [KeyDocumentation] = [channels.documentation, frozenStages.documentation]
  }

  public let stages: [Sequential]
  public let outputSpecs: [FeatureSpec]
  public let pixelFormat = PixelFormat.torchvision

  public init(channels: [Int], frozenStages: Int = 0, generator: inout SeededGenerator) {
    precondition(channels.count == 4, "tiny_cnn: channels needs four widths, got \(channels)")
    var stages: [Sequential] = []
    var previous = 3
    for (index, width) in channels.enumerated() {
      let groups = width % 4 == 0 ? 4 : 1
      stages.append(
        Sequential([
          Conv2d(
            previous, width, kernelSize: 3, stride: index == 0 ? 4 : 2, padding: 1, bias: false, generator: &generator),
          GroupNorm(groups: groups, channels: width), Activation(.relu),
        ]))
      previous = width
    }
    self.stages = stages
    outputSpecs = [
      FeatureSpec(channels: channels[1], stride: 8), FeatureSpec(channels: channels[2], stride: 16),
      FeatureSpec(channels: channels[3], stride: 32),
    ]
    super.init()
    for (index, stage) in stages.enumerated() { register("stage\(index)", stage) }
    for stage in stages.prefix(frozenStages) { stage.freezeAll() }
  }

  public convenience init(config: ConfigSection, context: BuildContext) throws {
    let channels = try config.read(Keys.channels)
    guard channels.count == 4, channels.allSatisfy({ $0 > 0 }) else {
      throw config.error("channels", "expected four positive widths, got \(channels)")
    }
    let frozen = try config.read(Keys.frozenStages)
    guard (0...4).contains(frozen) else { throw config.error("frozen_stages", "expected 0…4, got \(frozen)") }
    self.init(channels: channels, frozenStages: frozen, generator: &context.random.generator)
  }

  public func features(_ images: Tensor) -> [Tensor] {
    var current = images
    var outputs: [Tensor] = []
    for (index, stage) in stages.enumerated() {
      current = stage(current)
      if index >= 1 { outputs.append(current) }
    }
    return outputs
  }

  override public var hyperParameters: String {
    "channels: \(stages.map { ($0.layers[0] as! Conv2d).weight.shape[0] })"
  }
}
