import Foundation

/// GLIP's bidirectional cross-attention (X-MHA) as one fused, streaming kernel for inference.
extension Tensor {
  /// Both directions of GLIP's X-MHA on packed heads, without materialising the `[B, heads, N, M]` score maps.
  ///
  /// Per batch element and head, with S = clamp(scale · Q Kᵀ, ±`clampBound`) (`N × M`):
  /// - image attends text: `visual = softmax_M(S + textMask) · textValues`;
  /// - text attends image: `text = softmax_N(Sᵀ) · visualValues`.
  ///
  /// The image rows are taken `rowsPerBlock` at a time: each block's scores are made by one GEMM, normalised row by
  /// row for the image side, and folded into the text side by an online softmax over the image axis (a running
  /// column maximum and sum, with the accumulated text output rescaled when the maximum grows). Memory is one
  /// block's scores per head instead of two full maps, and each block is used while it is in cache. The values are
  /// those of the two-pass formulation up to float rounding: GLIP's second clamp, of Sᵀ minus its row maximum at
  /// −50000, only touches entries whose exponential underflows to 0 anyway.
  ///
  /// Forward only: callers use it where no gradient is recorded and no dropout applies.
  ///
  /// - Parameters:
  ///   - query: `[B, N, heads·E]`, head h in columns h·E..<(h+1)·E.
  ///   - key: `[B, M, heads·E]`.
  ///   - visualValues: `[B, N, heads·Ev]`.
  ///   - textValues: `[B, M, heads·Ev]`.
  ///   - textMask: additive `[B, M]`, added to the image side's scores only.
  /// - Returns: visual `[B, N, heads·Ev]` and text `[B, M, heads·Ev]`, heads packed the same way.
  public static func bidirectionalAttention(
    query: Tensor, key: Tensor, visualValues: Tensor, textValues: Tensor, textMask: Tensor, heads: Int,
    scale: Float, clampBound: Float = 50000, rowsPerBlock: Int = 256
  ) -> (visual: Tensor, text: Tensor) {
    let layout = BidirectionalLayout(
      query: query.shape, key: key.shape, visualValues: visualValues.shape, textValues: textValues.shape,
      textMask: textMask.shape, heads: heads)
    let visual = Tensor(uninitializedShape: [layout.batch, layout.pixels, heads * layout.valueWidth])
    let text = Tensor(uninitializedShape: [layout.batch, layout.tokens, heads * layout.valueWidth])
    let operands = BidirectionalOperands(
      query: query.data, key: key.data, visualValues: visualValues.data, textValues: textValues.data,
      textMask: textMask.data, visualOutput: visual.mutableData, textOutput: text.mutableData)
    let blockRows = Swift.max(1, Swift.min(rowsPerBlock, layout.pixels))
    Parallel.forEachBalanced(layout.batch * heads) { item in
      let stream = BidirectionalStream(layout: layout, blockRows: blockRows, scale: scale, clampBound: clampBound)
      stream.run(batch: item / heads, head: item % heads, operands)
    }
    return (visual, text)
  }
}

/// Sizes and packed-head strides of one bidirectional attention call.
struct BidirectionalLayout {
  let batch: Int, pixels: Int, tokens: Int, heads: Int, width: Int, valueWidth: Int

  init(query: [Int], key: [Int], visualValues: [Int], textValues: [Int], textMask: [Int], heads: Int) {
    precondition(
      query.count == 3 && key.count == 3 && visualValues.count == 3 && textValues.count == 3 && heads > 0,
      "bidirectionalAttention: expected rank-3 packed operands and heads > 0, got query \(query), key \(key), "
        + "values \(visualValues), \(textValues), heads \(heads)")
    let (batch, pixels, tokens) = (query[0], query[1], key[1])
    precondition(
      query[2] % heads == 0 && key[2] == query[2] && visualValues[2] % heads == 0
        && textValues[2] == visualValues[2] && [key[0], visualValues[0], textValues[0]].allSatisfy { $0 == batch }
        && visualValues[1] == pixels && textValues[1] == tokens && textMask == [batch, tokens],
      "bidirectionalAttention: expected query [B, N, heads·E], key [B, M, heads·E], visual values [B, N, heads·Ev], "
        + "text values [B, M, heads·Ev] and mask [B, M] with \(heads) heads; got \(query), \(key), \(visualValues), "
        + "\(textValues), \(textMask)")
    (self.batch, self.pixels, self.tokens, self.heads) = (batch, pixels, tokens, heads)
    (width, valueWidth) = (query[2] / heads, visualValues[2] / heads)
  }
}

/// Raw pointers of one call's operands and outputs.
struct BidirectionalOperands: @unchecked Sendable {
  let query: UnsafePointer<Float>, key: UnsafePointer<Float>
  let visualValues: UnsafePointer<Float>, textValues: UnsafePointer<Float>, textMask: UnsafePointer<Float>
  let visualOutput: UnsafeMutablePointer<Float>, textOutput: UnsafeMutablePointer<Float>
}

