import TensorCore

/// How a dense head's box branch encodes boxes relative to its locations.
public protocol BoxCoder: Sendable {
  /// The box branch's output on `level` after the level's learnable scale → the values `decode` reads
  /// (`[N, 4, H, W]` both).
  func regression(_ scaled: Tensor, level: Int) -> Tensor
  /// Regression rows `[P, 4]` at references `[P, 4]` → boxes `(x1, y1, x2, y2)` `[P, 4]`, differentiable in
  /// `regression`.
  func decode(_ regression: Tensor, references: Tensor) -> Tensor
}
