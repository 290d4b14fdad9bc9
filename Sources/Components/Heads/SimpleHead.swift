import Config
import Detection
import Foundation
import NN
import TensorCore

/// A small FCOS-style grounding head: a shared tower (fusion block + 3×3 conv + GroupNorm + ReLU per block), box
/// regression with a learnable scale per level, centerness, and GLIP's alignment classifier over prompt tokens.
///
/// Training: points inside the smallest containing box whose extent fits the level (FCOS ranges); token focal loss,
/// GIoU weighted by centerness targets, and centerness BCE. Inference: mean token probability per phrase, times
/// centerness, square root; top 1000 per level above 0.05, class-aware NMS at 0.6, 100 per image.
public final class SimpleHead: Module, DenseHead {
  public enum Keys {
    public static let channels = ConfigKey<Int>("channels", default: 64, "width of the tower")
    public static let blocks = ConfigKey<Int>(
      "blocks", default: 2, "tower blocks (each holds one fusion block when fusion is deep)")
    public static let scoreThreshold = ConfigKey<Float>(
      "score_threshold", default: 0.05, "minimum phrase score kept at inference")
    public static let nmsThreshold = ConfigKey<Float>("nms_threshold", default: 0.6, "IoU threshold of class-aware NMS")
    public static let maxDetections = ConfigKey<Int>("max_detections", default: 100, "detections kept per image")
    public static let all: [KeyDocumentation] =
      [
        channels.documentation, blocks.documentation, scoreThreshold.documentation, nmsThreshold.documentation,
        maxDetections.documentation,
      ] + ClassifierKeys.all
  }

  /// One tower block: optional fusion, then a conv block applied to every level.
  public final class TowerBlock: Module {
    public let fusion: (any FusionBlock)?
    public let conv: Sequential

    init(channels: Int, fusion: (any FusionBlock)?, generator: inout SeededGenerator) {
      self.fusion = fusion
      conv = Sequential([
        Conv2d(channels, channels, kernelSize: 3, padding: 1, generator: &generator),
        GroupNorm(groups: channels % 16 == 0 ? 16 : 1, channels: channels), Activation(.relu),
      ])
      super.init()
      if let fusion { register("fusion", fusion) }
      register("conv", conv)
    }
  }

  public let inputSpecs: [FeatureSpec]
  public let inputProjections: ModuleList<Conv2d>?
  public let tower: ModuleList<TowerBlock>
  public let bboxPred: Conv2d
  public let centernessPred: Conv2d
  public let scales: [Parameter]
  public let classifier: any RegionClassifier
  public let scoreThreshold: Float
  public let nmsThreshold: Float
  public let maxDetections: Int

  public init(
    inputSpecs: [FeatureSpec], channels: Int, blocks: Int, textHidden: Int,
    fusions: [(any FusionBlock)?]? = nil, classifier: (any RegionClassifier)? = nil, scoreThreshold: Float = 0.05,
    nmsThreshold: Float = 0.6, maxDetections: Int = 100, generator: inout SeededGenerator
  ) {
    self.inputSpecs = inputSpecs
    if inputSpecs.allSatisfy({ $0.channels == channels }) {
      inputProjections = nil
    } else {
      inputProjections = ModuleList(
        inputSpecs.map { Conv2d($0.channels, channels, kernelSize: 1, generator: &generator) })
    }
    var blocksBuilt: [TowerBlock] = []
    for index in 0..<blocks {
      blocksBuilt.append(TowerBlock(channels: channels, fusion: fusions?[index], generator: &generator))
    }
    tower = ModuleList(blocksBuilt)
    bboxPred = Conv2d(channels, 4, kernelSize: 3, padding: 1, generator: &generator)
    centernessPred = Conv2d(channels, 1, kernelSize: 3, padding: 1, generator: &generator)
    scales = inputSpecs.map { _ in Parameter(Tensor(shape: [1], values: [1])) }
    self.classifier =
      classifier ?? AlignmentClassifier(regionChannels: channels, textHidden: textHidden, generator: &generator)
    self.scoreThreshold = scoreThreshold
    self.nmsThreshold = nmsThreshold
    self.maxDetections = maxDetections
    super.init()
    if let inputProjections { register("input_proj", inputProjections) }
    register("tower", tower)
    register("bbox_pred", bboxPred)
    register("centerness", centernessPred)
    let scaleModule = Module()
    for (index, scale) in scales.enumerated() { scaleModule.register("\(index)", scale) }
    register("scales", scaleModule)
    register("classifier", self.classifier)
  }

