/// Layout changes: permute, slice, expand, concat/stack/split, pad. Results are contiguous copies made by one strided
/// copy kernel; each backward rule is the matching scatter.
extension Tensor {
  /// Copies `source` read through `strides` (elements per step along each output axis) from `offset` into a new
  /// contiguous tensor of `shape`. Parallel over rows of the last axis, or over tiles when the copy is a transpose.
  static func stridedCopy(_ source: Tensor, shape: [Int], strides: [Int], offset: Int) -> Tensor {
    let result = Tensor(uninitializedShape: shape)
    guard result.count > 0 else { return result }
    if let tiledAxis = transposeTileAxis(shape: shape, strides: strides, count: result.count) {
      tiledTransposeCopy(source, into: result, shape: shape, strides: strides, offset: offset, tiledAxis: tiledAxis)
      return result
    }
    let inner = shape.last ?? 1, innerStride = strides.last ?? 0
    let rows = result.count / inner
    let (input, out) = (source.data, result.mutableData)
    Parallel.forEachChunk(rows, costPerItem: inner) { range in
      for row in range {
        var remaining = row, base = offset
        for axis in stride(from: shape.count - 2, through: 0, by: -1) {
          base += (remaining % shape[axis]) * strides[axis]
          remaining /= shape[axis]
        }
        let rowOut = out + row * inner
        if innerStride == 1 {
          rowOut.update(from: input + base, count: inner)
        } else {
          for column in 0..<inner { rowOut[column] = input[base + column * innerStride] }
        }
      }
    }
    return result
  }

  /// The output axis whose source stride is 1 when a copy should run in square tiles, else nil.
  ///
  /// Row by row, each output row reads one value from every one of `shape.last` cache lines. That is cheap only when
  /// the next row reads the neighbouring values (the contiguous axis is the second-to-last one) and those lines
  /// still fit in L1; otherwise every line is fetched again per row, and tiles reuse each line across a whole tile.
  static func transposeTileAxis(shape: [Int], strides: [Int], count: Int) -> Int? {
    guard shape.count >= 2, count >= 1 << 14, let innerStride = strides.last, innerStride != 1 else { return nil }
    guard let axis = shape.indices.dropLast().last(where: { strides[$0] == 1 && shape[$0] > 1 }) else { return nil }
    let rowsReuseLines = axis == shape.count - 2 && shape[shape.count - 1] <= 256
    return rowsReuseLines ? nil : axis
  }

  /// `stridedCopy` for a transpose: for every index of the other axes, copies the 2-D block spanned by `tiledAxis`
  /// (contiguous in the source) and the last axis (contiguous in the output) in square tiles.
  static func tiledTransposeCopy(
    _ source: Tensor, into result: Tensor, shape: [Int], strides: [Int], offset: Int, tiledAxis: Int
  ) {
    let tile = 16
    let lastAxis = shape.count - 1
    let (tiledSize, columns, columnStride) = (shape[tiledAxis], shape[lastAxis], strides[lastAxis])
    let outStrides = contiguousStrides(shape)
    let tiledOutStride = outStrides[tiledAxis]
    let tileRows = (tiledSize + tile - 1) / tile
    let blocks = result.count / (tiledSize * columns)
    let (input, out) = (source.data, result.mutableData)
    Parallel.forEachChunk(blocks * tileRows, costPerItem: tile * columns) { range in
      for item in range {
        let (block, tileRow) = item.quotientAndRemainder(dividingBy: tileRows)
        var remaining = block, inBase = offset, outBase = 0
        for axis in stride(from: lastAxis - 1, through: 0, by: -1) where axis != tiledAxis {
          let coordinate = remaining % shape[axis]
          remaining /= shape[axis]
          inBase += coordinate * strides[axis]
          outBase += coordinate * outStrides[axis]
        }
        let firstRow = tileRow * tile, endRow = Swift.min(firstRow + tile, tiledSize)
        var firstColumn = 0
        while firstColumn < columns {
          let endColumn = Swift.min(firstColumn + tile, columns)
          for row in firstRow..<endRow {
            let sourceRow = input + inBase + row
            let outRow = out + outBase + row * tiledOutStride
            for column in firstColumn..<endColumn { outRow[column] = sourceRow[column * columnStride] }
          }
          firstColumn = endColumn
        }
      }
    }
  }

