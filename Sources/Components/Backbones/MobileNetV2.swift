import Config
import Detection
import Foundation
import Imaging
import NN
import TensorCore

/// MobileNetV2 with torchvision's layout and key names (`features.N.…`, `classifier.1`). Outputs strides 8, 16 and 32
/// (after features 6, 13 and 18), and 4 (after feature 3) on request; optionally keeps the ImageNet classifier.
public final class MobileNetV2: Module, Backbone {
  public enum Keys {
    public static let outStrides = ConfigKey<[Int]>(
      "out_strides", default: [8, 16, 32], "strides to output: 4, 8, 16, 32")
    public static let frozenStages = ConfigKey<Int>(
      "frozen_stages", default: 0,
      "freeze the first N stages: 0 the stem (features 0), then features 1, 2–3, 4–6, 7–13, 14–17, 18")
    public static let norm = ConfigKey<NormKind>("norm", default: .bn, "normalisation after each conv")
    public static let weights = ConfigKey<String>(
      "weights", default: "", "torchvision checkpoint, e.g. pretrained/mobilenet_v2-b0353104.pth; empty: random init")
    public static let all: [KeyDocumentation] = [
      outStrides.documentation, frozenStages.documentation, norm.documentation, weights.documentation,
    ]
  }

  /// torchvision's InvertedResidual: optional 1×1 expansion, 3×3 depthwise, 1×1 projection, residual when shapes keep.
  public final class InvertedResidual: Module, UnaryLayer {
    let layers: [any UnaryLayer]
    let residual: Bool

    init(input: Int, output: Int, stride: Int, expansion: Int, norm: NormKind, generator: inout SeededGenerator) {
      let hidden = input * expansion
      var layers: [any UnaryLayer] = []
      if expansion != 1 {
        layers.append(
          ConvNormActivation(input, hidden, kernel: 1, norm: norm, activation: .relu6, generator: &generator))
      }
      layers.append(
        ConvNormActivation(
          hidden, hidden, kernel: 3, stride: stride, groups: hidden, norm: norm, activation: .relu6,
          generator: &generator))
      layers.append(Conv2d(hidden, output, kernelSize: 1, bias: false, generator: &generator))
      layers.append(norm.make(output))
      self.layers = layers
      residual = stride == 1 && input == output
      super.init()
      register("conv", Sequential(layers))
    }

    /// The projection conv, its norm and the residual add as one fused convolution where the norm allows it.
    public func callAsFunction(_ input: Tensor) -> Tensor {
      let hidden = layers.dropLast(2).reduce(input) { $1($0) }
      guard let projection = layers[layers.count - 2] as? Conv2d else { fatalError("InvertedResidual: no projection") }
      return projection(hidden, norm: layers[layers.count - 1], residual: residual ? input : nil)
    }

    /// The block on a chain kept in oneDNN's blocked layout; nil where the chain does not apply.
    func callAsFunction(_ input: BlockedFeatureMap) -> BlockedFeatureMap? {
      var hidden = input
      for layer in layers.dropLast(2) {
        guard let step = layer as? ConvNormActivation, let next = step(hidden) else { return nil }
        hidden = next
      }
      guard let projection = layers[layers.count - 2] as? Conv2d else { return nil }
      return projection(hidden, norm: layers[layers.count - 1], residual: residual ? input : nil)
    }
  }

  /// (expansion, channels, repeats, stride) of the inverted-residual groups.
  static let settings = [
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
  ]
  /// The last feature index of each stride, and the first feature index of each stage.
  static let featureForStride = [4: 3, 8: 6, 16: 13, 32: 18]
  static let stageStarts = [0, 1, 2, 4, 7, 14, 18]

  public let features: [any UnaryLayer]
  public let classifier: Linear?
  public let outStrides: [Int]
  public let outputSpecs: [FeatureSpec]
  public let pixelFormat = PixelFormat.torchvision

