/// What a dense head assigns to one location of one image: the box it regresses to (or −1), and the centerness
/// target of that location for that box.
public struct LocationTarget: Equatable, Sendable {
  public var box: Int
  public var centerness: Float
  /// Neither positive nor negative: left out of the classification loss (RetinaNet's IoU band).
  public var ignored = false

  public init(box: Int, centerness: Float, ignored: Bool = false) {
    self.box = box
    self.centerness = centerness
    self.ignored = ignored
  }

  /// A negative location: no box, classification target 0.
  public static let negative = LocationTarget(box: -1, centerness: 0)

  /// FCOS centerness of a location's (l, t, r, b) distances to its box: √(min(l,r)/max(l,r) · min(t,b)/max(t,b)).
  public static func centerness(_ ltrb: [Float]) -> Float {
    let horizontal = min(ltrb[0], ltrb[2]) / max(ltrb[0], ltrb[2])
    let vertical = min(ltrb[1], ltrb[3]) / max(ltrb[1], ltrb[3])
    return (horizontal * vertical).squareRoot()
  }
}
