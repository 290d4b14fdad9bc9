/// How a dense head turns locations into detections: where the locations are, how boxes are coded, which locations
/// are positive in training, and whether it has a centerness branch. The built-in heads (`fcos`, `atss`,
/// `retinanet`) differ only in this.
public struct DenseHeadDesign: Sendable {
  /// The head's name in model summaries (`ATSSHead`).
  public var name: String
  public var locations: any LocationScheme
  public var coder: any BoxCoder
  public var assigner: any TargetAssigner
  public var centerness: Bool

  public init(
    name: String, locations: any LocationScheme, coder: any BoxCoder, assigner: any TargetAssigner, centerness: Bool
  ) {
    self.name = name
    self.locations = locations
    self.coder = coder
    self.assigner = assigner
    self.centerness = centerness
  }
}
