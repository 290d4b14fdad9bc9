/// One square anchor per cell, of side `scale` strides, centred at `(i·stride, j·stride)` as torchvision's anchor
/// generator places it (ATSS, RetinaNet). Legacy anchors (maskrcnn-benchmark, GLIP's checkpoints) are centred at
/// `(i·stride + (stride − 1)/2, …)` with half extent `(side − 1)/2`.
public struct SquareAnchors: LocationScheme {
  public let strides: [Int]
  public let scale: Float
  public let legacyPlusOne: Bool

  public init(strides: [Int], scale: Float, legacyPlusOne: Bool = false) {
    self.strides = strides
    self.scale = scale
    self.legacyPlusOne = legacyPlusOne
  }

  public func reference(level: Int, position: Int, width: Int) -> [Float] {
    let stride = Float(strides[level])
    let offset: Float = legacyPlusOne ? (stride - 1) / 2 : 0
    let (x, y) = (Float(position % width) * stride + offset, Float(position / width) * stride + offset)
    let half = legacyPlusOne ? (scale * stride - 1) / 2 : scale * stride / 2
    return [x - half, y - half, x + half, y + half]
  }
}
