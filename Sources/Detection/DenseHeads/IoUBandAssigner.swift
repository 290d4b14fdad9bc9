/// RetinaNet's assignment: an anchor is positive for its best box at IoU ≥ `positiveIoU`, negative below
/// `negativeIoU`, and ignored in between; every box also keeps its best anchors (all that tie) positive, even under
/// the positive threshold. Centerness targets are 1 (RetinaNet has no centerness branch).
public struct IoUBandAssigner: TargetAssigner {
  public let positiveIoU: Float
  public let negativeIoU: Float
  public let legacyPlusOne: Bool

  public init(positiveIoU: Float = 0.5, negativeIoU: Float = 0.4, legacyPlusOne: Bool = false) {
    self.positiveIoU = positiveIoU
    self.negativeIoU = negativeIoU
    self.legacyPlusOne = legacyPlusOne
  }

  public func assign(_ target: GroundingTarget, grid: LocationGrid) -> [LocationTarget] {
    let anchors = grid.references
    guard !target.boxes.isEmpty else { return anchors.map { _ in .negative } }
    var best = anchors.map { anchor in
      target.boxes.enumerated().map {
        ($0.offset, BoxOps.iou(anchor, $0.element, legacyPlusOne: legacyPlusOne))
      }.max { $0.1 < $1.1 }!
    }
    for (boxIndex, box) in target.boxes.enumerated() {
      let ious = anchors.map { BoxOps.iou($0, box, legacyPlusOne: legacyPlusOne) }
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
