import Config
import Detection
import Foundation
import NN
import TensorCore

/// A dense grounding head composed of its layers and a `DenseHeadDesign` (FCOS, ATSS, RetinaNet, …).
///
/// Layers: a tower of blocks (a fusion block when fusion is deep, a text layer after it, then a conv block on every
/// level), a box branch with a learnable scale per level, a centerness branch when the design has one, and the
/// `classifier` sub-slot. The design says where locations are, how boxes are coded and which locations are positive;
/// `DenseHeadLoss` trains it and `DensePostProcessor` turns its outputs into detections.
public final class DenseGroundingHead: Module, DenseHead {
  public enum Keys {
    public static let channels = ConfigKey<Int>(
      "channels", default: 64, range: 1...16384, "width of the tower (GLIP: 256)")
    public static let blocks = ConfigKey<Int>(
      "blocks", default: 2, range: 0...64, "tower blocks (each holds one fusion block when fusion is deep; GLIP-T: 6)")
    public static let scoreThreshold = ConfigKey<Float>(
      "score_threshold", default: 0.05, "minimum phrase score kept at inference")
    public static let nmsThreshold = ConfigKey<Float>("nms_threshold", default: 0.6, "IoU threshold of class-aware NMS")
    public static let maxDetections = ConfigKey<Int>(
      "max_detections", default: 100, range: 1...100_000, "detections kept per image")
    public static let textLayers = ConfigKey<Bool>(
      "text_layers", default: true, "with deep fusion, a new BERT layer on the text after each fusion block (GLIP)")
    public static let textHeads = ConfigKey<Int>(
      "text_heads", default: 12, range: 1...1024, "attention heads of those text layers")
    public static let legacyPlusOne = ConfigKey<Bool>(
      "legacy_plus_one", default: false,
      "maskrcnn-benchmark's +1 box sizes (anchors, box coder, IoU, NMS), for parity with official GLIP checkpoints")
    public static let dyhead = ConfigKey<Bool>(
      "dyhead", default: false, "DyHead conv blocks (deformable convs across levels, scale attention, DyReLU; GLIP)")
    public static let dyheadOffsets = ConfigKey<DyHeadConv.OffsetReading>(
      "dyhead_offsets", default: .glip,
      "how DyHead's coarser-level conv reads the offsets computed at the finer level: glip (the official CUDA "
        + "kernel's raw-memory reading, needed for official checkpoints) or resample (bilinear)")
    public static let boxKernel = ConfigKey<Int>(
      "box_kernel", default: 3, range: 1...15,
      "kernel size of the box and centerness branches (odd; GLIP's VLDyHead: 1)")
    public static let classifier = ConfigKey<String>(
      "classifier", default: "alignment",
      "the registered classifier: alignment scores regions against the prompt's tokens; linear against N classes")
    public static let common: [KeyDocumentation] =
      [
        channels.documentation, blocks.documentation, scoreThreshold.documentation, nmsThreshold.documentation,
        maxDetections.documentation, textLayers.documentation, textHeads.documentation, dyhead.documentation,
        dyheadOffsets.documentation, boxKernel.documentation, legacyPlusOne.documentation, classifier.documentation,
      ] + LinearClassifier.Keys.all
  }

  /// One tower block: optional fusion, a new BERT layer on the fused text (GLIP, scores clamped to ±50000), then a
  /// conv block applied to every level.
  public final class TowerBlock: Module {
    public let fusion: (any FusionBlock)?
    public let textLayer: BertLayer?
    public let conv: any TowerConv

    init(
      channels: Int, fusion: (any FusionBlock)?, textLayer: BertConfiguration?, dyhead: DyHeadConv.OffsetReading?,
      generator: inout SeededGenerator
    ) {
      self.fusion = fusion
      self.textLayer = textLayer.map { BertLayer($0, clamp: 50000, generator: &generator) }
      if let dyhead {
        conv = DyHeadConv(channels: channels, glipOffsets: dyhead == .glip, generator: &generator)
      } else {
        conv = PlainTowerConv(channels: channels, generator: &generator)
      }
      super.init()
      if let fusion { register(FusionLayout.block, fusion) }
      if let textLayer = self.textLayer { register("text_layer", textLayer) }
      register("conv", conv)
    }
  }

  /// Settings read from the config that every head shares.
  public struct Settings {
    public var channels: Int
    public var blocks: Int
    public var scoreThreshold: Float
    public var nmsThreshold: Float
    public var maxDetections: Int
    /// Heads of the text layer added after each fusion block; nil for none.
    public var textLayerHeads: Int?
    public var dyhead: Bool
    public var dyheadOffsets: DyHeadConv.OffsetReading
    public var boxKernel: Int
    public var legacyPlusOne: Bool

