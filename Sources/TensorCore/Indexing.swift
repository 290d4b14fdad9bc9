/// Index-driven ops: gather, index select and embedding lookup. Indices are Float tensors holding integers.
extension Tensor {
  /// `torch.gather(input, axis, indices)`: `out[…, i, …] = input[…, indices[…, i, …], …]` along `axis`.
  /// `indices` has the input's rank and no larger extent on any other axis.
  public func gather(axis rawAxis: Int, indices: Tensor) -> Tensor {
    let axis = self.axis(rawAxis)
    precondition(
      indices.rank == rank && (0..<rank).allSatisfy { $0 == axis || indices.shape[$0] <= shape[$0] },
      "gather: indices \(indices.shape) do not fit input \(shape) along axis \(rawAxis)")
    let outShape = indices.shape
    let (sourceStrides, indexStrides) = (strides, Tensor.contiguousStrides(outShape))
    let size = shape[axis]
    var positions = [Int](repeating: 0, count: indices.count)
    let indexData = indices.data
    for flat in 0..<indices.count {
      let index = Tensor.integerIndex(indexData[flat], op: "gather")
      precondition(index >= -size && index < size, "gather: index \(index) out of range for axis size \(size)")
      var remaining = flat, position = 0
      for dimension in 0..<rank {
        let coordinate = remaining / indexStrides[dimension]
        remaining %= indexStrides[dimension]
        position += (dimension == axis ? (index < 0 ? index + size : index) : coordinate) * sourceStrides[dimension]
      }
      positions[flat] = position
    }
    return takePositions(positions, shape: outShape, op: "gather")
  }

  /// `torch.index_select`: the slices at `indices` (1-D) along `axis`; repeated indices accumulate gradients.
  public func indexSelect(axis rawAxis: Int, indices: Tensor) -> Tensor {
    let axis = self.axis(rawAxis)
    precondition(indices.rank <= 1, "indexSelect: indices must be 1-D, got \(indices.shape)")
    let size = shape[axis]
    let selected = indices.scalars.map { value -> Int in
      let index = Tensor.integerIndex(value, op: "indexSelect")
      precondition(index >= -size && index < size, "indexSelect: index \(index) out of range for axis size \(size)")
      return index < 0 ? index + size : index
    }
    let (outer, _, inner) = layout(around: axis)
    var outShape = shape
    outShape[axis] = selected.count
    let output = Tensor(uninitializedShape: outShape)
    let (source, out) = (data, output.mutableData)
    for block in 0..<outer {
      for (position, index) in selected.enumerated() {
        (out + (block * selected.count + position) * inner).update(
          from: source + (block * size + index) * inner, count: inner)
      }
    }
    let inputShape = shape
    return Tensor.record("index_select", output: output, inputs: [self]) { grad in
      let inputGrad = Tensor.zeros(inputShape)
      let (g, target) = (grad.data, inputGrad.mutableData)
      for block in 0..<outer {
        for (position, index) in selected.enumerated() {
          let from = g + (block * selected.count + position) * inner
          let to = target + (block * size + index) * inner
          for element in 0..<inner { to[element] += from[element] }
        }
      }
      return [inputGrad]
    }
  }

  /// Embedding lookup (`F.embedding`): `weight [vocab, dim]`, `ids` of any shape → `[ids…, dim]`.
  /// The row at `paddingIndex` (negative counts from the end, as `padding_idx`) receives no gradient.
  public static func embedding(weight: Tensor, ids: Tensor, paddingIndex rawPaddingIndex: Int? = nil) -> Tensor {
    precondition(weight.rank == 2, "embedding: weight must be [vocab, dim], got \(weight.shape)")
    let (vocabulary, dimension) = (weight.shape[0], weight.shape[1])
    let paddingIndex = rawPaddingIndex.map { index -> Int in
      precondition(
        index >= -vocabulary && index < vocabulary,
        "embedding: paddingIndex \(index) outside the vocabulary of \(vocabulary)")
      return index < 0 ? index + vocabulary : index
    }
    let rows = ids.scalars.map { value -> Int in
      let id = Tensor.integerIndex(value, op: "embedding")
      precondition(id >= 0 && id < vocabulary, "embedding: id \(id) outside the vocabulary of \(vocabulary)")
      return id
    }
    let output = Tensor(uninitializedShape: ids.shape + [dimension])
    let (table, out) = (weight.data, output.mutableData)
    for (position, row) in rows.enumerated() {
      (out + position * dimension).update(from: table + row * dimension, count: dimension)
    }
    return record("embedding", output: output, inputs: [weight]) { grad in
      let weightGrad = Tensor.zeros(weight.shape)
      let (g, target) = (grad.data, weightGrad.mutableData)
      for (position, row) in rows.enumerated() where row != paddingIndex {
        for element in 0..<dimension { target[row * dimension + element] += g[position * dimension + element] }
      }
      return [weightGrad]
    }
  }

  /// An index stored as Float, checked before conversion, which would trap on NaN or huge values.
  @inline(__always)
  static func integerIndex(_ value: Float, op: String) -> Int {
    precondition(
      Swift.abs(value) < 0x1p62 && value.rounded(.towardZero) == value,
      "\(op): index \(value) is not a whole number in Int range")
    return Int(value)
  }

  /// Reads the elements at flat `positions` into a tensor of `shape`; the gradient scatter-adds back.
  func takePositions(_ positions: [Int], shape outShape: [Int], op: String) -> Tensor {
    let output = Tensor(uninitializedShape: outShape)
    let (source, out) = (data, output.mutableData)
    for (flat, position) in positions.enumerated() { out[flat] = source[position] }
    let inputShape = shape
    return Tensor.record(op, output: output, inputs: [self]) { grad in
      let inputGrad = Tensor.zeros(inputShape)
      let (g, target) = (grad.data, inputGrad.mutableData)
      for (flat, position) in positions.enumerated() { target[position] += g[flat] }
      return [inputGrad]
    }
  }
}
