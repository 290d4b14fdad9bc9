import Config
import Detection
import Foundation
import NN
import TensorCore

/// What a dense head assigns to one location of one image: the box it regresses to (or −1), and the centerness
/// target of that location for that box.
public struct LocationTarget {
  public var box: Int
  public var centerness: Float
  /// Neither positive nor negative: left out of the classification loss (RetinaNet's IoU band).
  public var ignored = false

  public init(box: Int, centerness: Float, ignored: Bool = false) {
    self.box = box
    self.centerness = centerness
    self.ignored = ignored
  }
}

/// The parts every dense grounding head shares, and the hooks that make FCOS, ATSS and the like differ.
///
/// Shared: a tower of blocks (fusion block when fusion is deep, then 3×3 conv + GroupNorm + ReLU on every level),
/// per-level learnable scales on the box branch, a centerness branch, and the `classifier` sub-slot. Training: token
/// (or class) sigmoid focal loss normalised by positives, GIoU between decoded and target boxes weighted by the
/// centerness targets (normalised by their sum, ×2), and centerness BCE. Inference: mean token probability per phrase,
/// threshold, top 1000 per level, √(score · centerness), decoded boxes, class-aware NMS, top N.
///
/// Subclasses say where locations are (`reference`), how raw box outputs become regression values
/// (`regressionOutput`), how they decode into boxes, and which locations are positive (`assign`).
public class DenseGroundingHead: Module, DenseHead {
  public enum Keys {
    public static let channels = ConfigKey<Int>("channels", default: 64, "width of the tower (GLIP: 256)")
    public static let blocks = ConfigKey<Int>(
      "blocks", default: 2, "tower blocks (each holds one fusion block when fusion is deep; GLIP-T: 6)")
    public static let scoreThreshold = ConfigKey<Float>(
      "score_threshold", default: 0.05, "minimum phrase score kept at inference")
    public static let nmsThreshold = ConfigKey<Float>("nms_threshold", default: 0.6, "IoU threshold of class-aware NMS")
    public static let maxDetections = ConfigKey<Int>("max_detections", default: 100, "detections kept per image")
    public static let textLayers = ConfigKey<Bool>(
      "text_layers", default: true, "with deep fusion, a new BERT layer on the text after each fusion block (GLIP)")
    public static let textHeads = ConfigKey<Int>("text_heads", default: 12, "attention heads of those text layers")
    public static let legacyPlusOne = ConfigKey<Bool>(
      "legacy_plus_one", default: false,
      "maskrcnn-benchmark's +1 box sizes (anchors, box coder, IoU, NMS), for parity with official GLIP checkpoints")
    public static let dyhead = ConfigKey<Bool>(
      "dyhead", default: false, "DyHead conv blocks (deformable convs across levels, scale attention, DyReLU; GLIP)")
    public static let common: [KeyDocumentation] =
      [
        channels.documentation, blocks.documentation, scoreThreshold.documentation, nmsThreshold.documentation,
        maxDetections.documentation, textLayers.documentation, textHeads.documentation, dyhead.documentation,
        legacyPlusOne.documentation,
      ] + ClassifierKeys.all
  }

  /// One tower block: optional fusion, a new BERT layer on the fused text (GLIP, scores clamped to ±50000), then a
  /// conv block applied to every level.
  public final class TowerBlock: Module {
    public let fusion: (any FusionBlock)?
    public let textLayer: BertLayer?
    public let conv: any TowerConv