  public convenience init(config: ConfigSection, context: BuildContext) throws {
    guard !context.inputSpecs.isEmpty else { throw ConfigError("head: no input feature levels", at: config.node?.mark) }
    let channels = try config.read(Keys.channels), blocks = try config.read(Keys.blocks)
    guard channels > 0 else { throw config.error("channels", "expected a positive width, got \(channels)") }
    guard blocks >= 0 else { throw config.error("blocks", "expected a non-negative count, got \(blocks)") }
    // Fusion blocks draw from the shared generator too, so they are built before the head's own layers.
    let fusions = try (0..<blocks).map { _ in try context.makeFusion?(blocks) }
    let classifier = try ClassifierKeys.build(config, channels: channels, context: context)
    self.init(
      inputSpecs: context.inputSpecs, channels: channels, blocks: blocks, textHidden: context.textHiddenSize,
      fusions: fusions, classifier: classifier, scoreThreshold: try config.read(Keys.scoreThreshold),
      nmsThreshold: try config.read(Keys.nmsThreshold), maxDetections: try config.read(Keys.maxDetections),
      generator: &context.random.generator)
  }

  // MARK: Forward

  public func predict(_ levels: [Tensor], text: TextFeatures) -> HeadOutputs {
    precondition(
      levels.count == inputSpecs.count, "simple head: expected \(inputSpecs.count) levels, got \(levels.count)")
    var features =
      inputProjections.map { projections in levels.enumerated().map { projections[$0.offset]($0.element) } } ?? levels
    var tokens = text
    for block in tower.modules {
      if let fusion = block.fusion { (features, tokens) = fusion.fuse(image: features, text: tokens) }
      features = features.map { block.conv($0) }
    }
    var boxes: [Tensor] = [], centerness: [Tensor] = [], logits: [Tensor] = []
    for (index, feature) in features.enumerated() {
      let stride = Float(inputSpecs[index].stride)
      boxes.append((bboxPred(feature) * scales[index].value.reshaped([1, 1, 1, 1])).clamp(max: 10).exp() * stride)
      centerness.append(centernessPred(feature))
      let (batch, channels) = (feature.shape[0], feature.shape[1])
      let regions = feature.reshaped([batch, channels, -1]).transposed(1, 2)
      logits.append(classifier(regions: regions, tokens: tokens.hidden))
    }
    return HeadOutputs(boxRegression: boxes, centerness: centerness, logits: logits)
  }

  // MARK: Loss

  public func loss(_ outputs: HeadOutputs, targets: [GroundingTarget], text: TextFeatures, imageSize: (Int, Int))
    -> [String: Tensor]
  {
    let ranges = PointAssigner.sizeRanges(strides: inputSpecs.map(\.stride))
    // Alignment logits run over the prompt's tokens (padding excluded); linear logits over the fixed classes.
    let tokenCount = outputs.logits[0].shape[2]
    let scoresTokens = !(classifier is LinearClassifier)
    var classTargets: [Tensor] = [], classWeights: [Tensor] = []
    var positiveRows: [Int] = [], regressionTargets: [Float] = [], centernessTargets: [Float] = []
    var flatOffset = 0
    var allLogits: [Tensor] = [], allBoxes: [Tensor] = [], allCenterness: [Tensor] = []
    for (image, target) in targets.enumerated() {
      let tokenMask =
        scoresTokens
        ? text.mask.slice(axis: 0, start: image, end: image + 1).reshaped([1, tokenCount]) : .ones([1, tokenCount])
      for (level, spec) in inputSpecs.enumerated() {
        let (height, width) = (outputs.boxRegression[level].shape[2], outputs.boxRegression[level].shape[3])
        let points = PointAssigner.points(height: height, width: width, stride: spec.stride)
        let (assigned, ltrb) = PointAssigner.assign(points: points, range: ranges[level], boxes: target.boxes)
        var rows = [Float](repeating: 0, count: points.count * tokenCount)
        for (position, box) in assigned.enumerated() where box >= 0 {
          for token in 0..<tokenCount {
            rows[position * tokenCount + token] = target.positiveMap[flat: box * tokenCount + token]
          }
          positiveRows.append(flatOffset + position)
          regressionTargets += ltrb[position]
          centernessTargets.append(PointAssigner.centerness(ltrb[position]))
        }
        classTargets.append(Tensor(shape: [points.count, tokenCount], values: rows))
        classWeights.append(tokenMask.expanded(to: [points.count, tokenCount]))
        allLogits.append(outputs.logits[level].slice(axis: 0, start: image, end: image + 1).reshaped([-1, tokenCount]))
        allBoxes.append(
          outputs.boxRegression[level].slice(axis: 0, start: image, end: image + 1).reshaped([4, -1]).transposed())
        allCenterness.append(outputs.centerness[level].slice(axis: 0, start: image, end: image + 1).reshaped([-1]))
        flatOffset += points.count
      }
    }
    let positives = Float(max(positiveRows.count, 1))
    let logits = Tensor.concat(allLogits, axis: 0)
    let tokenLoss =
      DetectionLoss.sigmoidFocal(
        logits, targets: Tensor.concat(classTargets, axis: 0), weight: Tensor.concat(classWeights, axis: 0)) / positives
    guard !positiveRows.isEmpty else {
      let zero = (Tensor.concat(allBoxes, axis: 0).sum() + Tensor.concat(allCenterness, axis: 0).sum()) * 0
      return ["loss_tokens": tokenLoss, "loss_giou": zero, "loss_centerness": zero]
    }
    let rowIndices = Tensor(positiveRows.map(Float.init))
    let predictedBoxes = Tensor.concat(allBoxes, axis: 0).indexSelect(axis: 0, indices: rowIndices)
    let predictedCenterness = Tensor.concat(allCenterness, axis: 0).indexSelect(axis: 0, indices: rowIndices)
    let centernessTarget = Tensor(centernessTargets)
    let giou = DetectionLoss.giou(
      predicted: predictedBoxes, target: Tensor(shape: [positiveRows.count, 4], values: regressionTargets))
    let giouLoss = (giou * centernessTarget).sum() / max(centernessTargets.reduce(0, +), 1e-6) * 2
    let centernessLoss =
      Loss.binaryCrossEntropyWithLogits(predictedCenterness, centernessTarget, reduction: .sum) / positives
    return ["loss_tokens": tokenLoss, "loss_giou": giouLoss, "loss_centerness": centernessLoss]
  }

