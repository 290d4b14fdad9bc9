/// ATSS's adaptive assignment: for each box the `topK` anchors nearest its centre on every level are candidates,
/// the IoU threshold is their mean + standard deviation (unbiased), positives must also have their centre more than
/// 0.01 px inside the box, and an anchor claimed by several boxes goes to the one it overlaps most. The centerness
/// target is FCOS's, from the anchor centre.
public struct ATSSAssigner: TargetAssigner {
  public let topK: Int
  public let legacyPlusOne: Bool

  public init(topK: Int = 9, legacyPlusOne: Bool = false) {
    self.topK = topK
    self.legacyPlusOne = legacyPlusOne
  }

  public func assign(_ target: GroundingTarget, grid: LocationGrid) -> [LocationTarget] {
    let anchors = grid.references
    var result = [LocationTarget](repeating: .negative, count: anchors.count)
    guard !target.boxes.isEmpty else { return result }
    var bestIoU = [Float](repeating: -1, count: anchors.count)
    for (boxIndex, box) in target.boxes.enumerated() {
      let candidates = nearestAnchors(to: box, grid: grid)
      let ious = candidates.map { BoxOps.iou(anchors[$0], box, legacyPlusOne: legacyPlusOne) }
      let threshold = ATSSAssigner.adaptiveThreshold(ious)
      for (candidate, iou) in zip(candidates, ious) where iou >= threshold {
        let anchor = anchors[candidate]
        let x: Float = (anchor[0] + anchor[2]) / 2, y: Float = (anchor[1] + anchor[3]) / 2
        let distances: [Float] = [x - box[0], y - box[1], box[2] - x, box[3] - y]
        guard distances.min()! > 0.01, iou > bestIoU[candidate] else { continue }
        bestIoU[candidate] = iou
        result[candidate] = LocationTarget(box: boxIndex, centerness: LocationTarget.centerness(distances))
      }
    }
    return result
  }

  /// The `topK` anchors of each level whose centres are nearest the box centre (ties by index), levels in order.
  func nearestAnchors(to box: [Float], grid: LocationGrid) -> [Int] {
    let centreX: Float = (box[0] + box[2]) / 2, centreY: Float = (box[1] + box[3]) / 2
    var candidates: [Int] = []
    for level in grid.levelSizes.indices {
      var distances: [(index: Int, distance: Float)] = []
      for index in grid.locations(ofLevel: level) {
        let anchor = grid.references[index]
        let x: Float = (anchor[0] + anchor[2]) / 2 - centreX
        let y: Float = (anchor[1] + anchor[3]) / 2 - centreY
        distances.append((index, x * x + y * y))
      }
      distances.sort { $0.distance != $1.distance ? $0.distance < $1.distance : $0.index < $1.index }
      candidates += distances.prefix(topK).map(\.index)
    }
    return candidates
  }

  /// Mean + unbiased standard deviation of the candidates' IoUs.
  static func adaptiveThreshold(_ ious: [Float]) -> Float {
    let mean = ious.reduce(0, +) / Float(ious.count)
    let variance = ious.count > 1 ? ious.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(ious.count - 1) : 0
    return mean + variance.squareRoot()
  }
}
