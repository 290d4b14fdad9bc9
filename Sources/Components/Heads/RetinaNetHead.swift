import Config
import Detection

/// RetinaNet-style head: one square anchor per location (side `anchor_scale` · stride, the base scale of
/// RetinaNet's octave), `IoUBandAssigner` (positive from `positive_iou`, ignored down to `negative_iou`, each box's
/// best anchor kept), deltas with weights (1, 1, 1, 1), and no centerness branch, so inference scores are the phrase
/// scores themselves.
public enum RetinaNetHead {
  public enum Keys {
    public static let anchorScale = ConfigKey<Float>("anchor_scale", default: 4, "anchor side in strides")
    public static let positiveIoU = ConfigKey<Float>(
      "positive_iou", default: 0.5, "IoU from which an anchor is positive")
    public static let negativeIoU = ConfigKey<Float>(
      "negative_iou", default: 0.4, "IoU below which an anchor is negative")
  }

  public static let keys =
    DenseGroundingHead.Keys.common + [
      Keys.anchorScale.documentation, Keys.positiveIoU.documentation, Keys.negativeIoU.documentation,
    ]

  /// The design over levels of `strides`.
  public static func design(
    strides: [Int], anchorScale: Float = 4, positiveIoU: Float = 0.5, negativeIoU: Float = 0.4,
    legacyPlusOne: Bool = false
  ) -> DenseHeadDesign {
    DenseHeadDesign(
      name: "RetinaNetHead",
      locations: SquareAnchors(strides: strides, scale: anchorScale, legacyPlusOne: legacyPlusOne),
      coder: DeltaBoxCoder(weights: [1, 1, 1, 1], legacyPlusOne: legacyPlusOne),
      assigner: IoUBandAssigner(positiveIoU: positiveIoU, negativeIoU: negativeIoU, legacyPlusOne: legacyPlusOne),
      centerness: false)
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> DenseGroundingHead {
    let scale = try config.read(Keys.anchorScale)
    let (positive, negative) = (try config.read(Keys.positiveIoU), try config.read(Keys.negativeIoU))
    guard scale > 0 else { throw config.error("anchor_scale", "expected a positive scale, got \(scale)") }
    guard negative <= positive, (0...1).contains(positive), (0...1).contains(negative) else {
      throw config.error(
        "negative_iou", "expected 0 ≤ negative_iou ≤ positive_iou ≤ 1, got \(negative) and \(positive)")
    }
    return try DenseGroundingHead.build(config, context: context) { settings in
      design(
        strides: context.inputSpecs.map(\.stride), anchorScale: scale, positiveIoU: positive, negativeIoU: negative,
        legacyPlusOne: settings.legacyPlusOne)
    }
  }
}
