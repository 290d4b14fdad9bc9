import Config
import Detection
import Foundation
import NN
import TensorCore

/// ATSS, GLIP's head: one square anchor per location (side 8 · stride, centred at i · stride as torchvision's anchor
/// generator places it); for each box the 9 anchors nearest its centre on every level are candidates, the IoU
/// threshold is their mean + standard deviation, positives must also have their centre inside the box, and an anchor
/// claimed by several boxes goes to the one it overlaps most. Boxes are encoded as deltas with weights (10, 10, 5, 5),
/// width and height deltas clamped at log(1000/16).
public final class ATSSHead: DenseGroundingHead {
  public enum ATSSKeys {
    public static let topK = ConfigKey<Int>("top_k", default: 9, "candidate anchors per level and box")
    public static let anchorScale = ConfigKey<Float>("anchor_scale", default: 8, "anchor side in strides")
  }

  public static let keys =
    DenseGroundingHead.Keys.common + [ATSSKeys.topK.documentation, ATSSKeys.anchorScale.documentation]
  static let weights: [Float] = [10, 10, 5, 5]
  var coder: DeltaBoxCoder { DeltaBoxCoder(weights: ATSSHead.weights, legacyPlusOne: settings.legacyPlusOne) }

  public let topK: Int
  public let anchorScale: Float

  public init(
    inputSpecs: [FeatureSpec], settings: Settings, textHidden: Int, fusions: [(any FusionBlock)?]? = nil,
    classifier: (any RegionClassifier)? = nil, topK: Int = 9, anchorScale: Float = 8, generator: inout SeededGenerator
  ) {
    self.topK = topK
    self.anchorScale = anchorScale
    super.init(
      inputSpecs: inputSpecs, settings: settings, textHidden: textHidden, fusions: fusions, classifier: classifier,
      generator: &generator)
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> ATSSHead {
    let topK = try config.read(ATSSKeys.topK), scale = try config.read(ATSSKeys.anchorScale)
    guard topK > 0 else { throw config.error("top_k", "expected a positive count, got \(topK)") }
    guard scale > 0 else { throw config.error("anchor_scale", "expected a positive scale, got \(scale)") }
    return try DenseGroundingHead.build(config, context: context) { settings, fusions, classifier, generator in
      ATSSHead(
        inputSpecs: context.inputSpecs, settings: settings, textHidden: context.textHiddenSize, fusions: fusions,
        classifier: classifier, topK: topK, anchorScale: scale, generator: &generator)
    }
  }

  override func reference(level: Int, position: Int, width: Int) -> [Float] {
    coder.squareAnchor(position: position, width: width, stride: inputSpecs[level].stride, scale: anchorScale)
  }

  override func regressionOutput(_ scaled: Tensor, level: Int) -> Tensor { scaled }

  /// Box-coder decoding of deltas `[P, 4]` at anchors `[P, 4]`.
  override func decode(_ regression: Tensor, references: Tensor) -> Tensor {
    coder.decode(regression, anchors: references)
  }

  static func encode(_ box: [Float], anchor: [Float]) -> [Float] {
    DeltaBoxCoder(weights: weights).encode(box, anchor: anchor)
  }

  override func assign(_ target: GroundingTarget, levelSizes: [(height: Int, width: Int)]) -> [LocationTarget] {
    let anchors = references(levelSizes)
    var result = [LocationTarget](repeating: LocationTarget(box: -1, centerness: 0), count: anchors.count)
    guard !target.boxes.isEmpty else { return result }
    var levelStarts: [Int] = []
    var start = 0
    for size in levelSizes {
      levelStarts.append(start)
      start += size.height * size.width
    }
    var bestIoU = [Float](repeating: -1, count: anchors.count)
    for (boxIndex, box) in target.boxes.enumerated() {
      let centreX: Float = (box[0] + box[2]) / 2, centreY: Float = (box[1] + box[3]) / 2
      var candidates: [Int] = []
      for (level, size) in levelSizes.enumerated() {
        let range = levelStarts[level]..<(levelStarts[level] + size.height * size.width)
        var distances: [(index: Int, distance: Float)] = []
        for index in range {
          let anchor = anchors[index]
          let x: Float = (anchor[0] + anchor[2]) / 2 - centreX
          let y: Float = (anchor[1] + anchor[3]) / 2 - centreY
          distances.append((index, x * x + y * y))
        }
        distances.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.index < $1.index }
        candidates += distances.prefix(topK).map(\.index)
      }
      let ious = candidates.map { BoxOps.iou(anchors[$0], box, legacyPlusOne: settings.legacyPlusOne) }
      let mean = ious.reduce(0, +) / Float(ious.count)
      let variance = ious.count > 1 ? ious.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(ious.count - 1) : 0
      let threshold = mean + variance.squareRoot()
      for (candidate, iou) in zip(candidates, ious) where iou >= threshold {
        let anchor = anchors[candidate]
        let x: Float = (anchor[0] + anchor[2]) / 2, y: Float = (anchor[1] + anchor[3]) / 2
        let distances: [Float] = [x - box[0], y - box[1], box[2] - x, box[3] - y]
        guard distances.min()! > 0.01, iou > bestIoU[candidate] else { continue }
        bestIoU[candidate] = iou
        result[candidate] = LocationTarget(box: boxIndex, centerness: PointAssigner.centerness(distances))
      }
    }
    return result
  }
}

extension ATSSHead {
  /// Test access to the assignment and the box coder.
  public func assignForTesting(_ target: GroundingTarget, levelSizes: [(height: Int, width: Int)]) -> [LocationTarget] {
    assign(target, levelSizes: levelSizes)
  }

  public func decodeForTesting(_ regression: Tensor, references: Tensor) -> Tensor {
    decode(regression, references: references)
  }

  public static func encodeForTesting(_ box: [Float], anchor: [Float]) -> [Float] { encode(box, anchor: anchor) }
}

extension ATSSHead {
  /// Test access to the anchor of a location.
  public func referenceForTesting(level: Int, position: Int, width: Int) -> [Float] {
    reference(level: level, position: position, width: width)
  }
}
