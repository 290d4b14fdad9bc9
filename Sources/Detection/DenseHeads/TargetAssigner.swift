/// Which locations of a dense head are positive for which box of an image (FCOS, ATSS, IoU bands, …).
public protocol TargetAssigner: Sendable {
  /// The target of every location of `grid` for one image (`LocationTarget.negative` where none).
  func assign(_ target: GroundingTarget, grid: LocationGrid) -> [LocationTarget]
}
