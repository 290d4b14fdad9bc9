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

  /// Elementwise `op(lhs, rhs)` with broadcasting; parallel over rows of the result's last axis. The op is a closure
  /// called per element; the arithmetic operators use the specialised `broadcastBinary(_:_:op:_:)` with a kernel type.
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
    let plan = BroadcastPlan(lhs.shape, rhs.shape, op: name)
    let result = Tensor(uninitializedShape: plan.shape)
    let left = lhs.data, right = rhs.data, out = result.mutableData
    Parallel.forEachChunk(plan.rows, costPerItem: plan.inner) { range in
      for row in range {
        let (leftBase, rightBase) = plan.bases(row)
        let rowOut = out + row * plan.inner
        for column in 0..<plan.inner {
          rowOut[column] = op(left[leftBase + column * plan.leftInner], right[rightBase + column * plan.rightInner])
        }
      }
    }
    return result
  }

  /// `Op.apply(lhs, rhs)` with broadcasting, specialised per kernel type so the inner loops vectorise: contiguous
  /// rows against contiguous rows or against one broadcast value, after merging axes that broadcast alike.
  @inline(__always)
  static func broadcastBinary<Op: BinaryKernel>(_ lhs: Tensor, _ rhs: Tensor, op name: String, _: Op.Type) -> Tensor {
    let plan = BroadcastPlan(lhs.shape, rhs.shape, op: name)
    let result = Tensor(uninitializedShape: plan.shape)
    let left = lhs.data, right = rhs.data, out = result.mutableData
    if plan.rows == 1 && plan.leftInner == 1 && plan.rightInner == 1 {
      Parallel.forEachChunk(plan.inner) { range in
        for index in range { out[index] = Op.apply(left[index], right[index]) }
      }
      return result
    }
    Parallel.forEachChunk(plan.rows, costPerItem: plan.inner) { range in
      for row in range {
        let (leftBase, rightBase) = plan.bases(row)
        let rowOut = out + row * plan.inner
        let rowLeft = left + leftBase, rowRight = right + rightBase
        switch (plan.leftInner, plan.rightInner) {
        case (1, 1):
          for column in 0..<plan.inner { rowOut[column] = Op.apply(rowLeft[column], rowRight[column]) }
        case (1, 0):
          let value = rowRight[0]
          for column in 0..<plan.inner { rowOut[column] = Op.apply(rowLeft[column], value) }
        case (0, 1):
          let value = rowLeft[0]
          for column in 0..<plan.inner { rowOut[column] = Op.apply(value, rowRight[column]) }
        default:
          for column in 0..<plan.inner {
            rowOut[column] = Op.apply(rowLeft[column * plan.leftInner], rowRight[column * plan.rightInner])
          }
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
    return Tensor.broadcastBinary(self, other, op: "add", AddKernel.self)
  }
}

/// An elementwise binary operation as a type, so generic kernels specialise and inline it.
protocol BinaryKernel {
  static func apply(_ lhs: Float, _ rhs: Float) -> Float
}

enum AddKernel: BinaryKernel {
  @inline(__always) static func apply(_ lhs: Float, _ rhs: Float) -> Float { lhs + rhs }
}

enum SubtractKernel: BinaryKernel {
  @inline(__always) static func apply(_ lhs: Float, _ rhs: Float) -> Float { lhs - rhs }
}

enum MultiplyKernel: BinaryKernel {
  @inline(__always) static func apply(_ lhs: Float, _ rhs: Float) -> Float { lhs * rhs }
}

enum DivideKernel: BinaryKernel {
  @inline(__always) static func apply(_ lhs: Float, _ rhs: Float) -> Float { lhs / rhs }
}

/// How a broadcast binary op walks its operands: the result's shape, and the result as `rows` rows of `inner`
/// values, with each operand's start per row and its step along a row (0 when broadcast). Adjacent axes that both
/// operands read the same way (contiguous together, or broadcast together) are merged first, so that `[N, C, H, W]`
/// against `[1, C, 1, 1]` runs `N·C` rows of `H·W` values.
struct BroadcastPlan {
  let shape: [Int]
  let rows: Int
  let inner: Int
  let leftInner: Int
  let rightInner: Int
  /// Merged outer axes (all but the last): extents and strides of each operand, innermost first.
  private let outerExtents: [Int]
  private let outerLeft: [Int]
  private let outerRight: [Int]

  init(_ lhs: [Int], _ rhs: [Int], op: String) {
    shape = lhs == rhs ? lhs : Tensor.broadcastShapeOrFail(lhs, rhs, op: op)
    let leftStrides = Tensor.broadcastStrides(lhs, to: shape)
    let rightStrides = Tensor.broadcastStrides(rhs, to: shape)
    var extents: [Int] = [], left: [Int] = [], right: [Int] = []
    for axis in 0..<shape.count where shape[axis] != 1 {
      if let last = extents.last, left.last! == leftStrides[axis] * shape[axis],
        right.last! == rightStrides[axis] * shape[axis]
      {
        extents[extents.count - 1] = last * shape[axis]
        left[left.count - 1] = leftStrides[axis]
        right[right.count - 1] = rightStrides[axis]
      } else {
        extents.append(shape[axis])
        left.append(leftStrides[axis])
        right.append(rightStrides[axis])
      }
    }
    if extents.isEmpty { (extents, left, right) = ([1], [0], [0]) }
    inner = extents.last!
    leftInner = left.last!
    rightInner = right.last!
    rows = extents.dropLast().reduce(1, *)
    outerExtents = extents.dropLast().reversed()
    outerLeft = left.dropLast().reversed()
    outerRight = right.dropLast().reversed()
  }

  /// Where row `row` starts in each operand.
  @inline(__always)
  func bases(_ row: Int) -> (Int, Int) {
    var remaining = row, leftBase = 0, rightBase = 0
    for axis in 0..<outerExtents.count {
      let coordinate = remaining % outerExtents[axis]
      remaining /= outerExtents[axis]
      leftBase += coordinate * outerLeft[axis]
      rightBase += coordinate * outerRight[axis]
    }
    return (leftBase, rightBase)
  }
}
