import Config
import Detection
import Foundation
import NN
import TensorCore

/// RetinaNet-style head: one square anchor per location (side `anchor_scale` · stride, the base scale of RetinaNet's
/// octave), positives at IoU ≥ 0.5, negatives below 0.4, the band between left out of the classification loss, and
/// each box's best anchor kept positive; deltas with weights (1, 1, 1, 1); no centerness branch, so inference scores
/// are the phrase scores themselves.
public final class RetinaNetHead: DenseGroundingHead {
  public enum RetinaKeys {
    public static let anchorScale = ConfigKey<Float>("anchor_scale", default: 4, "anchor side in strides")
    public static let positiveIoU = ConfigKey<Float>(
      "positive_iou", default: 0.5, "IoU from which an anchor is positive")
    public static let negativeIoU = ConfigKey<Float>(
      "negative_iou", default: 0.4, "IoU below which an anchor is negative")
  }

  public static let keys =
    DenseGroundingHead.Keys.common + [
      RetinaKeys.anchorScale.documentation, RetinaKeys.positiveIoU.documentation, RetinaKeys.negativeIoU.documentation,
    ]
  static let weights: [Float] = [1, 1, 1, 1]
  var coder: DeltaBoxCoder { DeltaBoxCoder(weights: RetinaNetHead.weights, legacyPlusOne: settings.legacyPlusOne) }

  public let anchorScale: Float
  public let positiveIoU: Float
  public let negativeIoU: Float

  public init(
    inputSpecs: [FeatureSpec], settings: Settings, textHidden: Int, fusions: [(any FusionBlock)?]? = nil,
    classifier: (any RegionClassifier)? = nil, anchorScale: Float = 4, positiveIoU: Float = 0.5,
    negativeIoU: Float = 0.4, generator: inout SeededGenerator
  ) {
    self.anchorScale = anchorScale
    self.positiveIoU = positiveIoU
    self.negativeIoU = negativeIoU
    super.init(
      inputSpecs: inputSpecs, settings: settings, textHidden: textHidden, fusions: fusions, classifier: classifier,
      centerness: false, generator: &generator)
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> RetinaNetHead {
    let scale = try config.read(RetinaKeys.anchorScale)
    let (positive, negative) = (try config.read(RetinaKeys.positiveIoU), try config.read(RetinaKeys.negativeIoU))
    guard scale > 0 else { throw config.error("anchor_scale", "expected a positive scale, got \(scale)") }
    guard negative <= positive, (0...1).contains(positive), (0...1).contains(negative) else {
      throw config.error(
        "negative_iou", "expected 0 ≤ negative_iou ≤ positive_iou ≤ 1, got \(negative) and \(positive)")
    }
    return try DenseGroundingHead.build(config, context: context) { settings, fusions, classifier, generator in
      RetinaNetHead(
        inputSpecs: context.inputSpecs, settings: settings, textHidden: context.textHiddenSize, fusions: fusions,
        classifier: classifier, anchorScale: scale, positiveIoU: positive, negativeIoU: negative, generator: &generator)
    }
  }

  override func reference(level: Int, position: Int, width: Int) -> [Float] {
    coder.squareAnchor(position: position, width: width, stride: inputSpecs[level].stride, scale: anchorScale)
  }

  override func regressionOutput(_ scaled: Tensor, level: Int) -> Tensor { scaled }

  override func decode(_ regression: Tensor, references: Tensor) -> Tensor {
    coder.decode(regression, anchors: references)
  }

  override func assign(_ target: GroundingTarget, levelSizes: [(height: Int, width: Int)]) -> [LocationTarget] {
    let anchors = references(levelSizes)
    guard !target.boxes.isEmpty else { return anchors.map { _ in LocationTarget(box: -1, centerness: 0) } }
    var best = anchors.map { anchor in
      target.boxes.enumerated().map {
        ($0.offset, BoxOps.iou(anchor, $0.element, legacyPlusOne: settings.legacyPlusOne))
      }.max { $0.1 < $1.1 }!
    }
    // Low-quality matches: every box keeps its best anchor, even under the positive threshold.
    for (boxIndex, box) in target.boxes.enumerated() {
      let ious = anchors.map { BoxOps.iou($0, box, legacyPlusOne: settings.legacyPlusOne) }
      guard let top = ious.max(), top > 0 else { continue }
      for (anchorIndex, iou) in ious.enumerated() where iou == top {
        best[anchorIndex] = (boxIndex, max(iou, positiveIoU))
      }
    }
    return best.map { boxIndex, iou in
      iou >= positiveIoU
        ? LocationTarget(box: boxIndex, centerness: 1)
        : LocationTarget(box: -1, centerness: 0, ignored: iou >= negativeIoU)
    }
  }
}

extension RetinaNetHead {
  /// Test access to the assignment.
  public func assignForTesting(_ target: GroundingTarget, levelSizes: [(height: Int, width: Int)]) -> [LocationTarget] {
    assign(target, levelSizes: levelSizes)
  }
}
