import Config
import Detection
import Foundation
import Imaging
import NN
import TensorCore

/// ResNet 18/34/50/101 with torchvision's layout and key names (`conv1`, `bn1`, `layer1.0.conv1`, `…downsample.0`),
/// stride on the 3×3 conv of bottlenecks (v1.5). Outputs the requested levels among C2–C5 (strides 4–32).
public final class ResNet: Module, Backbone {
  public enum Keys {
    public static let depth = ConfigKey<Int>("depth", default: 50, "18, 34, 50 or 101")
    public static let outLevels = ConfigKey<[Int]>(
      "out_levels", default: [3, 4, 5], "levels to output: 2 (C2) … 5 (C5)")
    public static let frozenStages = ConfigKey<Int>(
      "frozen_stages", default: 0, "freeze the first N stages, the stem being stage 0 (GLIP's FREEZE_CONV_BODY_AT)")
    public static let norm = ConfigKey<NormKind>("norm", default: .bn, "normalisation after each conv")
    public static let baseWidth = ConfigKey<Int>(
      "base_width", default: 64, range: 1...4096, "channels of the stem and the first stage (64 in torchvision)")
    public static let weights = ConfigKey<String>(
      "weights", default: "", "torchvision checkpoint (.pth or .safetensors); empty: random init")
    public static let all: [KeyDocumentation] = [
      depth.documentation, outLevels.documentation, frozenStages.documentation, norm.documentation,
      baseWidth.documentation, weights.documentation,
    ]
  }

  /// One residual block (basic: two 3×3; bottleneck: 1×1, 3×3 with the stride, 1×1 ×4).
  public final class Block: Module {
    let convs: [Conv2d]
    let norms: [any UnaryLayer]
    let downsample: Sequential?

    init(input: Int, planes: Int, stride: Int, bottleneck: Bool, norm: NormKind, generator: inout SeededGenerator) {
      let output = bottleneck ? planes * 4 : planes
      if bottleneck {
        convs = [
          Conv2d(input, planes, kernelSize: 1, bias: false, generator: &generator),
          Conv2d(planes, planes, kernelSize: 3, stride: stride, padding: 1, bias: false, generator: &generator),
          Conv2d(planes, output, kernelSize: 1, bias: false, generator: &generator),
        ]
      } else {
        convs = [
          Conv2d(input, planes, kernelSize: 3, stride: stride, padding: 1, bias: false, generator: &generator),
          Conv2d(planes, planes, kernelSize: 3, padding: 1, bias: false, generator: &generator),
        ]
      }
      norms = convs.map { norm.make($0.weight.shape[0]) }
      downsample =
        stride != 1 || input != output
        ? Sequential([
          Conv2d(input, output, kernelSize: 1, stride: stride, bias: false, generator: &generator), norm.make(output),
        ]) : nil
      super.init()
      for (index, (conv, norm)) in zip(convs, norms).enumerated() {
        register("conv\(index + 1)", conv)
        register("bn\(index + 1)", norm)
      }
      if let downsample { register("downsample", downsample) }
    }

    /// Each conv with its norm (and the residual add) as one fused convolution where the norm allows it.
    func callAsFunction(_ input: Tensor) -> Tensor {
      var hidden = input
      for (conv, norm) in zip(convs.dropLast(), norms.dropLast()) {
        hidden = conv(hidden, norm: norm, activation: .relu)
      }
      var identity = input
      if let downsample {
        identity = (downsample.layers[0] as? Conv2d)?(input, norm: downsample.layers[1]) ?? downsample(input)
      }
      return convs.last!(hidden, norm: norms.last!, residual: identity, activation: .relu)
    }

    /// The block on a chain kept in oneDNN's blocked layout; nil where the chain does not apply.
    func callAsFunction(_ input: BlockedFeatureMap) -> BlockedFeatureMap? {
      var hidden = input
      for (conv, norm) in zip(convs.dropLast(), norms.dropLast()) {
        guard let next = conv(hidden, norm: norm, activation: .relu) else { return nil }
        hidden = next
      }
      var identity = input
      if let downsample {
        guard let projection = downsample.layers[0] as? Conv2d,
          let projected = projection(input, norm: downsample.layers[1])
        else { return nil }
        identity = projected
      }
      return convs.last!(hidden, norm: norms.last!, residual: identity, activation: .relu)
    }
  }