    init(
      channels: Int, fusion: (any FusionBlock)?, textLayer: BertConfiguration?, dyhead: Bool,
      generator: inout SeededGenerator
    ) {
      self.fusion = fusion
      self.textLayer = textLayer.map { BertLayer($0, scoreClamp: 50000, generator: &generator) }
      conv =
        dyhead
        ? DyHeadConv(channels: channels, generator: &generator)
        : PlainTowerConv(channels: channels, generator: &generator)
      super.init()
      if let fusion { register("fusion", fusion) }
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
    public var legacyPlusOne: Bool

    public init(_ config: ConfigSection) throws {
      channels = try config.read(Keys.channels)
      blocks = try config.read(Keys.blocks)
      scoreThreshold = try config.read(Keys.scoreThreshold)
      nmsThreshold = try config.read(Keys.nmsThreshold)
      maxDetections = try config.read(Keys.maxDetections)
      textLayerHeads = try config.read(Keys.textLayers) ? try config.read(Keys.textHeads) : nil
      dyhead = try config.read(Keys.dyhead)
      legacyPlusOne = try config.read(Keys.legacyPlusOne)
      guard channels > 0 else { throw config.error("channels", "expected a positive width, got \(channels)") }
      guard blocks >= 0 else { throw config.error("blocks", "expected a non-negative count, got \(blocks)") }
    }

    public init(
      channels: Int, blocks: Int, scoreThreshold: Float = 0.05, nmsThreshold: Float = 0.6, maxDetections: Int = 100,
      textLayerHeads: Int? = nil, dyhead: Bool = false, legacyPlusOne: Bool = false
    ) {
      self.textLayerHeads = textLayerHeads
      self.dyhead = dyhead
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
  public let inputProjections: ModuleList<Conv2d>?
  public let tower: ModuleList<TowerBlock>
  public let bboxPred: Conv2d
  /// nil for heads without centerness (RetinaNet).
  public let centernessPred: Conv2d?
  public let scales: [Parameter]
  public let classifier: any RegionClassifier

  public init(
    inputSpecs: [FeatureSpec], settings: Settings, textHidden: Int, fusions: [(any FusionBlock)?]? = nil,
    classifier: (any RegionClassifier)? = nil, centerness: Bool = true, generator: inout SeededGenerator
  ) {
    let channels = settings.channels
    self.inputSpecs = inputSpecs
    self.settings = settings
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
          textLayer: DenseGroundingHead.fuses(fusions?[$0]) ? textConfiguration : nil, dyhead: settings.dyhead,
          generator: &generator)
      })
    bboxPred = Conv2d(channels, 4, kernelSize: 3, padding: 1, generator: &generator)
    centernessPred = centerness ? Conv2d(channels, 1, kernelSize: 3, padding: 1, generator: &generator) : nil
    scales = inputSpecs.map { _ in Parameter(Tensor(shape: [1], values: [1])) }
    self.classifier =
      classifier ?? AlignmentClassifier(regionChannels: channels, textHidden: textHidden, generator: &generator)
    super.init()
    if let inputProjections { register("input_proj", inputProjections) }
    register("tower", tower)
    register("bbox_pred", bboxPred)
    if let centernessPred { register("centerness", centernessPred) }
    let scaleModule = Module()
    for (index, scale) in scales.enumerated() { scaleModule.register("\(index)", scale) }
    register("scales", scaleModule)
    register("classifier", self.classifier)
  }

  /// Reads the shared settings, builds the fusion blocks (before the head's own layers draw from the shared
  /// generator) and the classifier, then calls `make`.
  static func build<Head: DenseGroundingHead>(
    _ config: ConfigSection, context: BuildContext,
    make: (Settings, [(any FusionBlock)?], any RegionClassifier, inout SeededGenerator) -> Head
  ) throws -> Head {
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
    let classifier = try ClassifierKeys.build(config, channels: settings.channels, context: context)
    return make(settings, fusions, classifier, &context.random.generator)
  }

  /// Whether a tower block's fusion actually mixes the modalities (the `none` fusion does not).
  static func fuses(_ fusion: (any FusionBlock)??) -> Bool {
    guard let present = fusion, let block = present else { return false }
    return !(block is NoFusion)
  }

  // MARK: Hooks

  /// The location of index `position` on `level`: a point (x, y, x, y) or an anchor box (x1, y1, x2, y2).
  func reference(level: Int, position: Int, width: Int) -> [Float] { fatalError("subclass responsibility") }

  /// Raw box-branch output (after the level's scale) → the regression values the decoder reads.
  func regressionOutput(_ scaled: Tensor, level: Int) -> Tensor { fatalError("subclass responsibility") }

  /// Decodes regression rows `[P, 4]` at references `[P, 4]` into boxes `[P, 4]` (differentiable in `regression`).
  func decode(_ regression: Tensor, references: Tensor) -> Tensor { fatalError("subclass responsibility") }

  /// The target of every location of every level (levels in order, row-major within a level) for one image.
  func assign(_ target: GroundingTarget, levelSizes: [(height: Int, width: Int)]) -> [LocationTarget] {
    fatalError("subclass responsibility")
  }

  // MARK: Forward

