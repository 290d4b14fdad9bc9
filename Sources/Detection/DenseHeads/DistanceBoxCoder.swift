import TensorCore

/// FCOS's box coding: a point regresses its distances `(l, t, r, b)` to the box sides as exp(x) · stride (x clamped
/// at 10 so exp cannot overflow); the box is `(x − l, y − t, x + r, y + b)`.
public struct DistanceBoxCoder: BoxCoder {
  public let strides: [Int]

  public init(strides: [Int]) { self.strides = strides }

  public func regression(_ scaled: Tensor, level: Int) -> Tensor {
    scaled.clamp(max: 10).exp() * Float(strides[level])
  }

  public func decode(_ regression: Tensor, references: Tensor) -> Tensor {
    references + regression * Tensor([-1, -1, 1, 1])
  }
}