  public static let blockCounts: [Int: [Int]] = [
    18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3],
  ]

  public let conv1: Conv2d
  public let bn1: any UnaryLayer
  public let stages: [[Block]]
  public let outLevels: [Int]
  public let outputSpecs: [FeatureSpec]
  public let pixelFormat = PixelFormat.torchvision

  public init(
    depth: Int, outLevels: [Int] = [3, 4, 5], frozenStages: Int = 0, norm: NormKind = .bn, baseWidth: Int = 64,
    generator: inout SeededGenerator
  ) {
    precondition(ResNet.blockCounts[depth] != nil, "resnet: depth \(depth) is not one of 18, 34, 50, 101")
    let bottleneck = depth >= 50
    conv1 = Conv2d(3, baseWidth, kernelSize: 7, stride: 2, padding: 3, bias: false, generator: &generator)
    bn1 = norm.make(baseWidth)
    var input = baseWidth
    var stages: [[Block]] = []
    var channels: [Int] = []
    for (index, count) in ResNet.blockCounts[depth]!.enumerated() {
      let planes = baseWidth << index
      var blocks: [Block] = []
      for blockIndex in 0..<count {
        let block = Block(
          input: input, planes: planes, stride: blockIndex == 0 && index > 0 ? 2 : 1, bottleneck: bottleneck,
          norm: norm, generator: &generator)
        input = bottleneck ? planes * 4 : planes
        blocks.append(block)
      }
      stages.append(blocks)
      channels.append(input)
    }
    self.stages = stages
    self.outLevels = outLevels
    outputSpecs = outLevels.map { FeatureSpec(channels: channels[$0 - 2], stride: 1 << $0) }
    super.init()
    register("conv1", conv1)
    register("bn1", bn1)
    for (index, blocks) in stages.enumerated() { register("layer\(index + 1)", ModuleList(blocks)) }
    if frozenStages > 0 {
      conv1.freezeAll()
      bn1.freezeAll()
      for blocks in stages.prefix(frozenStages - 1) { for block in blocks { block.freezeAll() } }
    }
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> ResNet {
    let depth = try config.read(Keys.depth)
    guard blockCounts[depth] != nil else { throw config.error("depth", "expected 18, 34, 50 or 101, got \(depth)") }
    let levels = try config.read(Keys.outLevels)
    guard !levels.isEmpty, levels.allSatisfy({ (2...5).contains($0) }), levels == levels.sorted() else {
      throw config.error("out_levels", "expected increasing levels among 2…5, got \(levels)")
    }
    let frozen = try config.read(Keys.frozenStages)
    guard (0...5).contains(frozen) else { throw config.error("frozen_stages", "expected 0…5, got \(frozen)") }
    let width = try config.read(Keys.baseWidth)
    guard width > 0 else { throw config.error("base_width", "expected a positive width, got \(width)") }
    let model = ResNet(
      depth: depth, outLevels: levels, frozenStages: frozen, norm: try config.read(Keys.norm), baseWidth: width,
      generator: &context.random.generator)
    try loadWeights(
      model, from: try config.read(Keys.weights), config: config, remap: BuiltinRemaps.torchvisionBackbone)
    return model
  }

  public func features(_ images: Tensor) -> [Tensor] {
    blockedFeatures(images) ?? plainFeatures(images)
  }

  /// The forward pass with the activations in oneDNN's blocked layout from the stem to the last output level, each
  /// convolution with its norm, residual and ReLU as post-ops. Nil where it does not apply (training, norms that
  /// depend on the batch, convolutions not on oneDNN: see `BlockedFeatureMap`); the plain pass runs then.
  func blockedFeatures(_ images: Tensor) -> [Tensor]? {
    guard !recordsGradients, let input = BlockedFeatureMap(images),
      let stem = conv1(input, norm: bn1, activation: .relu),
      var hidden = stem.maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
    else { return nil }
    var outputs: [Tensor] = []
    for (index, blocks) in stages.enumerated() {
      for block in blocks {
        guard let next = block(hidden) else { return nil }
        hidden = next
      }
      if outLevels.contains(index + 2) {
        guard let output = hidden.tensor() else { return nil }
        outputs.append(output)
      }
      if index + 2 >= outLevels.last! { break }
    }
    return outputs
  }

  /// The forward pass op by op on NCHW tensors.
  func plainFeatures(_ images: Tensor) -> [Tensor] {
    var hidden = Tensor.maxPool2d(
      conv1(images, norm: bn1, activation: .relu), kernel: (3, 3), stride: (2, 2), padding: (1, 1))
    var outputs: [Tensor] = []
    for (index, blocks) in stages.enumerated() {
      for block in blocks { hidden = block(hidden) }
      if outLevels.contains(index + 2) { outputs.append(hidden) }
      if index + 2 >= outLevels.last! { break }
    }
    return outputs
  }

  override public var hyperParameters: String {
    "depth: \(stages.map(\.count)), outputs: \(outputSpecs)"
  }
}

/// Loads backbone weights from a `.pth` or `.safetensors` file through a remap table, strictly; skipped when building
/// from shapes only. Errors name the file and the config position of `weights`.
func loadWeights(_ model: Module, from path: String, config: ConfigSection, remap yaml: String) throws {
  guard !path.isEmpty else { return }
  guard FileManager.default.fileExists(atPath: path) else {
    throw config.error(
      "weights", "file not found: \(path) (resolved against \(FileManager.default.currentDirectoryPath))")
  }
  guard !ShapeOnlyMode.isEnabled else { return }
  let remap = try RemapTable(yaml: yaml, file: "built-in remap")
  let raw =
    path.hasSuffix(".safetensors")
    ? try SafetensorsFile.read(path: path).tensors
    : PyTorchCheckpoint.stateDict(from: try PyTorchCheckpoint.read(path: path))
  do {
    // Batch counters are never loaded (see the remap tables), so BatchNorm's may be missing; nothing else may.
    let report = try model.load(parameters: try remap.apply(raw).mapped, verify: [.noUnusedKeys, .shapes])
    let missing = report.missingKeys.filter { !$0.hasSuffix("num_batches_tracked") }
    if !missing.isEmpty { throw ModuleError.loadMismatch(LoadReport(missingKeys: missing)) }
  } catch {
    throw config.error("weights", "\(path): \(error)")
  }
}