  /// Adds `values` (contiguous, of `shape`) into `target` at the positions `strides`/`offset` describe.
  /// Serial: strided views may alias (as in expand), so parallel writes could race.
  static func stridedAdd(_ values: Tensor, into target: inout Tensor, shape: [Int], strides: [Int], offset: Int) {
    guard values.count > 0 else { return }
    let inner = shape.last ?? 1, innerStride = strides.last ?? 0
    let source = values.data
    target.withUnsafeMutableBufferPointer { buffer in
      let out = buffer.baseAddress!
      for row in 0..<(values.count / inner) {
        var remaining = row, base = offset
        for axis in stride(from: shape.count - 2, through: 0, by: -1) {
          base += (remaining % shape[axis]) * strides[axis]
          remaining /= shape[axis]
        }
        for column in 0..<inner { out[base + column * innerStride] += source[row * inner + column] }
      }
    }
  }

  // MARK: Permutations

  /// Reorders axes: result axis i is input axis `axes[i]` (`torch.permute`); axes may be negative.
  /// `[2, 3, 4]` permuted by `[2, 0, 1]` is `[4, 2, 3]`, a contiguous copy.
  public func permuted(_ axes: [Int]) -> Tensor {
    let resolved = axes.map { self.axis($0) }
    precondition(
      resolved.count == rank && Set(resolved).count == rank, "permuted: \(axes) is not a permutation of \(rank) axes")
    let own = strides
    let output = Tensor.stridedCopy(
      self, shape: resolved.map { shape[$0] }, strides: resolved.map { own[$0] }, offset: 0)
    var inverse = [Int](repeating: 0, count: rank)
    for (position, axis) in resolved.enumerated() { inverse[axis] = position }
    return Tensor.record("permute", output: output, inputs: [self]) { grad in [grad.permuted(inverse)] }
  }

  public func permuted(_ axes: Int...) -> Tensor { permuted(axes) }

  /// Swaps two axes (`torch.transpose`); by default the last two: `[b, m, n]` → `[b, n, m]`.
  public func transposed(_ first: Int = -2, _ second: Int = -1) -> Tensor {
    var axes = Array(0..<rank)
    axes.swapAt(axis(first), axis(second))
    return permuted(axes)
  }

  // MARK: Views of the same values

  /// Merges axes `startAxis...endAxis` into one (`torch.flatten`): `[2, 3, 4, 5]` with 1...2 is `[2, 12, 5]`.
  public func flattened(startAxis: Int = 0, endAxis: Int = -1) -> Tensor {
    guard rank > 0 else { return reshaped([1]) }
    let (start, end) = (axis(startAxis), axis(endAxis))
    precondition(start <= end, "flattened: start axis \(startAxis) comes after end axis \(endAxis) for shape \(shape)")
    return reshaped(Array(shape[..<start]) + [shape[start...end].reduce(1, *)] + Array(shape[(end + 1)...]))
  }

  /// Inserts an axis of size 1 at `axis` (which may equal `rank`, or be negative as in PyTorch).
  public func unsqueezed(_ axis: Int) -> Tensor {
    let position = axis < 0 ? axis + rank + 1 : axis
    precondition(position >= 0 && position <= rank, "unsqueezed: axis \(axis) out of range for shape \(shape)")
    var newShape = shape
    newShape.insert(1, at: position)
    return reshaped(newShape)
  }

  /// Removes `axis` if it has size 1 (otherwise returns the tensor unchanged, as PyTorch does), or every size-1
  /// axis when `axis` is nil.
  public func squeezed(_ axis: Int? = nil) -> Tensor {
    if let axis {
      let resolved = self.axis(axis)
      guard shape[resolved] == 1 else { return self }
      var newShape = shape
      newShape.remove(at: resolved)
      return reshaped(newShape)
    }
    return reshaped(shape.filter { $0 != 1 })
  }