    public init(_ config: ConfigSection) throws {
      channels = try config.read(Keys.channels)
      blocks = try config.read(Keys.blocks)
      scoreThreshold = try config.read(Keys.scoreThreshold)
      nmsThreshold = try config.read(Keys.nmsThreshold)
      maxDetections = try config.read(Keys.maxDetections)
      textLayerHeads = try config.read(Keys.textLayers) ? try config.read(Keys.textHeads) : nil
      dyhead = try config.read(Keys.dyhead)
      dyheadOffsets = try config.read(Keys.dyheadOffsets)
      boxKernel = try config.read(Keys.boxKernel)
      legacyPlusOne = try config.read(Keys.legacyPlusOne)
      guard channels > 0 else { throw config.error("channels", "expected a positive width, got \(channels)") }
      guard boxKernel > 0, boxKernel % 2 == 1 else {
        throw config.error("box_kernel", "expected an odd positive kernel size, got \(boxKernel)")
      }
      guard blocks >= 0 else { throw config.error("blocks", "expected a non-negative count, got \(blocks)") }
    }

    public init(
      channels: Int, blocks: Int, scoreThreshold: Float = 0.05, nmsThreshold: Float = 0.6, maxDetections: Int = 100,
      textLayerHeads: Int? = nil, dyhead: Bool = false, dyheadOffsets: DyHeadConv.OffsetReading = .glip,
      boxKernel: Int = 3, legacyPlusOne: Bool = false
    ) {
      self.textLayerHeads = textLayerHeads
      self.dyhead = dyhead
      self.dyheadOffsets = dyheadOffsets
      self.boxKernel = boxKernel
      self.legacyPlusOne = legacyPlusOne
      self.channels = channels
      self.blocks = blocks
      self.scoreThreshold = scoreThreshold
      self.nmsThreshold = nmsThreshold
      self.maxDetections = maxDetections
    }
  }

  public let inputSpecs: [FeatureSpec]
  public let settings: Settings
  public let design: DenseHeadDesign
  public let postProcessor: DensePostProcessor
  public let inputProjections: ModuleList<Conv2d>?
  public let tower: ModuleList<TowerBlock>
  public let bboxPred: Conv2d
  /// nil for heads without centerness (RetinaNet).
  public let centernessPred: Conv2d?
  public let scales: [Parameter]
  public let classifier: any RegionClassifier

  /// A head over `inputSpecs` levels; without a `classifier`, an alignment classifier over `textHidden` features.
  public init(
    inputSpecs: [FeatureSpec], settings: Settings, design: DenseHeadDesign, textHidden: Int,
    fusions: [(any FusionBlock)?]? = nil, classifier: (any RegionClassifier)? = nil, generator: inout SeededGenerator
  ) {
    let channels = settings.channels
    self.inputSpecs = inputSpecs
    self.settings = settings
    self.design = design
    postProcessor = DensePostProcessor(
      scoreThreshold: settings.scoreThreshold, nmsThreshold: settings.nmsThreshold,
      maxDetections: settings.maxDetections, legacyPlusOne: settings.legacyPlusOne)
    inputProjections =
      inputSpecs.allSatisfy { $0.channels == channels }
      ? nil : ModuleList(inputSpecs.map { Conv2d($0.channels, channels, kernelSize: 1, generator: &generator) })
    var textConfiguration: BertConfiguration?
    if let heads = settings.textLayerHeads, fusions?.contains(where: DenseGroundingHead.fuses) == true {
      var configuration = BertConfiguration()
      configuration.hiddenSize = textHidden
      configuration.heads = heads
      configuration.intermediateSize = 4 * textHidden
      textConfiguration = configuration
    }
    tower = ModuleList(
      (0..<settings.blocks).map {
        TowerBlock(
          channels: channels, fusion: fusions?[$0],
          textLayer: DenseGroundingHead.fuses(fusions?[$0]) ? textConfiguration : nil,
          dyhead: settings.dyhead ? settings.dyheadOffsets : nil,
          generator: &generator)
      })
    let (kernel, padding) = (settings.boxKernel, settings.boxKernel / 2)
    bboxPred = Conv2d(channels, 4, kernelSize: kernel, padding: padding, generator: &generator)
    centernessPred =
      design.centerness ? Conv2d(channels, 1, kernelSize: kernel, padding: padding, generator: &generator) : nil
    scales = inputSpecs.map { _ in Parameter(Tensor(shape: [1], values: [1])) }
    self.classifier =
      classifier ?? AlignmentClassifier(regionChannels: channels, textHidden: textHidden, generator: &generator)
    super.init()
    if let inputProjections { register("input_proj", inputProjections) }
    register(FusionLayout.tower, tower)
    register("bbox_pred", bboxPred)
    if let centernessPred { register("centerness", centernessPred) }
    let scaleModule = Module()
    for (index, scale) in scales.enumerated() { scaleModule.register("\(index)", scale) }
    register("scales", scaleModule)
    register("classifier", self.classifier)
  }