  public func predict(_ levels: [Tensor], text: TextFeatures) -> HeadOutputs {
    precondition(
      levels.count == inputSpecs.count, "\(typeName): expected \(inputSpecs.count) levels, got \(levels.count)")
    var features =
      inputProjections.map { projections in levels.enumerated().map { projections[$0.offset]($0.element) } } ?? levels
    var tokens = text
    for block in tower.modules {
      if let fusion = block.fusion { (features, tokens) = fusion.fuse(image: features, text: tokens) }
      if let textLayer = block.textLayer {
        tokens.hidden = textLayer(tokens.hidden, additiveMask: BertLayer.additiveMask(tokens.mask))
      }
      features = block.conv(features)
    }
    var boxes: [Tensor] = [], centerness: [Tensor] = [], logits: [Tensor] = []
    for (index, feature) in features.enumerated() {
      boxes.append(regressionOutput(bboxPred(feature) * scales[index].value.reshaped([1, 1, 1, 1]), level: index))
      if let centernessPred { centerness.append(centernessPred(feature)) }
      let (batch, channels) = (feature.shape[0], feature.shape[1])
      logits.append(
        classifier(regions: feature.reshaped([batch, channels, -1]).transposed(1, 2), tokens: tokens.hidden))
    }
    return HeadOutputs(boxRegression: boxes, centerness: centerness, logits: logits)
  }

  func levelSizes(_ outputs: HeadOutputs) -> [(height: Int, width: Int)] {
    outputs.boxRegression.map { ($0.shape[2], $0.shape[3]) }
  }

  func references(_ sizes: [(height: Int, width: Int)]) -> [[Float]] {
    sizes.enumerated().flatMap { level, size in
      (0..<(size.height * size.width)).map { reference(level: level, position: $0, width: size.width) }
    }
  }

  // MARK: Loss

  public func loss(_ outputs: HeadOutputs, targets: [GroundingTarget], text: TextFeatures, imageSize: (Int, Int))
    -> [String: Tensor]
  {
    let sizes = levelSizes(outputs)
    let allReferences = references(sizes)
    // Alignment logits run over the prompt's tokens (padding excluded); linear logits over the fixed classes.
    let tokenCount = outputs.logits[0].shape[2]
    let scoresTokens = !(classifier is LinearClassifier)
    var classTargets: [Tensor] = [], classWeights: [Tensor] = []
    var positiveRows: [Int] = [], boxTargets: [Float] = [], positiveReferences: [Float] = [],
      centernessTargets: [Float] = []
    var logits: [Tensor] = [], regressions: [Tensor] = [], centerness: [Tensor] = []
    let locations = allReferences.count
    for (image, target) in targets.enumerated() {
      precondition(
        target.positiveMap.shape.last == tokenCount || target.boxes.isEmpty,
        "\(typeName): positive map \(target.positiveMap.shape) does not match \(tokenCount) logits per location")
      let assigned = assign(target, levelSizes: sizes)
      var rows = [Float](repeating: 0, count: locations * tokenCount)
      let counted = Tensor(shape: [locations, 1], values: assigned.map { $0.ignored ? 0 : 1 })
      for (location, assignment) in assigned.enumerated() where assignment.box >= 0 {
        for token in 0..<tokenCount {
          rows[location * tokenCount + token] = target.positiveMap[flat: assignment.box * tokenCount + token]
        }
        positiveRows.append(image * locations + location)
        boxTargets += target.boxes[assignment.box]
        positiveReferences += allReferences[location]
        centernessTargets.append(assignment.centerness)
      }
      classTargets.append(Tensor(shape: [locations, tokenCount], values: rows))
      let mask =
        scoresTokens
        ? text.mask.slice(axis: 0, start: image, end: image + 1).reshaped([1, tokenCount]) : .ones([1, tokenCount])
      classWeights.append(mask.expanded(to: [locations, tokenCount]) * counted)
      func rowsOf(_ level: Tensor, width: Int) -> Tensor {
        level.slice(axis: 0, start: image, end: image + 1).reshaped([width, -1]).transposed()
      }
      logits += outputs.logits.map { $0.slice(axis: 0, start: image, end: image + 1).reshaped([-1, tokenCount]) }
      regressions += outputs.boxRegression.map { rowsOf($0, width: 4) }
      centerness += outputs.centerness.map { rowsOf($0, width: 1).reshaped([-1]) }
    }
    let positives = Float(max(positiveRows.count, 1))
    let tokenLoss =
      DetectionLoss.sigmoidFocal(
        Tensor.concat(logits, axis: 0), targets: Tensor.concat(classTargets, axis: 0),
        weight: Tensor.concat(classWeights, axis: 0)) / positives
    let allRegressions = Tensor.concat(regressions, axis: 0)
    let allCenterness = centerness.isEmpty ? nil : Tensor.concat(centerness, axis: 0)
    guard !positiveRows.isEmpty else {
      let zero = (allRegressions.sum() + (allCenterness?.sum() ?? Tensor(scalar: 0))) * 0
      var terms = ["loss_tokens": tokenLoss, "loss_giou": zero]
      if allCenterness != nil { terms["loss_centerness"] = zero }
      return terms
    }
    let rows = Tensor(positiveRows.map(Float.init))
    let predicted = decode(
      allRegressions.indexSelect(axis: 0, indices: rows),
      references: Tensor(shape: [positiveRows.count, 4], values: positiveReferences))
    let giou = DetectionLoss.boxGIoU(predicted, Tensor(shape: [positiveRows.count, 4], values: boxTargets))
    guard let allCenterness else {
      return ["loss_tokens": tokenLoss, "loss_giou": giou.sum() / positives * 2]
    }
    let centernessTarget = Tensor(centernessTargets)
    let giouLoss = (giou * centernessTarget).sum() / max(centernessTargets.reduce(0, +), 1e-6) * 2
    let centernessLoss =
      Loss.binaryCrossEntropyWithLogits(
        allCenterness.indexSelect(axis: 0, indices: rows), centernessTarget, reduction: .sum) / positives
    return ["loss_tokens": tokenLoss, "loss_giou": giouLoss, "loss_centerness": centernessLoss]
  }

