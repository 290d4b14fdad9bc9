/// Elementwise selection with broadcasting: minimum/maximum, where, masked fill and comparisons (0/1 results).
extension Tensor {
  /// Elementwise maximum; on ties each operand gets half the gradient, as in PyTorch.
  public static func maximum(_ lhs: Tensor, _ rhs: Tensor) -> Tensor {
    extremum(lhs, rhs, op: "maximum") { $0 > $1 }
  }

  /// Elementwise minimum; on ties each operand gets half the gradient, as in PyTorch.
  public static func minimum(_ lhs: Tensor, _ rhs: Tensor) -> Tensor {
    extremum(lhs, rhs, op: "minimum") { $0 < $1 }
  }

  private static func extremum(
    _ lhs: Tensor, _ rhs: Tensor, op: String, _ prefersLeft: @escaping (Float, Float) -> Bool
  ) -> Tensor {
    let output = broadcastBinary(lhs, rhs, op: op) { a, b in
      a.isNaN || b.isNaN ? .nan : (prefersLeft(a, b) || a == b ? a : b)
    }
    return record(op, output: output, inputs: [lhs, rhs]) { grad in
      let leftShare = broadcastBinary(lhs, rhs, op: op) { a, b in a == b ? 0.5 : (prefersLeft(a, b) ? 1 : 0) }
      return [
        lhs.requiresGrad ? (grad * leftShare).sum(toShape: lhs.shape) : nil,
        rhs.requiresGrad ? (grad * (1 - leftShare)).sum(toShape: rhs.shape) : nil,
      ]
    }
  }

  /// `torch.where(condition, a, b)`: `a` where the condition is non-zero, else `b`; all three broadcast.
  public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    let shape = broadcastShapeOrFail(broadcastShapeOrFail(condition.shape, a.shape, op: "where"), b.shape, op: "where")
    let mask = condition.broadcastValues(to: shape).mapValues { $0 != 0 ? 1 : 0 }
    let (aValues, bValues) = (a.broadcastValues(to: shape), b.broadcastValues(to: shape))
    let output = Tensor(uninitializedShape: shape)
    let (m, x, y, out) = (mask.data, aValues.data, bValues.data, output.mutableData)
    Parallel.forEachChunk(output.count) { range in
      for index in range { out[index] = m[index] != 0 ? x[index] : y[index] }
    }
    return record("where", output: output, inputs: [a, b]) { grad in
      [
        a.requiresGrad ? (grad * mask).sum(toShape: a.shape) : nil,
        b.requiresGrad ? (grad * (1 - mask)).sum(toShape: b.shape) : nil,
      ]
    }
  }

  /// `masked_fill`: `value` where the mask (broadcast to this tensor's shape) is non-zero.
  public func maskedFill(_ mask: Tensor, _ value: Float) -> Tensor {
    precondition(
      Tensor.broadcastShape(mask.shape, shape) == shape,
      "maskedFill: mask \(mask.shape) does not broadcast to \(shape)")
    let output = Tensor.broadcastBinary(self, mask, op: "masked_fill") { x, m in m != 0 ? value : x }
    return Tensor.record("masked_fill", output: output, inputs: [self]) { grad in
      [Tensor.broadcastBinary(grad, mask, op: "masked_fill_backward") { g, m in m != 0 ? 0 : g }]
    }
  }

  /// The values repeated along broadcast axes to `shape`, with no graph (see `expanded(to:)` for the differentiable op).
  func broadcastValues(to target: [Int]) -> Tensor {
    shape == target ? self : Tensor.broadcastBinary(self, Tensor.zeros(target), op: "broadcast") { x, _ in x }
  }

  // MARK: Comparisons (no gradient)

  public static func .== (lhs: Tensor, rhs: Tensor) -> Tensor {
    broadcastBinary(lhs, rhs, op: "eq") { $0 == $1 ? 1 : 0 }
  }
  public static func .!= (lhs: Tensor, rhs: Tensor) -> Tensor {
    broadcastBinary(lhs, rhs, op: "ne") { $0 != $1 ? 1 : 0 }
  }
  public static func .< (lhs: Tensor, rhs: Tensor) -> Tensor { broadcastBinary(lhs, rhs, op: "lt") { $0 < $1 ? 1 : 0 } }
  public static func .<= (lhs: Tensor, rhs: Tensor) -> Tensor {
    broadcastBinary(lhs, rhs, op: "le") { $0 <= $1 ? 1 : 0 }
  }
  public static func .> (lhs: Tensor, rhs: Tensor) -> Tensor { broadcastBinary(lhs, rhs, op: "gt") { $0 > $1 ? 1 : 0 } }
  public static func .>= (lhs: Tensor, rhs: Tensor) -> Tensor {
    broadcastBinary(lhs, rhs, op: "ge") { $0 >= $1 ? 1 : 0 }
  }

  public static func .== (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapValues { $0 == rhs ? 1 : 0 } }
  public static func .!= (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapValues { $0 != rhs ? 1 : 0 } }
  public static func .< (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapValues { $0 < rhs ? 1 : 0 } }
  public static func .<= (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapValues { $0 <= rhs ? 1 : 0 } }
  public static func .> (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapValues { $0 > rhs ? 1 : 0 } }
  public static func .>= (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapValues { $0 >= rhs ? 1 : 0 } }
}
