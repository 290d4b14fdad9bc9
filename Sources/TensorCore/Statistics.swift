/// Reductions beyond sum and mean: extrema with indices, arg-extrema, variance, standard deviation and logsumexp.
extension Tensor {
  /// Splits the shape around `axis` into (outer, size, inner) for strided scans along that axis.
  /// A 0-d tensor scans as one element.
  func layout(around axis: Int) -> (outer: Int, size: Int, inner: Int) {
    guard rank > 0 else { return (1, 1, 1) }
    return (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
  }

  /// Values and first-occurrence indices of the extremum along `axis` (NaN wins, as in PyTorch).
  private func extremum(axis rawAxis: Int, keepDim: Bool, op: String, _ better: (Float, Float) -> Bool) -> (
    Tensor, [Int]
  ) {
    let axis = self.axis(rawAxis)
    let (outer, size, inner) = layout(around: axis)
    precondition(size > 0, "\(op): cannot reduce an empty axis \(rawAxis) of shape \(shape)")
    let (keepShape, reducedAxes) = reducedShape(axes: [axis])
    let values = Tensor(uninitializedShape: keepDim ? keepShape : Tensor.squeezedShape(keepShape, axes: reducedAxes))
    var indices = [Int](repeating: 0, count: outer * inner)
    let (source, out) = (data, values.mutableData)
    for block in 0..<outer {
      for position in 0..<inner {
        let base = source + block * size * inner + position
        var best = base[0], bestIndex = 0
        for step in 1..<size where !best.isNaN {
          let value = base[step * inner]
          if better(value, best) || value.isNaN {
            best = value
            bestIndex = step
          }
        }
        out[block * inner + position] = best
        indices[block * inner + position] = bestIndex
      }
    }
    return (values, indices)
  }

  private func recordExtremum(_ values: Tensor, _ indices: [Int], axis rawAxis: Int, op: String) -> Tensor {
    let axis = self.axis(rawAxis)
    let (_, size, inner) = layout(around: axis)
    let inputShape = shape
    return Tensor.record(op, output: values, inputs: [self]) { grad in
      let inputGrad = Tensor.zeros(inputShape)
      let (g, target) = (grad.data, inputGrad.mutableData)
      for (flat, index) in indices.enumerated() {
        let (block, position) = (flat / inner, flat % inner)
        target[block * size * inner + index * inner + position] += g[flat]
      }
      return [inputGrad]
    }
  }

  /// `torch.max(x, dim)`: the maxima along `axis` and their indices (as Float), the gradient going to the index.
  public func max(axis: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
    let (values, indices) = extremum(axis: axis, keepDim: keepDim, op: "max") { $0 > $1 }
    return (
      recordExtremum(values, indices, axis: axis, op: "max"),
      Tensor(shape: values.shape, values: indices.map(Float.init))
    )
  }

  /// `torch.min(x, dim)`: the minima along `axis` and their indices.
  public func min(axis: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
    let (values, indices) = extremum(axis: axis, keepDim: keepDim, op: "min") { $0 < $1 }
    return (
      recordExtremum(values, indices, axis: axis, op: "min"),
      Tensor(shape: values.shape, values: indices.map(Float.init))
    )
  }

  public func argmax(axis: Int, keepDim: Bool = false) -> Tensor { max(axis: axis, keepDim: keepDim).indices }
  public func argmin(axis: Int, keepDim: Bool = false) -> Tensor { min(axis: axis, keepDim: keepDim).indices }

  /// The largest element (0-d); the gradient is shared evenly among tied maxima, as PyTorch's full reduction does.
  public func max() -> Tensor { fullExtremum(op: "max_all") { $0 > $1 } }
  public func min() -> Tensor { fullExtremum(op: "min_all") { $0 < $1 } }

  private func fullExtremum(op: String, _ better: @escaping (Float, Float) -> Bool) -> Tensor {
    precondition(count > 0, "\(op): empty tensor")
    var best = data[0]
    for index in 1..<count where !best.isNaN {
      if better(data[index], best) || data[index].isNaN { best = data[index] }
    }
    let output = Tensor(shape: [], values: [best])
    let input = self
    return Tensor.record(op, output: output, inputs: [input]) { grad in
      let ties = input.mapValues { $0 == best || ($0.isNaN && best.isNaN) ? 1 : 0 }
      let tieCount = ties.scalars.reduce(0, +)
      return [ties * (grad.item / Swift.max(tieCount, 1))]
    }
  }

  /// Largest values over several axes, with no graph (used to stabilise exponentials).
  func amaxValues(axes: [Int]) -> Tensor {
    withNoGrad {
      var result = self.detached()
      for axis in axes { result = result.max(axis: axis, keepDim: true).values }
      return result
    }
  }

  /// Variance over `axes` with Bessel's `correction` (0: biased, 1: unbiased), as `torch.var`.
  public func variance(axes: [Int], correction: Int = 1, keepDim: Bool = false) -> Tensor {
    let (keepShape, _) = reducedShape(axes: axes)
    let reducedCount = count / Swift.max(Tensor.elementCount(keepShape), 1)
    let centered = self - mean(axes: axes, keepDim: true)
    return centered.square().sum(axes: axes, keepDim: keepDim) * (1 / Float(Swift.max(reducedCount - correction, 0)))
  }

  public func standardDeviation(axes: [Int], correction: Int = 1, keepDim: Bool = false) -> Tensor {
    variance(axes: axes, correction: correction, keepDim: keepDim).sqrt()
  }

  /// log Σ exp(x) over `axes`, stabilised by the maximum.
  public func logsumexp(axes: [Int], keepDim: Bool = false) -> Tensor {
    let (_, resolved) = reducedShape(axes: axes)
    let shift = amaxValues(axes: resolved).mapValues { $0.isFinite ? $0 : 0 }
    let result = (self - shift).exp().sum(axes: resolved, keepDim: true).log() + shift
    return keepDim ? result : result.reshaped(Tensor.squeezedShape(result.shape, axes: resolved))
  }
}