/// One (batch element, head) pass over the image rows: the block buffers and the text side's running softmax.
final class BidirectionalStream {
  let layout: BidirectionalLayout
  let blockRows: Int, scale: Float, clampBound: Float
  /// `[blockRows, M]` scores, normalised in place into the image side's probabilities.
  let scores: UnsafeMutablePointer<Float>
  /// `[blockRows, M]` exponentials of the text side, relative to the running column maximum.
  let textWeights: UnsafeMutablePointer<Float>
  /// `[M, Ev]` unnormalised text output.
  let textAccumulator: UnsafeMutablePointer<Float>
  /// `[M]` each token's running maximum over the image rows so far, the block's, and the running sum.
  let columnMaximum: UnsafeMutablePointer<Float>, blockMaximum: UnsafeMutablePointer<Float>
  let columnSum: UnsafeMutablePointer<Float>

  init(layout: BidirectionalLayout, blockRows: Int, scale: Float, clampBound: Float) {
    self.layout = layout
    (self.blockRows, self.scale, self.clampBound) = (blockRows, scale, clampBound)
    let tokens = layout.tokens
    scores = .allocate(capacity: blockRows * tokens)
    textWeights = .allocate(capacity: blockRows * tokens)
    textAccumulator = .allocate(capacity: tokens * layout.valueWidth)
    textAccumulator.initialize(repeating: 0, count: tokens * layout.valueWidth)
    columnMaximum = .allocate(capacity: tokens)
    columnMaximum.initialize(repeating: -.infinity, count: tokens)
    blockMaximum = .allocate(capacity: tokens)
    columnSum = .allocate(capacity: tokens)
    columnSum.initialize(repeating: 0, count: tokens)
  }

  deinit {
    for buffer in [scores, textWeights, textAccumulator, columnMaximum, blockMaximum, columnSum] {
      buffer.deallocate()
    }
  }

  func run(batch: Int, head: Int, _ operands: BidirectionalOperands) {
    let (pixels, tokens, heads) = (layout.pixels, layout.tokens, layout.heads)
    let (queryStride, valueStride) = (heads * layout.width, heads * layout.valueWidth)
    let query = operands.query + batch * pixels * queryStride + head * layout.width
    let key = operands.key + batch * tokens * queryStride + head * layout.width
    let visualValues = operands.visualValues + batch * pixels * valueStride + head * layout.valueWidth
    let textValues = operands.textValues + batch * tokens * valueStride + head * layout.valueWidth
    let visualOutput = operands.visualOutput + batch * pixels * valueStride + head * layout.valueWidth
    let mask = operands.textMask + batch * tokens
    for start in stride(from: 0, to: pixels, by: blockRows) {
      let rows = Swift.min(blockRows, pixels - start)
      Tensor.gemm(
        transposeA: false, transposeB: true, m: rows, n: tokens, k: layout.width, alpha: scale,
        a: query + start * queryStride, lda: queryStride, b: key, ldb: queryStride, c: scores, ldc: tokens)
      clampScores(count: rows * tokens)
      foldTextSide(rows: rows, visualValues: visualValues + start * valueStride)
      for row in 0..<rows {
        Tensor.softmaxRowInPlace(scores + row * tokens, count: tokens, mask: mask, maskStride: 1)
      }
      Tensor.gemm(
        transposeA: false, transposeB: false, m: rows, n: layout.valueWidth, k: tokens, a: scores, lda: tokens,
        b: textValues, ldb: valueStride, c: visualOutput + start * valueStride, ldc: valueStride)
    }
    writeTextOutput(operands.textOutput + batch * tokens * valueStride + head * layout.valueWidth)
  }

  private func clampScores(count: Int) {
    let bound = clampBound
    for index in 0..<count { scores[index] = Swift.min(Swift.max(scores[index], -bound), bound) }
  }

  /// Adds a block of image rows to the text side: raises each token's running maximum, rescales what was summed
  /// under the old one, and accumulates exp(S − maximum) and its product with the block's visual values.
  private func foldTextSide(rows: Int, visualValues: UnsafePointer<Float>) {
    let (tokens, valueWidth) = (layout.tokens, layout.valueWidth)
    blockMaximum.update(from: columnMaximum, count: tokens)
    for row in 0..<rows {
      let line = scores + row * tokens
      for token in 0..<tokens { blockMaximum[token] = Swift.max(blockMaximum[token], line[token]) }
    }
    for token in 0..<tokens where blockMaximum[token] > columnMaximum[token] {
      let correction = Tensor.fastExp(columnMaximum[token] - blockMaximum[token])
      columnSum[token] *= correction
      let line = textAccumulator + token * valueWidth
      for column in 0..<valueWidth { line[column] *= correction }
      columnMaximum[token] = blockMaximum[token]
    }
    for row in 0..<rows {
      let (line, weights) = (scores + row * tokens, textWeights + row * tokens)
      for token in 0..<tokens {
        let weight = Tensor.fastExp(line[token] - columnMaximum[token])
        weights[token] = weight
        columnSum[token] += weight
      }
    }
    Tensor.gemm(
      transposeA: true, transposeB: false, m: tokens, n: valueWidth, k: rows, a: textWeights, lda: tokens,
      b: visualValues, ldb: layout.heads * valueWidth, beta: 1, c: textAccumulator, ldc: valueWidth)
  }

  private func writeTextOutput(_ output: UnsafeMutablePointer<Float>) {
    let (valueWidth, stride) = (layout.valueWidth, layout.heads * layout.valueWidth)
    for token in 0..<layout.tokens {
      let inverse = 1 / columnSum[token]
      for column in 0..<valueWidth {
        output[token * stride + column] = textAccumulator[token * valueWidth + column] * inverse
      }
    }
  }
}