  // MARK: Inference

  public func detections(_ outputs: HeadOutputs, image index: Int, phrases: [[Int]], imageSize: (Int, Int))
    -> [Detection]
  {
    var boxes: [[Float]] = [], scores: [Float] = [], labels: [Int] = []
    for (level, spec) in inputSpecs.enumerated() {
      let (height, width) = (outputs.boxRegression[level].shape[2], outputs.boxRegression[level].shape[3])
      let points = PointAssigner.points(height: height, width: width, stride: spec.stride)
      let probabilities = outputs.logits[level].slice(axis: 0, start: index, end: index + 1).sigmoid().scalars
      let tokenCount = outputs.logits[level].shape[2]
      let centerness = outputs.centerness[level].slice(axis: 0, start: index, end: index + 1).sigmoid().scalars
      let regression = outputs.boxRegression[level].slice(axis: 0, start: index, end: index + 1).scalars
      var candidates: [(score: Float, position: Int, phrase: Int)] = []
      for position in 0..<points.count {
        for (phrase, tokens) in phrases.enumerated() where !tokens.isEmpty {
          let phraseScore = tokens.reduce(0) { $0 + probabilities[position * tokenCount + $1] } / Float(tokens.count)
          guard phraseScore > scoreThreshold else { continue }
          candidates.append(((phraseScore * centerness[position]).squareRoot(), position, phrase))
        }
      }
      candidates.sort { $0.score > $1.score }
      let area = points.count
      for candidate in candidates.prefix(1000) {
        let point = points[candidate.position]
        let ltrb = (0..<4).map { regression[$0 * area + candidate.position] }
        boxes.append([
          max(0, min(Float(imageSize.1), point.x - ltrb[0])), max(0, min(Float(imageSize.0), point.y - ltrb[1])),
          max(0, min(Float(imageSize.1), point.x + ltrb[2])), max(0, min(Float(imageSize.0), point.y + ltrb[3])),
        ])
        scores.append(candidate.score)
        labels.append(candidate.phrase)
      }
    }
    let kept = BoxOps.batchedNMS(boxes: boxes, scores: scores, labels: labels, iouThreshold: nmsThreshold)
    return kept.prefix(maxDetections).map { Detection(box: boxes[$0], score: scores[$0], phrase: labels[$0]) }
  }

  override public var hyperParameters: String {
    "levels: \(inputSpecs), blocks: \(tower.count), fusion: \(tower.modules.first?.fusion.map { $0.typeName } ?? "none")"
  }
}