  /// The head a plugin's config describes: reads the shared settings, builds the fusion blocks and the classifier
  /// (in that order, from the shared generator, before the head's own layers), then the head with `design`.
  public static func build(
    _ config: ConfigSection, context: BuildContext, design: (Settings) -> DenseHeadDesign
  ) throws -> DenseGroundingHead {
    guard !context.inputSpecs.isEmpty else { throw ConfigError("head: no input feature levels", at: config.node?.mark) }
    let settings = try Settings(config)
    let fusions = try (0..<settings.blocks).map { _ in try context.makeFusion?(settings.blocks) }
    if let heads = settings.textLayerHeads, fusions.contains(where: DenseGroundingHead.fuses),
      heads <= 0 || context.textHiddenSize % heads != 0
    {
      throw config.error(
        "text_heads",
        "\(heads) heads do not divide the text width \(context.textHiddenSize); set text_heads or text_layers: false")
    }
    var classifierContext = context
    classifierContext.inputSpecs = context.inputSpecs.map {
      FeatureSpec(channels: settings.channels, stride: $0.stride)
    }
    let classifier = try Registries.classifiers.build(config, context: classifierContext, selectedBy: Keys.classifier)
    return DenseGroundingHead(
      inputSpecs: context.inputSpecs, settings: settings, design: design(settings), textHidden: context.textHiddenSize,
      fusions: fusions, classifier: classifier, generator: &context.random.generator)
  }

  /// Whether a tower block's fusion actually mixes the modalities (the `none` fusion does not).
  static func fuses(_ fusion: (any FusionBlock)??) -> Bool {
    guard let present = fusion, let block = present else { return false }
    return !(block is NoFusion)
  }

  // MARK: Forward

  public func predict(_ levels: [Tensor], text: TextFeatures) -> HeadOutputs {
    precondition(
      levels.count == inputSpecs.count, "\(typeName): expected \(inputSpecs.count) levels, got \(levels.count)")
    var features =
      inputProjections.map { projections in levels.enumerated().map { projections[$0.offset]($0.element) } } ?? levels
    var tokens = text
    for block in tower.modules {
      if let fusion = block.fusion {
        (features, tokens) = StageClock.measure("tower: fusion") { fusion.fuse(image: features, text: tokens) }
      }
      if let textLayer = block.textLayer {
        tokens.hidden = StageClock.measure("tower: text layer") {
          textLayer(tokens.hidden, additiveMask: BertLayer.additiveMask(tokens.mask))
        }
      }
      features = StageClock.measure("tower: \(block.conv.typeName)") { block.conv(features) }
    }
    return StageClock.measure("head outputs") { outputs(features, tokens: tokens) }
  }

  /// The box, centerness and phrase-score maps of the tower's output levels.
  private func outputs(_ features: [Tensor], tokens: TextFeatures) -> HeadOutputs {
    var boxes: [Tensor] = [], centerness: [Tensor] = [], logits: [Tensor] = []
    for (index, feature) in features.enumerated() {
      boxes.append(
        design.coder.regression(bboxPred(feature) * scales[index].value.reshaped([1, 1, 1, 1]), level: index))
      if let centernessPred { centerness.append(centernessPred(feature)) }
      let (batch, channels) = (feature.shape[0], feature.shape[1])
      logits.append(
        classifier(regions: feature.reshaped([batch, channels, -1]).transposed(1, 2), tokens: tokens.hidden))
    }
    return HeadOutputs(boxRegression: boxes, centerness: centerness, logits: logits)
  }

  // MARK: Loss and inference

  public func loss(_ outputs: HeadOutputs, targets: [GroundingTarget], text: TextFeatures, imageSize: (Int, Int))
    -> [String: Tensor]
  {
    let loss = DenseHeadLoss(
      locations: design.locations, assigner: design.assigner, coder: design.coder,
      scoresTokens: classifier.scoresPromptTokens)
    return loss(outputs, targets: targets, text: text)
  }

  public func detections(_ outputs: HeadOutputs, image index: Int, phrases: [[Int]], imageSize: (Int, Int))
    -> [Detection]
  {
    StageClock.measure("post-processing") {
      postProcessor.detections(
        outputs, image: index, phrases: phrases, imageSize: imageSize, locations: design.locations,
        coder: design.coder)
    }
  }

  override public var typeName: String { design.name }

  override public var hyperParameters: String {
    "levels: \(inputSpecs), blocks: \(tower.count), fusion: \(tower.modules.first?.fusion.map { $0.typeName } ?? "none")"
  }
}