  public init(
    outStrides: [Int] = [8, 16, 32], frozenStages: Int = 0, norm: NormKind = .bn, classifier: Bool = false,
    generator: inout SeededGenerator
  ) {
    var features: [any UnaryLayer] = [
      ConvNormActivation(3, 32, kernel: 3, stride: 2, norm: norm, activation: .relu6, generator: &generator)
    ]
    var channels = [32]
    var input = 32
    for (expansion, output, repeats, stride) in MobileNetV2.settings {
      for index in 0..<repeats {
        features.append(
          InvertedResidual(
            input: input, output: output, stride: index == 0 ? stride : 1, expansion: expansion, norm: norm,
            generator: &generator))
        input = output
        channels.append(output)
      }
    }
    features.append(ConvNormActivation(input, 1280, kernel: 1, norm: norm, activation: .relu6, generator: &generator))
    channels.append(1280)
    self.features = features
    self.classifier = classifier ? Linear(1280, 1000, generator: &generator) : nil
    self.outStrides = outStrides
    outputSpecs = outStrides.map { FeatureSpec(channels: channels[MobileNetV2.featureForStride[$0]!], stride: $0) }
    super.init()
    register("features", ModuleList(features.map { $0 as Module }))
    if let classifier = self.classifier {
      let head = Module()
      head.register("1", classifier)
      register("classifier", head)
    }
    let frozenEnd =
      frozenStages < MobileNetV2.stageStarts.count ? MobileNetV2.stageStarts[frozenStages] : features.count
    for feature in features.prefix(frozenEnd) { feature.freezeAll() }
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> MobileNetV2 {
    let strides = try config.read(Keys.outStrides)
    guard !strides.isEmpty, strides.allSatisfy({ featureForStride[$0] != nil }), strides == strides.sorted() else {
      throw config.error("out_strides", "expected increasing strides among 4, 8, 16, 32, got \(strides)")
    }
    let frozen = try config.read(Keys.frozenStages)
    guard (0...stageStarts.count).contains(frozen) else {
      throw config.error("frozen_stages", "expected 0…\(stageStarts.count), got \(frozen)")
    }
    let model = MobileNetV2(
      outStrides: strides, frozenStages: frozen, norm: try config.read(Keys.norm), generator: &context.random.generator)
    try loadWeights(
      model, from: try config.read(Keys.weights), config: config, remap: BuiltinRemaps.torchvisionBackbone)
    return model
  }

  public func features(_ images: Tensor) -> [Tensor] {
    blockedFeatures(images) ?? plainFeatures(images)
  }

  /// The forward pass with the activations in oneDNN's blocked layout from the stem to the last output stride, each
  /// convolution with its norm, ReLU6 and residual inside oneDNN. Nil where it does not apply (training, norms that
  /// depend on the batch, convolutions not on oneDNN: see `BlockedFeatureMap`); the plain pass runs then.
  func blockedFeatures(_ images: Tensor) -> [Tensor]? {
    guard !recordsGradients, var hidden = BlockedFeatureMap(images) else { return nil }
    let wanted = Set(outStrides.map { MobileNetV2.featureForStride[$0]! })
    var outputs: [Tensor] = []
    for (index, layer) in features.enumerated() {
      let next: BlockedFeatureMap?
      switch layer {
      case let block as InvertedResidual: next = block(hidden)
      case let step as ConvNormActivation: next = step(hidden)
      default: next = nil
      }
      guard let next else { return nil }
      hidden = next
      if wanted.contains(index) {
        guard let output = hidden.tensor() else { return nil }
        outputs.append(output)
      }
      if index >= wanted.max()! { break }
    }
    return outputs
  }

  /// The forward pass layer by layer on NCHW tensors.
  func plainFeatures(_ images: Tensor) -> [Tensor] {
    let wanted = Set(outStrides.map { MobileNetV2.featureForStride[$0]! })
    var hidden = images
    var outputs: [Tensor] = []
    for (index, layer) in features.enumerated() {
      hidden = layer(hidden)
      if wanted.contains(index) { outputs.append(hidden) }
      if index >= wanted.max()! { break }
    }
    return outputs
  }

  /// ImageNet logits `[N, 1000]` (needs `classifier: true`): features → global average pool → linear.
  public func logits(_ images: Tensor) -> Tensor {
    guard let classifier else { preconditionFailure("mobilenet_v2: built without its classifier") }
    let pooled = Tensor.adaptiveAvgPool2d(features.reduce(images) { $1($0) }, outputSize: (1, 1))
    return classifier(pooled.flattened(startAxis: 1))
  }

  override public var hyperParameters: String { "outputs: \(outputSpecs)" }
}
