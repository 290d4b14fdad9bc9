/// FCOS's locations: the centre of every cell, `(i·stride + stride/2, j·stride + stride/2)`, as a point.
public struct GridPoints: LocationScheme {
  public let strides: [Int]

  public init(strides: [Int]) { self.strides = strides }

  public func reference(level: Int, position: Int, width: Int) -> [Float] {
    let stride = strides[level]
    let (x, y) = (Float((position % width) * stride + stride / 2), Float((position / width) * stride + stride / 2))
    return [x, y, x, y]
  }
}