  /// Repeats values along size-1 (or new leading) axes to `target` (`torch.expand`, materialised): `[3, 1]`
  /// expanded to `[2, 3, 4]` is `[2, 3, 4]`. A -1 in `target` keeps the size of the matching existing axis.
  /// The gradient sums over the repeated axes.
  public func expanded(to requested: [Int]) -> Tensor {
    let lead = requested.count - rank
    precondition(lead >= 0, "expanded: target \(requested) has fewer axes than shape \(shape)")
    let target = requested.enumerated().map { axis, size in
      guard size == -1 else { return size }
      precondition(axis >= lead, "expanded: -1 at new leading axis \(axis) of \(requested) for shape \(shape)")
      return shape[axis - lead]
    }
    precondition(
      target.allSatisfy { $0 >= 0 } && Tensor.broadcastShape(shape, target) == target,
      "expanded: shape \(shape) cannot be expanded to \(requested)")
    let output = Tensor.stridedCopy(self, shape: target, strides: Tensor.broadcastStrides(shape, to: target), offset: 0)
    let original = shape
    return Tensor.record("expand", output: output, inputs: [self]) { grad in [grad.sum(toShape: original)] }
  }

  // MARK: Slicing

  /// Elements `start, start+step, …` before `end` along `axis`, with Python's rules for negative and out-of-range
  /// bounds (`x[..., start:end:step]`).
  public func slice(axis rawAxis: Int, start: Int? = nil, end: Int? = nil, step: Int = 1) -> Tensor {
    precondition(step > 0, "slice: step must be positive, got \(step)")
    let axis = self.axis(rawAxis)
    let size = shape[axis]
    func clampBound(_ bound: Int?, default value: Int) -> Int {
      guard let bound else { return value }
      return Swift.min(Swift.max(bound < 0 ? bound + size : bound, 0), size)
    }
    let (first, last) = (clampBound(start, default: 0), clampBound(end, default: size))
    let length = last > first ? (last - first + step - 1) / step : 0
    var outShape = shape
    outShape[axis] = length
    var viewStrides = strides
    let offset = first * viewStrides[axis]
    viewStrides[axis] *= step
    let output = Tensor.stridedCopy(self, shape: outShape, strides: viewStrides, offset: offset)
    let inputShape = shape
    return Tensor.record("slice", output: output, inputs: [self]) { grad in
      var inputGrad = Tensor.zeros(inputShape)
      Tensor.stridedAdd(grad, into: &inputGrad, shape: outShape, strides: viewStrides, offset: offset)
      return [inputGrad]
    }
  }

  /// `torch.narrow`: `length` elements from `start` along `axis`.
  public func narrow(axis: Int, start: Int, length: Int) -> Tensor {
    slice(axis: axis, start: start, end: start + length)
  }

  // MARK: Joining and splitting

  /// Joins tensors along an existing axis (`torch.cat`); all other axes must agree: `[2, 1, 3]` and `[2, 4, 3]`
  /// along axis 1 give `[2, 5, 3]`. Each input receives its slice of the gradient.
  public static func concat(_ tensors: [Tensor], axis rawAxis: Int) -> Tensor {
    precondition(!tensors.isEmpty, "concat: no tensors")
    let first = tensors[0]
    let axis = first.axis(rawAxis)
    for tensor in tensors {
      precondition(
        tensor.rank == first.rank
          && tensor.shape.enumerated().allSatisfy { $0.offset == axis || $0.element == first.shape[$0.offset] },
        "concat: shapes \(tensors.map(\.shape)) differ outside axis \(rawAxis)")
    }
    var outShape = first.shape
    outShape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
    let output = Tensor(uninitializedShape: outShape)
    let outer = first.shape[..<axis].reduce(1, *), inner = first.shape[(axis + 1)...].reduce(1, *)
    let outRow = outShape[axis] * inner
    var position = 0
    let out = output.mutableData
    for tensor in tensors {
      let block = tensor.shape[axis] * inner
      let source = tensor.data
      for row in 0..<outer { (out + row * outRow + position).update(from: source + row * block, count: block) }
      position += block
    }
    let sizes = tensors.map { $0.shape[axis] }
    return record("concat", output: output, inputs: tensors) { grad in
      grad.split(sizes: sizes, axis: axis).map { Optional($0) }
    }
  }