  // MARK: Inference

  public func detections(_ outputs: HeadOutputs, image index: Int, phrases: [[Int]], imageSize: (Int, Int))
    -> [Detection]
  {
    var boxes: [[Float]] = [], scores: [Float] = [], labels: [Int] = []
    for (level, output) in outputs.boxRegression.enumerated() {
      let (height, width) = (output.shape[2], output.shape[3])
      let area = height * width
      let probabilities = outputs.logits[level].slice(axis: 0, start: index, end: index + 1).sigmoid().scalars
      let tokenCount = outputs.logits[level].shape[2]
      let centerness =
        outputs.centerness.isEmpty
        ? nil : outputs.centerness[level].slice(axis: 0, start: index, end: index + 1).sigmoid().scalars
      var candidates: [(score: Float, position: Int, phrase: Int)] = []
      for position in 0..<area {
        for (phrase, tokens) in phrases.enumerated() where !tokens.isEmpty {
          let phraseScore = tokens.reduce(0) { $0 + probabilities[position * tokenCount + $1] } / Float(tokens.count)
          guard phraseScore > settings.scoreThreshold else { continue }
          candidates.append(
            (centerness.map { (phraseScore * $0[position]).squareRoot() } ?? phraseScore, position, phrase))
        }
      }
      candidates.sort { $0.score > $1.score }
      let kept = Array(candidates.prefix(1000))
      guard !kept.isEmpty else { continue }
      let regression = output.slice(axis: 0, start: index, end: index + 1).reshaped([4, area]).transposed()
        .indexSelect(axis: 0, indices: Tensor(kept.map { Float($0.position) }))
      let references = Tensor(
        shape: [kept.count, 4], values: kept.flatMap { reference(level: level, position: $0.position, width: width) })
      let decoded = decode(regression, references: references).scalars
      for (row, candidate) in kept.enumerated() {
        let box = Array(decoded[(row * 4)..<(row * 4 + 4)])
        boxes.append([
          max(0, min(Float(imageSize.1), box[0])), max(0, min(Float(imageSize.0), box[1])),
          max(0, min(Float(imageSize.1), box[2])), max(0, min(Float(imageSize.0), box[3])),
        ])
        scores.append(candidate.score)
        labels.append(candidate.phrase)
      }
    }
    let kept = BoxOps.batchedNMS(
      boxes: boxes, scores: scores, labels: labels, iouThreshold: settings.nmsThreshold,
      legacyPlusOne: settings.legacyPlusOne)
    return kept.prefix(settings.maxDetections).map {
      Detection(box: boxes[$0], score: scores[$0], phraseIndex: labels[$0])
    }
  }

  override public var hyperParameters: String {
    "levels: \(inputSpecs), blocks: \(tower.count), fusion: \(tower.modules.first?.fusion.map { $0.typeName } ?? "none")"
  }
}
