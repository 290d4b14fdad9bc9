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

  /// `F.scaled_dot_product_attention` with an additive float mask: softmax(q·kᵀ · scale + mask) · v.
  ///
  /// - Parameters:
  ///   - query: `[B…, L, E]`.
  ///   - key: `[B…, S, E]`.
  ///   - value: `[B…, S, Ev]`.
  ///   - mask: additive, broadcastable to `[B…, L, S]` (use −∞ or a large negative value to mask). It receives no
  ///     gradient.
  ///   - scale: defaults to 1/√E.
  /// - Returns: `[B…, L, Ev]`. The batch axes of query, key and value broadcast against each other. A row whose
  ///   scores are all −∞ attends to nothing and yields zeros, as PyTorch's attention does.
  ///
  /// One fused kernel per batch matrix: a GEMM for the scores (the key transpose is a BLAS flag), the mask and a
  /// stable softmax in place, and a GEMM with the values. The backward rule is analytic and reuses the saved
  /// attention probabilities.
  public static func scaledDotProductAttention(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor? = nil, scale: Float? = nil
  ) -> Tensor {
    precondition(
      query.rank >= 2 && key.rank >= 2 && value.rank >= 2,
      "attention: query, key and value need 2+ dimensions, got \(query.shape), \(key.shape), \(value.shape)")
    let (targetLength, embedding) = (query.shape[query.rank - 2], query.shape[query.rank - 1])
    let (sourceLength, valueEmbedding) = (key.shape[key.rank - 2], value.shape[value.rank - 1])
    precondition(
      key.shape[key.rank - 1] == embedding && value.shape[value.rank - 2] == sourceLength,
      "attention: expected query [B…, L, E], key [B…, S, E], value [B…, S, Ev]; got query \(query.shape), "
        + "key \(key.shape), value \(value.shape)")
    let batchShape = broadcastShapeOrFail(
      broadcastShapeOrFail(
        Array(query.shape.dropLast(2)), Array(key.shape.dropLast(2)), op: "attention (query and key batch axes)"),
      Array(value.shape.dropLast(2)), op: "attention (value batch axes)")
    let layout = AttentionLayout(
      batchShape: batchShape, targetLength: targetLength, sourceLength: sourceLength, embedding: embedding,
      valueEmbedding: valueEmbedding, query: query.shape, key: key.shape, value: value.shape)
    return attention(query: query, key: key, value: value, mask: mask, scale: scale, layout: layout)
  }

  /// Multi-head attention on packed heads, as linear projections write them: head h of `query [B, L, heads·E]`
  /// is its columns h·E..<(h+1)·E, likewise for `key [B, S, heads·E]` and `value [B, S, heads·Ev]`, and the result
  /// `[B, L, heads·Ev]` packs the heads' outputs the same way.
  ///
  /// The values are those of splitting the heads (`[B, heads, L, E]`), `scaledDotProductAttention` and merging the
  /// heads back; the GEMMs read and write the packed layout through their leading dimensions, so none of those
  /// transposed copies is made. `mask` is additive and broadcasts to `[B, heads, L, S]`; `bias`, a second additive
  /// term broadcast the same way (a relative position bias `[1, heads, L, S]` beside a window mask `[B, 1, L, S]`),
  /// saves adding the two into one full-size mask. The mask receives no gradient; the bias does when it requires one
  /// (a learned position bias), summed over the axes it broadcasts along. `scale` defaults to 1/√E.
  public static func multiHeadAttention(
    query: Tensor, key: Tensor, value: Tensor, heads: Int, mask: Tensor? = nil, bias: Tensor? = nil,
    scale: Float? = nil
  ) -> Tensor {
    precondition(
      query.rank == 3 && key.rank == 3 && value.rank == 3,
      "multiHeadAttention: query, key and value must be [B, T, heads·E], got \(query.shape), \(key.shape), "
        + "\(value.shape)")
    let batch = query.shape[0]
    precondition(
      heads > 0 && key.shape[0] == batch && value.shape[0] == batch && key.shape[1] == value.shape[1]
        && query.shape[2] % heads == 0 && value.shape[2] % heads == 0 && key.shape[2] == query.shape[2],
      "multiHeadAttention: expected query [B, L, heads·E], key [B, S, heads·E], value [B, S, heads·Ev] with "
        + "\(heads) heads; got \(query.shape), \(key.shape), \(value.shape)")
    let layout = AttentionLayout(
      packedHeads: heads, batch: batch, targetLength: query.shape[1], sourceLength: key.shape[1],
      embedding: query.shape[2] / heads, valueEmbedding: value.shape[2] / heads)
    return attention(query: query, key: key, value: value, mask: mask, bias: bias, scale: scale, layout: layout)
  }

  /// `multiHeadAttention` on one tensor that holds the query, key and value projections side by side, as a fused
  /// `qkv` linear layer writes them: `[B, T, 3·heads·E]` → `[B, T, heads·E]`. The GEMMs read the three parts where
  /// they are, and under autograd the backward writes their gradients into one `[B, T, 3·heads·E]` tensor the same
  /// way, so the three parts are never copied out.
  public static func multiHeadAttention(
    packedProjections qkv: Tensor, heads: Int, mask: Tensor? = nil, bias: Tensor? = nil, scale: Float? = nil
  ) -> Tensor {
    precondition(
      qkv.rank == 3 && heads > 0 && qkv.shape[2] % (3 * heads) == 0,
      "multiHeadAttention: expected packed projections [B, T, 3·heads·E] with \(heads) heads, got \(qkv.shape)")
    let width = qkv.shape[2] / 3
    let layout = AttentionLayout(
      packedProjections: heads, batch: qkv.shape[0], length: qkv.shape[1], embedding: width / heads)
    return attention(query: qkv, key: qkv, value: qkv, mask: mask, bias: bias, scale: scale, layout: layout)
  }

  /// An additive term's pointer per batch matrix and its row and column strides, broadcast to `scoresShape`.
  private struct AdditiveLayout {
    let data: UnsafePointer<Float>, offsets: [Int], rowStride: Int, columnStride: Int

    init(_ term: Tensor, name: String, scoresShape: [Int], batchShape: [Int]) {
      precondition(
        Tensor.broadcastShape(term.shape, scoresShape) == scoresShape,
        "attention: \(name) \(term.shape) does not broadcast to the scores' shape [B…, L, S] = \(scoresShape)")
      let strides = Tensor.broadcastStrides(term.shape, to: scoresShape)
      data = term.data
      offsets = Tensor.batchOffsets(batchShape, strides: Array(strides.dropLast(2)))
      (rowStride, columnStride) = (strides[strides.count - 2], strides[strides.count - 1])
    }

    /// Row `row` of batch matrix `batch`, with its column stride.
    func row(_ row: Int, of batch: Int) -> (UnsafePointer<Float>, Int) {
      (data + offsets[batch] + row * rowStride, columnStride)
    }
  }

  /// The fused forward shared by both entry points, with its backward rule. The probabilities are kept for the
  /// backward pass only when autograd records; otherwise each batch matrix's scores live in a scratch buffer.
  private static func attention(
    query: Tensor, key: Tensor, value: Tensor, mask: Tensor?, bias: Tensor? = nil, scale: Float?,
    layout: AttentionLayout
  ) -> Tensor {
    let (batchShape, targetLength, sourceLength) = (layout.batchShape, layout.targetLength, layout.sourceLength)
    let (embedding, valueEmbedding) = (layout.embedding, layout.valueEmbedding)
    let scoresShape = batchShape + [targetLength, sourceLength]
    let maskLayout = mask.map { AdditiveLayout($0, name: "mask", scoresShape: scoresShape, batchShape: batchShape) }
    let biasLayout = bias.map { AdditiveLayout($0, name: "bias", scoresShape: scoresShape, batchShape: batchShape) }
    let factor = scale ?? 1 / Float(embedding).squareRoot()

    let biasNeedsGrad = bias?.requiresGrad ?? false
    let recording =
      GradMode.isEnabled && (query.requiresGrad || key.requiresGrad || value.requiresGrad || biasNeedsGrad)
    let probabilities = recording ? Tensor(uninitializedShape: scoresShape) : nil
    let output = Tensor(uninitializedShape: layout.outputShape)
    let (q, k, v) = (query.data, key.data, value.data)
    let (weights, out) = (probabilities?.mutableData, output.mutableData)
    let matrix = targetLength * sourceLength
    layout.forEachBatch { batch, rowsInParallel in
      let scores = weights.map { $0 + batch * matrix } ?? .allocate(capacity: matrix)
      defer { if weights == nil { scores.deallocate() } }
      gemm(
        transposeA: false, transposeB: true, m: targetLength, n: sourceLength, k: embedding, alpha: factor,
        a: q + layout.queryOffsets[batch], lda: layout.queryRowStride, b: k + layout.keyOffsets[batch],
        ldb: layout.keyRowStride, c: scores, ldc: sourceLength)
      func normalizeRow(_ row: Int) {
        let rowMask = maskLayout?.row(row, of: batch), rowBias = biasLayout?.row(row, of: batch)
        softmaxRowInPlace(
          scores + row * sourceLength, count: sourceLength, mask: rowMask?.0, maskStride: rowMask?.1 ?? 0,
          bias: rowBias?.0, biasStride: rowBias?.1 ?? 0)
      }
      if rowsInParallel {
        Parallel.forEach(targetLength, costPerItem: sourceLength * 4, normalizeRow)
      } else {
        for row in 0..<targetLength { normalizeRow(row) }
      }
      gemm(
        transposeA: false, transposeB: false, m: targetLength, n: valueEmbedding, k: sourceLength, alpha: 1,
        a: scores, lda: sourceLength, b: v + layout.valueOffsets[batch], ldb: layout.valueRowStride,
        c: out + layout.outputOffsets[batch], ldc: layout.outputRowStride)
    }
    guard let probabilities else { return output }

    let needs = (query: query.requiresGrad, key: key.requiresGrad, value: value.requiresGrad)
    let saved = (query: query.detached(), key: key.detached(), value: value.detached())
    let biasShape = biasNeedsGrad ? bias?.shape : nil
    let inputs = [query, key, value] + (biasNeedsGrad ? [bias!] : [])
    return record("scaled_dot_product_attention", output: output, inputs: inputs) { grad in
      attentionBackward(
        grad: grad, probabilities: probabilities, saved: saved, needs: needs, biasShape: biasShape, scale: factor,
        layout: layout)
    }
  }

  /// Shapes and per-batch matrix offsets of one attention call.
  struct AttentionLayout {
    let batchShape: [Int], batchCount: Int
    let targetLength: Int, sourceLength: Int, embedding: Int, valueEmbedding: Int
    var queryShape: [Int], keyShape: [Int], valueShape: [Int]
    /// Element offsets of each broadcast batch's query, key and value matrices.
    var queryOffsets: [Int], keyOffsets: [Int], valueOffsets: [Int]
    /// Offsets of each batch's output matrix, which is also where its gradient is read.
    let outputOffsets: [Int]
    /// Distance between consecutive rows of each operand's matrices (their width unless heads are packed).
    var queryRowStride: Int, keyRowStride: Int, valueRowStride: Int, outputRowStride: Int
    let outputShape: [Int]
    /// Whether query, key and value are `[B, T, heads·E]` with packed heads (batch matrix b·heads + h), rather than
    /// `[B…, T, E]` matrices; packed operands never broadcast, so their gradients take their own layout.
    let packed: Bool
    /// Whether query, key and value are one tensor (packed projections), whose gradient is one tensor too.
    var sharesOperand = false

    init(
      batchShape: [Int], targetLength: Int, sourceLength: Int, embedding: Int, valueEmbedding: Int,
      query: [Int], key: [Int], value: [Int]
    ) {
      self.batchShape = batchShape
      batchCount = Tensor.elementCount(batchShape)
      (self.targetLength, self.sourceLength) = (targetLength, sourceLength)
      (self.embedding, self.valueEmbedding) = (embedding, valueEmbedding)
      (queryShape, keyShape, valueShape) = (query, key, value)
      func offsets(_ shape: [Int], matrix: Int) -> [Int] {
        let batchStrides = Tensor.broadcastStrides(Array(shape.dropLast(2)), to: batchShape).map { $0 * matrix }
        return Tensor.batchOffsets(batchShape, strides: batchStrides)
      }
      queryOffsets = offsets(query, matrix: targetLength * embedding)
      keyOffsets = offsets(key, matrix: sourceLength * embedding)
      valueOffsets = offsets(value, matrix: sourceLength * valueEmbedding)
      outputOffsets = (0..<batchCount).map { $0 * targetLength * valueEmbedding }
      (queryRowStride, keyRowStride) = (embedding, embedding)
      (valueRowStride, outputRowStride) = (valueEmbedding, valueEmbedding)
      outputShape = batchShape + [targetLength, valueEmbedding]
      packed = false
    }

    /// Packed heads: batch matrix b·heads + h starts at row b, column h·E of its `[B, T, heads·E]` operand.
    init(packedHeads heads: Int, batch: Int, targetLength: Int, sourceLength: Int, embedding: Int, valueEmbedding: Int)
    {
      batchShape = [batch, heads]
      batchCount = batch * heads
      (self.targetLength, self.sourceLength) = (targetLength, sourceLength)
      (self.embedding, self.valueEmbedding) = (embedding, valueEmbedding)
      let (width, valueWidth) = (heads * embedding, heads * valueEmbedding)
      queryShape = [batch, targetLength, width]
      keyShape = [batch, sourceLength, width]
      valueShape = [batch, sourceLength, valueWidth]
      outputShape = [batch, targetLength, valueWidth]
      func offsets(length: Int, width: Int, headWidth: Int) -> [Int] {
        (0..<batch * heads).map { ($0 / heads) * length * width + ($0 % heads) * headWidth }
      }
      queryOffsets = offsets(length: targetLength, width: width, headWidth: embedding)
      keyOffsets = offsets(length: sourceLength, width: width, headWidth: embedding)
      valueOffsets = offsets(length: sourceLength, width: valueWidth, headWidth: valueEmbedding)
      outputOffsets = offsets(length: targetLength, width: valueWidth, headWidth: valueEmbedding)
      (queryRowStride, keyRowStride) = (width, width)
      (valueRowStride, outputRowStride) = (valueWidth, valueWidth)
      packed = true
    }

    /// Query, key and value side by side in one `[B, T, 3·heads·E]` tensor: batch matrix b·heads + h of each starts
    /// at row b, column part·heads·E + h·E, and their rows are 3·heads·E apart. The three gradients share one tensor
    /// of that shape (`sharesOperand`).
    init(packedProjections heads: Int, batch: Int, length: Int, embedding: Int) {
      self.init(
        packedHeads: heads, batch: batch, targetLength: length, sourceLength: length, embedding: embedding,
        valueEmbedding: embedding)
      let width = heads * embedding
      func offsets(part: Int) -> [Int] {
        (0..<batch * heads).map { ($0 / heads) * length * 3 * width + part * width + ($0 % heads) * embedding }
      }
      (queryOffsets, keyOffsets, valueOffsets) = (offsets(part: 0), offsets(part: 1), offsets(part: 2))
      (queryRowStride, keyRowStride, valueRowStride) = (3 * width, 3 * width, 3 * width)
      (queryShape, keyShape, valueShape) = (
        [batch, length, 3 * width], [batch, length, 3 * width], [batch, length, 3 * width]
      )
      sharesOperand = true
    }

    /// Runs `body` for every batch matrix: spread over cores when the matrices are small or there are at least two
    /// per core (BLAS single-threaded meanwhile), otherwise one after another with products split over the cores and
    /// parallel softmax rows. Matrix by matrix, each product and softmax waits for both cores: twelve 256-token heads
    /// of MiniLM took 44 ms that way and 31 ms spread over the cores.
    func forEachBatch(_ body: (_ batch: Int, _ rowsInParallel: Bool) -> Void) {
      let work = targetLength * sourceLength * Swift.max(embedding, valueEmbedding, 1)
      if batchCount > 1 && work < 128 * 128 * 128 {
        // Weighed as work / 64 element operations, MiniLM's twelve 64-token heads stayed on one core.
        Parallel.forEach(batchCount, costPerItem: Swift.max(1, work / 8)) { body($0, false) }
      } else if batchCount >= 2 * Parallel.coreCount {
        Parallel.forEachBalanced(batchCount) { body($0, false) }
      } else {
        for batch in 0..<batchCount { body(batch, true) }
      }
    }
  }

  /// The offset `Σ coordinate · stride` of every index of `batchShape`, in row-major order.
  static func batchOffsets(_ batchShape: [Int], strides: [Int]) -> [Int] {
    var offsets = [Int](repeating: 0, count: elementCount(batchShape))
    for batch in offsets.indices {
      var (remaining, offset) = (batch, 0)
      for axis in stride(from: batchShape.count - 1, through: 0, by: -1) {
        offset += remaining % batchShape[axis] * strides[axis]
        remaining /= batchShape[axis]
      }
      offsets[batch] = offset
    }
    return offsets
  }

  /// Adds the mask row and the bias row, then a stable softmax in place; a row that is entirely −∞ becomes zeros, and one
  /// of NaNs and −∞ only becomes NaN.
  @inline(__always)
  static func softmaxRowInPlace(
    _ row: UnsafeMutablePointer<Float>, count: Int, mask: UnsafePointer<Float>?, maskStride: Int,
    bias: UnsafePointer<Float>? = nil, biasStride: Int = 0
  ) {
    if let bias {
      for column in 0..<count { row[column] += bias[column * biasStride] }
    }
    if let mask {
      for column in 0..<count { row[column] += mask[column * maskStride] }
    }
    let maximum = rowMaximum(row, count: count)
    guard maximum != -.infinity else {
      // Every score masked, or NaN (which the maximum passes over): zeros, or NaN as PyTorch gives.
      let isNaN = (0..<count).contains { row[$0].isNaN }
      row.update(repeating: isNaN ? .nan : 0, count: count)
      return
    }
    exponentiate(row, minus: maximum, into: row, count: count)
    let inverse = 1 / laneSum(row, count: count)
    for column in 0..<count { row[column] *= inverse }
  }

  /// The largest of `count` values (−∞ for none) over sixteen lanes of running maxima, which stay in one vector
  /// register; a single running maximum is one long dependency chain. NaNs are passed over, as in `x > m ? x : m`.
  @inline(__always)
  static func rowMaximum(_ values: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD16<Float>(repeating: -.infinity)
    var index = 0
    while index + 16 <= count {
      let next = UnsafeRawPointer(values + index).loadUnaligned(as: SIMD16<Float>.self)
      lanes.replace(with: next, where: next .> lanes)
      index += 16
    }
    // Halved twice rather than `lanes.max()`, which compiled to sixteen scalar compares through the stack.
    var half = lanes.lowHalf
    half.replace(with: lanes.highHalf, where: lanes.highHalf .> half)
    var quarter = half.lowHalf
    quarter.replace(with: half.highHalf, where: half.highHalf .> quarter)
    var maximum = Swift.max(Swift.max(quarter[0], quarter[1]), Swift.max(quarter[2], quarter[3]))
    while index < count {
      maximum = Swift.max(maximum, values[index])
      index += 1
    }
    return maximum
  }

  /// With P the probabilities and G the output gradient: dV = Pᵀ·G, dS = P ⊙ (G·Vᵀ − rowsum(P ⊙ G·Vᵀ)),
  /// dQ = scale · dS·K and dK = scale · dSᵀ·Q, summed over broadcast batch axes; an additive bias of `biasShape`
  /// takes dS summed to its shape.
  private static func attentionBackward(
    grad: Tensor, probabilities: Tensor, saved: (query: Tensor, key: Tensor, value: Tensor),
    needs: (query: Bool, key: Bool, value: Bool), biasShape: [Int]?, scale: Float, layout: AttentionLayout
  ) -> [Tensor?] {
    let (lengthL, lengthS) = (layout.targetLength, layout.sourceLength)
    let (embedding, valueEmbedding) = (layout.embedding, layout.valueEmbedding)
    let batchShape = layout.batchShape
    // Unpacked gradients are dense per broadcast batch and summed to each operand's shape at the end; packed ones
    // take the operands' own layout.
    let packed = layout.packed
    let shared = layout.sharesOperand && needs.query ? Tensor(uninitializedShape: layout.queryShape) : nil
    func gradient(_ needed: Bool, packedShape: [Int], rows: Int, columns: Int) -> Tensor? {
      guard needed else { return nil }
      return shared ?? Tensor(uninitializedShape: packed ? packedShape : batchShape + [rows, columns])
    }
    let queryGrad = gradient(needs.query, packedShape: layout.queryShape, rows: lengthL, columns: embedding)
    let keyGrad = gradient(needs.key, packedShape: layout.keyShape, rows: lengthS, columns: embedding)
    let valueGrad = gradient(needs.value, packedShape: layout.valueShape, rows: lengthS, columns: valueEmbedding)
    let (queryGradStride, keyGradStride, valueGradStride) =
      packed
      ? (layout.queryRowStride, layout.keyRowStride, layout.valueRowStride) : (embedding, embedding, valueEmbedding)
    let scoreGrad =
      needs.query || needs.key || biasShape != nil ? Tensor(uninitializedShape: probabilities.shape) : nil
    let (q, k, v) = (saved.query.data, saved.key.data, saved.value.data)
    let (weights, g) = (probabilities.data, grad.data)
    layout.forEachBatch { batch, rowsInParallel in
      let (p, outputGrad) = (weights + batch * lengthL * lengthS, g + layout.outputOffsets[batch])
      let gradStride = layout.outputRowStride
      if let valueGrad {
        gemm(
          transposeA: true, transposeB: false, m: lengthS, n: valueEmbedding, k: lengthL, alpha: 1, a: p,
          lda: lengthS, b: outputGrad, ldb: gradStride,
          c: valueGrad.mutableData + (packed ? layout.valueOffsets[batch] : batch * lengthS * valueEmbedding),
          ldc: valueGradStride)
      }
      guard let scoreGrad else { return }
      let ds = scoreGrad.mutableData + batch * lengthL * lengthS
      gemm(
        transposeA: false, transposeB: true, m: lengthL, n: lengthS, k: valueEmbedding, alpha: 1, a: outputGrad,
        lda: gradStride, b: v + layout.valueOffsets[batch], ldb: layout.valueRowStride, c: ds, ldc: lengthS)
      func softmaxBackwardRow(_ row: Int) {
        let (probabilityRow, gradRow) = (p + row * lengthS, ds + row * lengthS)
        var projection: Float = 0
        for column in 0..<lengthS { projection += probabilityRow[column] * gradRow[column] }
        for column in 0..<lengthS { gradRow[column] = probabilityRow[column] * (gradRow[column] - projection) }
      }
      if rowsInParallel {
        Parallel.forEach(lengthL, costPerItem: lengthS * 3, softmaxBackwardRow)
      } else {
        for row in 0..<lengthL { softmaxBackwardRow(row) }
      }
      if let queryGrad {
        gemm(
          transposeA: false, transposeB: false, m: lengthL, n: embedding, k: lengthS, alpha: scale, a: ds,
          lda: lengthS, b: k + layout.keyOffsets[batch], ldb: layout.keyRowStride,
          c: queryGrad.mutableData + (packed ? layout.queryOffsets[batch] : batch * lengthL * embedding),
          ldc: queryGradStride)
      }
      if let keyGrad {
        gemm(
          transposeA: true, transposeB: false, m: lengthS, n: embedding, k: lengthL, alpha: scale, a: ds,
          lda: lengthS, b: q + layout.queryOffsets[batch], ldb: layout.queryRowStride,
          c: keyGrad.mutableData + (packed ? layout.keyOffsets[batch] : batch * lengthS * embedding),
          ldc: keyGradStride)
      }
    }
    let biasGrad = biasShape.flatMap { shape in scoreGrad.map { $0.sum(toShape: shape) } }
    if shared != nil { return [shared, nil, nil, biasGrad] }
    if packed { return [queryGrad, keyGrad, valueGrad, biasGrad] }
    return [
      queryGrad?.sum(toShape: layout.queryShape), keyGrad?.sum(toShape: layout.keyShape),
      valueGrad?.sum(toShape: layout.valueShape), biasGrad,
    ]
  }

  /// Zeroes each element with probability `probability` and scales the rest by 1/(1 − p), in training only.
  /// The mask comes from `generator`, so a seeded run is reproducible; the gradient passes through the same mask.
  /// Any shape; the result has the shape of `self`.
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
