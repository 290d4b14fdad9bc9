import Config
import Detection

/// FCOS: every location is a point (`GridPoints`), `FCOSAssigner` (the smallest box containing it within the
/// level's size range), distances (l, t, r, b) regressed as exp(scale · x) · stride (`DistanceBoxCoder`), and a
/// centerness branch.
public enum FCOSHead {
  public static let keys = DenseGroundingHead.Keys.common

  /// The design over levels of `strides`.
  public static func design(strides: [Int]) -> DenseHeadDesign {
    DenseHeadDesign(
      name: "FCOSHead", locations: GridPoints(strides: strides), coder: DistanceBoxCoder(strides: strides),
      assigner: FCOSAssigner(strides: strides), centerness: true)
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> DenseGroundingHead {
    try DenseGroundingHead.build(config, context: context) { _ in design(strides: context.inputSpecs.map(\.stride)) }
  }
}