  /// Joins tensors of equal shape along a new axis (`torch.stack`): n tensors `[2, 3]` along axis 1 give `[2, n, 3]`.
  public static func stack(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    precondition(!tensors.isEmpty, "stack: no tensors")
    precondition(tensors.allSatisfy { $0.shape == tensors[0].shape }, "stack: shapes differ: \(tensors.map(\.shape))")
    return concat(tensors.map { $0.unsqueezed(axis) }, axis: axis)
  }

  /// Splits along `axis` into pieces of the given sizes, which must add up to the axis length (`torch.split` with a
  /// list of sizes). Every piece is differentiable on its own.
  public func split(sizes: [Int], axis rawAxis: Int) -> [Tensor] {
    let axis = self.axis(rawAxis)
    precondition(
      sizes.reduce(0, +) == shape[axis] && sizes.allSatisfy { $0 >= 0 },
      "split: sizes \(sizes) do not add up to \(shape[axis]) along axis \(rawAxis) of \(shape)")
    var start = 0
    return sizes.map { size in
      defer { start += size }
      return narrow(axis: axis, start: start, length: size)
    }
  }

  /// Splits into pieces of ⌈n/count⌉ along `axis` (the last may be smaller, and there may be fewer than `count`),
  /// as `torch.chunk`. An empty axis gives `count` empty pieces.
  public func chunk(_ count: Int, axis rawAxis: Int) -> [Tensor] {
    precondition(count > 0, "chunk: count must be positive, got \(count) for shape \(shape)")
    let size = shape[axis(rawAxis)]
    guard size > 0 else { return split(sizes: [Int](repeating: 0, count: count), axis: rawAxis) }
    let piece = (size + count - 1) / count
    var sizes: [Int] = []
    var remaining = size
    while remaining > 0 {
      sizes.append(Swift.min(piece, remaining))
      remaining -= piece
    }
    return split(sizes: sizes, axis: rawAxis)
  }

  // MARK: Padding

  /// Constant padding with `F.pad`'s layout: `pads` holds (before, after) pairs starting from the last axis.
  public func padded(_ pads: [Int], value: Float = 0) -> Tensor {
    precondition(
      pads.count % 2 == 0 && pads.count / 2 <= rank,
      "padded: pads must be (before, after) pairs for at most \(rank) axes, got \(pads)")
    precondition(pads.allSatisfy { $0 >= 0 }, "padded: negative padding \(pads) is not supported; use slice")
    var outShape = shape
    var before = [Int](repeating: 0, count: rank)
    for pair in 0..<(pads.count / 2) {
      let axis = rank - 1 - pair
      before[axis] = pads[2 * pair]
      outShape[axis] += pads[2 * pair] + pads[2 * pair + 1]
    }
    var output = Tensor.full(outShape, value)
    let outStrides = Tensor.contiguousStrides(outShape)
    let offset = zip(before, outStrides).reduce(0) { $0 + $1.0 * $1.1 }
    let interior = shape
    Tensor.stridedAssign(self, into: &output, shape: interior, strides: outStrides, offset: offset)
    return Tensor.record("pad", output: output, inputs: [self]) { grad in
      [Tensor.stridedCopy(grad, shape: interior, strides: outStrides, offset: offset)]
    }
  }

  /// Writes `values` into `target` at strided positions (no aliasing: each position is written once).
  static func stridedAssign(_ values: Tensor, into target: inout Tensor, shape: [Int], strides: [Int], offset: Int) {
    guard values.count > 0 else { return }
    let inner = shape.last ?? 1, innerStride = strides.last ?? 0
    let source = values.data
    target.withUnsafeMutableBufferPointer { buffer in
      let out = buffer.baseAddress!
      Parallel.forEachChunk(values.count / inner, costPerItem: inner) { range in
        for row in range {
          var remaining = row, base = offset
          for axis in stride(from: shape.count - 2, through: 0, by: -1) {
            base += (remaining % shape[axis]) * strides[axis]
            remaining /= shape[axis]
          }
          for column in 0..<inner { out[base + column * innerStride] = source[row * inner + column] }
        }
      }
    }
  }
}
