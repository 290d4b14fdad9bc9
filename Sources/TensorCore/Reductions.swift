/// Sum and mean over any axes. Other reductions build on the same keep-dim shape helpers.
extension Tensor {
  /// The shape with `axes` set to 1 (keepdim form), and the normalised, sorted axes.
  ///
  /// As in PyTorch, an empty list means every axis, an axis may not be listed twice (also not as both `i` and
  /// `i - rank`), and a 0-d tensor accepts axis 0 or -1, which reduces nothing.
  public func reducedShape(axes: [Int]) -> (keepDimShape: [Int], axes: [Int]) {
    let normalized = axes.isEmpty ? Array(0..<rank) : axes.map { self.axis($0) }
    precondition(
      Set(normalized).count == normalized.count,
      "reduction over axes \(axes) of shape \(shape): an axis appears more than once")
    if rank == 0 { return ([], []) }
    let resolved = normalized.sorted()
    var keepShape = shape
    for axis in resolved { keepShape[axis] = 1 }
    return (keepShape, resolved)
  }

  /// Drops the reduced axes from a keep-dim shape.
  public static func squeezedShape(_ keepShape: [Int], axes: [Int]) -> [Int] {
    keepShape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
  }

  /// Sum over `axes` (every axis when `axes` is empty, as PyTorch's `sum(dim=[])`). Input `[d0, …, dn]`; output the
  /// same shape with the reduced axes removed, or set to 1 with `keepDim`.
  public func sum(axes: [Int], keepDim: Bool = false) -> Tensor {
    let (keepShape, resolved) = reducedShape(axes: axes)
    let reduced = withNoGrad { self.sum(toShape: keepShape) }
    let outShape = keepDim ? keepShape : Tensor.squeezedShape(keepShape, axes: resolved)
    let output = reduced.sharingStorage(shape: outShape)
    let inputShape = shape
    return Tensor.record("sum", output: output, inputs: [self]) { grad in
      [Tensor.broadcastBinary(grad.sharingStorage(shape: keepShape), Tensor.zeros(inputShape), op: "sum_backward", +)]
    }
  }

  public func sum(axis: Int, keepDim: Bool = false) -> Tensor { sum(axes: [axis], keepDim: keepDim) }

  /// Sum of every element, as a 0-d tensor.
  public func sum() -> Tensor {
    var total: Double = 0
    let input = data
    for index in 0..<count { total += Double(input[index]) }
    let output = Tensor(shape: [], values: [Float(total)])
    let inputShape = shape
    return Tensor.record("sum_all", output: output, inputs: [self]) { grad in
      [Tensor.full(inputShape, grad.item)]
    }
  }

  public func mean(axes: [Int], keepDim: Bool = false) -> Tensor {
    let (keepShape, _) = reducedShape(axes: axes)
    let reducedCount = count / Swift.max(Tensor.elementCount(keepShape), 1)
    return sum(axes: axes, keepDim: keepDim) * (1 / Float(reducedCount))
  }

  public func mean(axis: Int, keepDim: Bool = false) -> Tensor { mean(axes: [axis], keepDim: keepDim) }

  public func mean() -> Tensor { sum() * (1 / Float(Swift.max(count, 1))) }
}
