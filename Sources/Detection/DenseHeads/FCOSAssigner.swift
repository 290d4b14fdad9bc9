/// FCOS's assignment: a point is positive for the smallest-area box that contains it whose largest side distance
/// max(l, t, r, b) fits the level's size range: (4s, 8s] for stride s, the first level from 0 and the last unbounded.
public struct FCOSAssigner: TargetAssigner {
  public let strides: [Int]

  public init(strides: [Int]) { self.strides = strides }

  /// The size range of each level.
  public var sizeRanges: [(Float, Float)] {
    strides.enumerated().map { index, stride in
      (index == 0 ? 0 : Float(4 * stride), index == strides.count - 1 ? .infinity : Float(8 * stride))
    }
  }

  public func assign(_ target: GroundingTarget, grid: LocationGrid) -> [LocationTarget] {
    let ranges = sizeRanges
    return grid.levelSizes.indices.flatMap { level in
      grid.locations(ofLevel: level).map { location in
        assign(point: grid.references[location], range: ranges[level], boxes: target.boxes)
      }
    }
  }

  private func assign(point: [Float], range: (Float, Float), boxes: [[Float]]) -> LocationTarget {
    var result = LocationTarget.negative
    var bestArea = Float.infinity
    for (index, box) in boxes.enumerated() {
      let ltrb = [point[0] - box[0], point[1] - box[1], box[2] - point[0], box[3] - point[1]]
      guard ltrb.min()! > 0 else { continue }
      let extent = ltrb.max()!
      guard extent > range.0 && extent <= range.1 else { continue }
      let area = BoxOps.area(box)
      if area < bestArea {
        bestArea = area
        result = LocationTarget(box: index, centerness: LocationTarget.centerness(ltrb))
      }
    }
    return result
  }
}
