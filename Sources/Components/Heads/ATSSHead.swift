import Config
import Detection

/// ATSS, GLIP's head: one square anchor per location (side `anchor_scale` · stride), `ATSSAssigner` (the `top_k`
/// nearest anchors per level, IoU threshold mean + std, centre inside the box), deltas with weights (10, 10, 5, 5)
/// and a centerness branch.
public enum ATSSHead {
  public enum Keys {
    public static let topK = ConfigKey<Int>("top_k", default: 9, "candidate anchors per level and box")
    public static let anchorScale = ConfigKey<Float>("anchor_scale", default: 8, "anchor side in strides")
  }

  public static let keys =
    DenseGroundingHead.Keys.common + [Keys.topK.documentation, Keys.anchorScale.documentation]
  public static let weights: [Float] = [10, 10, 5, 5]

  /// The design over levels of `strides`.
  public static func design(strides: [Int], topK: Int = 9, anchorScale: Float = 8, legacyPlusOne: Bool = false)
    -> DenseHeadDesign
  {
    DenseHeadDesign(
      name: "ATSSHead", locations: SquareAnchors(strides: strides, scale: anchorScale, legacyPlusOne: legacyPlusOne),
      coder: DeltaBoxCoder(weights: weights, legacyPlusOne: legacyPlusOne),
      assigner: ATSSAssigner(topK: topK, legacyPlusOne: legacyPlusOne), centerness: true)
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> DenseGroundingHead {
    let topK = try config.read(Keys.topK), scale = try config.read(Keys.anchorScale)
    guard topK > 0 else { throw config.error("top_k", "expected a positive count, got \(topK)") }
    guard scale > 0 else { throw config.error("anchor_scale", "expected a positive scale, got \(scale)") }
    return try DenseGroundingHead.build(config, context: context) { settings in
      design(
        strides: context.inputSpecs.map(\.stride), topK: topK, anchorScale: scale,
        legacyPlusOne: settings.legacyPlusOne)
    }
  }
}
