/// NumPy broadcasting: shape rules and the strided kernels every elementwise op is built on.
extension Tensor {
  /// The broadcast shape of two shapes, or nil when they are incompatible.
  public static func broadcastShape(_ lhs: [Int], _ rhs: [Int]) -> [Int]? {
    let rank = Swift.max(lhs.count, rhs.count)
    var result = [Int](repeating: 1, count: rank)
    for offset in 0..<rank {
      let left = offset < lhs.count ? lhs[lhs.count - 1 - offset] : 1
      let right = offset < rhs.count ? rhs[rhs.count - 1 - offset] : 1
      guard left == right || left == 1 || right == 1 else { return nil }
      result[rank - 1 - offset] = left == 1 ? right : left
    }
    return result
  }

  static func broadcastShapeOrFail(_ lhs: [Int], _ rhs: [Int], op: String) -> [Int] {
    guard let shape = broadcastShape(lhs, rhs) else {
      preconditionFailure("\(op): shapes \(lhs) and \(rhs) cannot be broadcast together")
    }
    return shape
  }

  /// Strides that read a tensor of `shape` as if it had `target` shape (0 along broadcast axes).
  public static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let lead = target.count - shape.count
    return (0..<target.count).map { axis in
      axis < lead || shape[axis - lead] == 1 ? 0 : own[axis - lead]
    }
  }

  /// Elementwise `op(lhs, rhs)` with broadcasting; parallel over rows of the result's last axis.
  @inline(__always)
  static func broadcastBinary(_ lhs: Tensor, _ rhs: Tensor, op name: String, _ op: (Float, Float) -> Float) -> Tensor {
    if lhs.shape == rhs.shape {
      let result = Tensor(uninitializedShape: lhs.shape)
      let left = lhs.data, right = rhs.data, out = result.mutableData
      Parallel.forEachChunk(lhs.count) { range in
        for index in range { out[index] = op(left[index], right[index]) }
      }
      return result
    }
    let shape = broadcastShapeOrFail(lhs.shape, rhs.shape, op: name)
    let result = Tensor(uninitializedShape: shape)
    if rhs.count == 1 {
      let left = lhs.data, scalar = rhs.data[0], out = result.mutableData
      Parallel.forEachChunk(result.count) { range in
        for index in range { out[index] = op(left[index], scalar) }
      }
      return result
    }
    if lhs.count == 1 {
      let scalar = lhs.data[0], right = rhs.data, out = result.mutableData
      Parallel.forEachChunk(result.count) { range in
        for index in range { out[index] = op(scalar, right[index]) }
      }
      return result
    }
    let leftStrides = broadcastStrides(lhs.shape, to: shape)
    let rightStrides = broadcastStrides(rhs.shape, to: shape)
    let inner = shape.last ?? 1
    let rows = result.count / Swift.max(inner, 1)
    let leftInner = leftStrides.last ?? 0, rightInner = rightStrides.last ?? 0
    let left = lhs.data, right = rhs.data, out = result.mutableData
    Parallel.forEachChunk(rows, costPerItem: inner) { range in
      for row in range {
        var remaining = row, leftBase = 0, rightBase = 0
        for axis in stride(from: shape.count - 2, through: 0, by: -1) {
          let coordinate = remaining % shape[axis]
          remaining /= shape[axis]
          leftBase += coordinate * leftStrides[axis]
          rightBase += coordinate * rightStrides[axis]
        }
        let rowOut = out + row * inner
        for column in 0..<inner {
          rowOut[column] = op(left[leftBase + column * leftInner], right[rightBase + column * rightInner])
        }
      }
    }
    return result
  }

  /// Elementwise `op(self)`, parallel for large tensors.
  @inline(__always)
  func mapValues(_ op: (Float) -> Float) -> Tensor {
    let result = Tensor(uninitializedShape: shape)
    let input = data, out = result.mutableData
    Parallel.forEachChunk(count) { range in
      for index in range { out[index] = op(input[index]) }
    }
    return result
  }

  /// Sums a broadcast gradient back to `target`, the shape of the operand it was broadcast from.
  public func sum(toShape target: [Int]) -> Tensor {
    if shape == target { return self }
    precondition(
      Tensor.broadcastShape(target, shape) == shape, "sum(toShape:): \(target) does not broadcast to \(shape)")
    let result = Tensor.zeros(target)
    let targetStrides = Tensor.broadcastStrides(target, to: shape)
    let inner = shape.last ?? 1
    let rows = count / Swift.max(inner, 1)
    let innerStride = targetStrides.last ?? 0
    let input = data, out = result.mutableData
    for row in 0..<rows {
      var remaining = row, base = 0
      for axis in stride(from: shape.count - 2, through: 0, by: -1) {
        base += (remaining % shape[axis]) * targetStrides[axis]
        remaining /= shape[axis]
      }
      let rowIn = input + row * inner
      if innerStride == 0 {
        var total: Float = 0
        for column in 0..<inner { total += rowIn[column] }
        out[base] += total
      } else {
        for column in 0..<inner { out[base + column] += rowIn[column] }
      }
    }
    return result
  }

  /// Same-shape sum with no graph; used to accumulate gradients.
  func adding(_ other: Tensor) -> Tensor {
    precondition(shape == other.shape, "adding: shape \(shape) != \(other.shape)")
    return Tensor.broadcastBinary(self, other, op: "add", +)
  }
}
