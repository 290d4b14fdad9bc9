import Foundation

/// Dropout and scaled dot-product attention.
extension Tensor {
  /// `self · otherᵀ` over the last two axes (batch axes broadcast), with the transpose passed to BLAS as a flag.
  /// `[..., m, k] · [..., n, k]ᵀ → [..., m, n]`.
  public func matmulTransposed(_ other: Tensor) -> Tensor {
    precondition(
      rank >= 2 && other.rank >= 2, "matmulTransposed: operands need 2+ dimensions, got \(shape), \(other.shape)")
    let (lhs, rhs) = (self, other)
    let output = Tensor.batchedProduct(lhs, rhs, transposeLhs: false, transposeRhs: true)
    return Tensor.record("matmul_transposed", output: output, inputs: [lhs, rhs]) { grad in
      [
        lhs.requiresGrad
          ? Tensor.batchedProduct(grad, rhs, transposeLhs: false, transposeRhs: false).sum(toShape: lhs.shape) : nil,
        rhs.requiresGrad
          ? Tensor.batchedProduct(grad, lhs, transposeLhs: true, transposeRhs: false).sum(toShape: rhs.shape) : nil,
      ]
    }
  }

  /// `F.scaled_dot_product_attention` with an additive float mask:
  /// softmax(q·kᵀ · scale + mask) · v, for q `[B…, L, E]`, k `[B…, S, E]`, v `[B…, S, Ev]`, mask broadcastable to
  /// `[B…, L, S]`; scale defaults to 1/√E.
  public static func scaledDotProductAttention(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil, scale: Float? = nil
  ) -> Tensor {
    precondition(
      query.shape.last == key.shape.last && key.shape.dropLast().last == value.shape.dropLast().last,
      "attention: query \(query.shape), key \(key.shape) and value \(value.shape) do not fit together")
    let factor = scale ?? 1 / Float(query.shape.last!).squareRoot()
    var scores = query.matmulTransposed(key) * factor
    if let mask { scores = scores + mask }
    return scores.softmax(axis: -1).matmul(value)
  }

  /// Zeroes each element with probability `probability` and scales the rest by 1/(1 − p), in training only.
  /// The mask comes from `generator`, so a seeded run is reproducible.
  public func dropout(probability: Float, training: Bool, generator: inout SeededGenerator) -> Tensor {
    precondition(probability >= 0 && probability <= 1, "dropout: probability must be in [0, 1], got \(probability)")
    guard training && probability > 0 else { return self }
    let keep = 1 - probability
    let scale: Float = keep > 0 ? 1 / keep : 0
    let mask = Tensor(uninitializedShape: shape)
    let values = mask.mutableData
    for index in 0..<count { values[index] = generator.nextUnitFloat() < keep ? scale : 0 }
    return self * mask
  }
}
