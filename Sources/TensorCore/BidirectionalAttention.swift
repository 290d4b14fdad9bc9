import Foundation

/// GLIP's bidirectional cross-attention (X-MHA) as one fused, streaming kernel for inference.
extension Tensor {
  /// A linear map's weight `[out, in]` and optional bias `[out]`, as `Tensor.linear` takes them.
  public struct LinearWeights {
    public let weight: Tensor, bias: Tensor?

    public init(weight: Tensor, bias: Tensor?) {
      precondition(
        weight.rank == 2 && (bias == nil || bias!.shape == [weight.shape[0]]),
        "LinearWeights: expected weight [out, in] and bias [out], got \(weight.shape), \(bias?.shape ?? [])")
      (self.weight, self.bias) = (weight, bias)
    }
  }

  /// Both directions of GLIP's X-MHA, with the image side's projections, without materialising the
  /// `[B, heads, N, M]` score maps or the `[B, N, heads·E]` projections.
  ///
  /// With Q = W_q V + b_q, V_v = W_vv V + b_vv and per batch element and head S = clamp(scale · Q Kᵀ, ±`clampBound`)
  /// (`N × M`):
  /// - image attends text: `Δv = W_out (softmax_M(S + textMask) · textValues) + b_out`;
  /// - text attends image: `text = softmax_N(Sᵀ) · V_v` (its output projection is left to the caller).
  ///
  /// The image rows are taken a chunk at a time: the chunk's query and value projections, and at the end its output
  /// projection, are each one product over the cores (on oneDNN where it is faster). Within the chunk, blocks of
  /// `rowsPerBlock` rows are shared out among the cores: each block's scores and image-side softmax are made while
  /// the block is in cache, and the text side folds it in by an online softmax over the image axis (a running column
  /// maximum and sum, the accumulated output rescaled when the maximum grows). Each group of blocks keeps its own
  /// running text state; the groups are merged the same way at the end. Memory is the chunk's projections and a few
  /// block-sized buffers per group. The values are those of the two-pass formulation up to float rounding: GLIP's
  /// second clamp, of Sᵀ minus its row maximum at −50000, only touches entries whose exponential underflows to 0
  /// anyway.
  ///
  /// Forward only: callers use it where no gradient is recorded and no dropout applies.
  ///
  /// - Parameters:
  ///   - visual: `[B, N, Dv]`, the normalised image sequence.
  ///   - key: `[B, M, heads·E]`, the projected text keys; head h in columns h·E..<(h+1)·E.
  ///   - textValues: `[B, M, heads·Ev]`.
  ///   - textMask: additive `[B, M]`, added to the image side's scores only.
  ///   - query: W_q `[heads·E, Dv]`; `visualValues`: W_vv `[heads·Ev, Dv]`; `output`: W_out `[Do, heads·Ev]`.
  /// - Returns: Δv `[B, N, Do]` and the text side `[B, M, heads·Ev]`.
  public static func bidirectionalAttention(
    visual: Tensor, key: Tensor, textValues: Tensor, textMask: Tensor, query: LinearWeights,
    visualValues: LinearWeights, output: LinearWeights, heads: Int, scale: Float, clampBound: Float = 50000,
    rowsPerBlock: Int = 256
  ) -> (visual: Tensor, text: Tensor) {
    let layout = BidirectionalLayout(
      visual: visual.shape, key: key.shape, textValues: textValues.shape, textMask: textMask.shape, query: query,
      visualValues: visualValues, output: output, heads: heads)
    let visualOutput = Tensor(uninitializedShape: [layout.batch, layout.pixels, layout.outputWidth])
    let textOutput = Tensor(uninitializedShape: [layout.batch, layout.tokens, heads * layout.valueWidth])
    let operands = BidirectionalOperands(
      visual: visual.data, key: key.data, textValues: textValues.data, textMask: textMask.data,
      query: (query.weight.data, query.bias?.data), visualValues: (visualValues.weight.data, visualValues.bias?.data),
      output: (output.weight.data, output.bias?.data), visualOutput: visualOutput.mutableData,
      textOutput: textOutput.mutableData)
    let blockRows = Swift.max(1, Swift.min(rowsPerBlock, layout.pixels))
    let blocks = (layout.pixels + blockRows - 1) / blockRows
    // More groups than cores, so a core that is shared with other work holds up a small group, not half the rows.
    let groups = Swift.min(blocks, 2 * Parallel.coreCount)
    let chunk = BidirectionalChunk(layout: layout, rows: Swift.min(layout.pixels, 2 * groups * blockRows))
    withExtendedLifetime((query, visualValues, output)) {
      for batch in 0..<layout.batch {
        let streams = (0..<groups).map { _ in
          BidirectionalStream(layout: layout, blockRows: blockRows, scale: scale, clampBound: clampBound)
        }
        for chunkStart in stride(from: 0, to: layout.pixels, by: chunk.capacity) {
          let rows = chunkStart..<Swift.min(chunkStart + chunk.capacity, layout.pixels)
          chunk.project(rows: rows, batch: batch, operands)
          let chunkBlocks = (rows.count + blockRows - 1) / blockRows
          Parallel.forEachBalanced(groups) { group in
            for block in (chunkBlocks * group / groups)..<(chunkBlocks * (group + 1) / groups) {
              let start = block * blockRows
              streams[group].add(
                rows: start..<Swift.min(start + blockRows, rows.count), of: chunk, batch: batch, operands)
            }
          }
          chunk.writeVisual(rows: rows, batch: batch, operands)
        }
        BidirectionalStream.writeText(merging: streams, batch: batch, into: operands.textOutput)
      }
    }
    return (visualOutput, textOutput)
  }
}

/// Sizes and packed-head strides of one bidirectional attention call.
struct BidirectionalLayout {
  let batch: Int, pixels: Int, tokens: Int, heads: Int
  /// Visual channels in, per-head query/key width, per-head value width, and visual channels out.
  let visualWidth: Int, width: Int, valueWidth: Int, outputWidth: Int

  init(
    visual: [Int], key: [Int], textValues: [Int], textMask: [Int], query: Tensor.LinearWeights,
    visualValues: Tensor.LinearWeights, output: Tensor.LinearWeights, heads: Int
  ) {
    precondition(
      visual.count == 3 && key.count == 3 && textValues.count == 3 && heads > 0,
      "bidirectionalAttention: expected rank-3 visual, key and text values and heads > 0, got \(visual), \(key), "
        + "\(textValues), heads \(heads)")
    let (batch, pixels, tokens) = (visual[0], visual[1], key[1])
    let (queryShape, valueShape, outputShape) = (query.weight.shape, visualValues.weight.shape, output.weight.shape)
    precondition(
      key[2] % heads == 0 && textValues[2] % heads == 0 && key[0] == batch && textValues[0] == batch
        && textValues[1] == tokens && textMask == [batch, tokens] && queryShape == [key[2], visual[2]]
        && valueShape == [textValues[2], visual[2]] && outputShape[1] == textValues[2],
      "bidirectionalAttention: expected visual [B, N, Dv], key [B, M, heads·E], text values [B, M, heads·Ev], mask "
        + "[B, M], query weight [heads·E, Dv], value weight [heads·Ev, Dv] and output weight [Do, heads·Ev] with "
        + "\(heads) heads; got \(visual), \(key), \(textValues), \(textMask), \(queryShape), \(valueShape), "
        + "\(outputShape)")
    (self.batch, self.pixels, self.tokens, self.heads) = (batch, pixels, tokens, heads)
    (visualWidth, width, valueWidth, outputWidth) = (visual[2], key[2] / heads, textValues[2] / heads, outputShape[0])
  }
}

/// Raw pointers of one call's operands, weights and outputs.
struct BidirectionalOperands: @unchecked Sendable {
  let visual: UnsafePointer<Float>, key: UnsafePointer<Float>
  let textValues: UnsafePointer<Float>, textMask: UnsafePointer<Float>
  let query: (weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?)
  let visualValues: (weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?)
  let output: (weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?)
  let visualOutput: UnsafeMutablePointer<Float>, textOutput: UnsafeMutablePointer<Float>
}

/// A chunk of image rows of one batch element: its projections, made for the whole chunk as one product each.
final class BidirectionalChunk: @unchecked Sendable {
  let layout: BidirectionalLayout
  let capacity: Int
  /// `[capacity, heads·E]` queries and `[capacity, heads·Ev]` visual values of the chunk's rows.
  let queries: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>
  /// `[capacity, heads·Ev]` image-side attention output, before the output projection.
  let attended: UnsafeMutablePointer<Float>
  /// The three buffers' memory, from the pool: 16 MB each at GLIP's width, fresh pages on every call from `malloc`.
  private let buffers: [PooledScratch<Float>]

  init(layout: BidirectionalLayout, rows: Int) {
    self.layout = layout
    capacity = Swift.max(1, rows)
    buffers = [
      PooledScratch(count: capacity * layout.heads * layout.width),
      PooledScratch(count: capacity * layout.heads * layout.valueWidth),
      PooledScratch(count: capacity * layout.heads * layout.valueWidth),
    ]
    (queries, values, attended) = (buffers[0].pointer, buffers[1].pointer, buffers[2].pointer)
  }

  var queryStride: Int { layout.heads * layout.width }
  var valueStride: Int { layout.heads * layout.valueWidth }

  /// Queries and visual values of image rows `rows` of batch element `batch`.
  func project(rows: Range<Int>, batch: Int, _ operands: BidirectionalOperands) {
    let visual = operands.visual + (batch * layout.pixels + rows.lowerBound) * layout.visualWidth
    Self.linear(visual, rows: rows.count, inputWidth: layout.visualWidth, operands.query, into: queries, queryStride)
    Self.linear(
      visual, rows: rows.count, inputWidth: layout.visualWidth, operands.visualValues, into: values, valueStride)
  }

  /// Δv of image rows `rows`: the attended values through the output projection.
  func writeVisual(rows: Range<Int>, batch: Int, _ operands: BidirectionalOperands) {
    Self.linear(
      attended, rows: rows.count, inputWidth: valueStride, operands.output,
      into: operands.visualOutput + (batch * layout.pixels + rows.lowerBound) * layout.outputWidth,
      layout.outputWidth)
  }

  /// `output[rows, width] = input · Wᵀ + b` with `input` `[rows, inputWidth]` and a weight `[width, inputWidth]`.
  private static func linear(
    _ input: UnsafePointer<Float>, rows: Int, inputWidth: Int,
    _ linear: (weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?), into output: UnsafeMutablePointer<Float>,
    _ width: Int
  ) {
    Tensor.gemm(
      transposeA: false, transposeB: true, m: rows, n: width, k: inputWidth, a: input, lda: inputWidth,
      b: linear.weight, ldb: inputWidth, c: output, ldc: width, rowBias: linear.bias)
  }
}

/// One group of image-row blocks of one batch element: the block's score buffers, and each head's running text
/// softmax.
final class BidirectionalStream: @unchecked Sendable {
  let layout: BidirectionalLayout
  let blockRows: Int, scale: Float, clampBound: Float
  /// `[blockRows, M]` scores, normalised in place into the image side's probabilities.
  let scores: UnsafeMutablePointer<Float>
  /// `[blockRows, M]` exponentials of the text side, relative to the running column maximum.
  let textWeights: UnsafeMutablePointer<Float>
  /// `[heads, M, Ev]` unnormalised text output.
  let textAccumulator: UnsafeMutablePointer<Float>
  /// `[heads, M]` each token's running maximum over this group's rows, and the running sum; `[M]` a block's maxima.
  let columnMaximum: UnsafeMutablePointer<Float>, columnSum: UnsafeMutablePointer<Float>
  let blockMaximum: UnsafeMutablePointer<Float>

  init(layout: BidirectionalLayout, blockRows: Int, scale: Float, clampBound: Float) {
    self.layout = layout
    (self.blockRows, self.scale, self.clampBound) = (blockRows, scale, clampBound)
    let (tokens, heads) = (layout.tokens, layout.heads)
    scores = .allocate(capacity: blockRows * tokens)
    textWeights = .allocate(capacity: blockRows * tokens)
    textAccumulator = .allocate(capacity: heads * tokens * layout.valueWidth)
    textAccumulator.initialize(repeating: 0, count: heads * tokens * layout.valueWidth)
    columnMaximum = .allocate(capacity: heads * tokens)
    columnMaximum.initialize(repeating: -.infinity, count: heads * tokens)
    columnSum = .allocate(capacity: heads * tokens)
    columnSum.initialize(repeating: 0, count: heads * tokens)
    blockMaximum = .allocate(capacity: tokens)
  }

  deinit {
    for buffer in [scores, textWeights, textAccumulator, columnMaximum, columnSum, blockMaximum] {
      buffer.deallocate()
    }
  }

  /// Rows `rows` of `chunk` (of batch element `batch`): both attention sides for every head, from the chunk's
  /// projections; the image side goes into the chunk's attended values.
  func add(rows: Range<Int>, of chunk: BidirectionalChunk, batch: Int, _ operands: BidirectionalOperands) {
    let (tokens, heads) = (layout.tokens, layout.heads)
    let (queryStride, valueStride) = (chunk.queryStride, chunk.valueStride)
    let count = rows.count
    let queries = chunk.queries + rows.lowerBound * queryStride
    let values = chunk.values + rows.lowerBound * valueStride
    let attended = chunk.attended + rows.lowerBound * valueStride
    let mask = operands.textMask + batch * tokens
    for head in 0..<heads {
      Tensor.gemm(
        transposeA: false, transposeB: true, m: count, n: tokens, k: layout.width, alpha: scale,
        a: queries + head * layout.width, lda: queryStride,
        b: operands.key + batch * tokens * queryStride + head * layout.width, ldb: queryStride, c: scores,
        ldc: tokens)
      clampScores(count: count * tokens)
      foldTextSide(rows: count, head: head, visualValues: values + head * layout.valueWidth)
      for row in 0..<count {
        Tensor.softmaxRowInPlace(scores + row * tokens, count: tokens, mask: mask, maskStride: 1)
      }
      Tensor.gemm(
        transposeA: false, transposeB: false, m: count, n: layout.valueWidth, k: tokens, a: scores, lda: tokens,
        b: operands.textValues + batch * tokens * valueStride + head * layout.valueWidth, ldb: valueStride,
        c: attended + head * layout.valueWidth, ldc: valueStride)
    }
  }

  private func clampScores(count: Int) {
    let bound = clampBound
    for index in 0..<count { scores[index] = Swift.min(Swift.max(scores[index], -bound), bound) }
  }

  /// Adds a block of image rows to head `head`'s text side: raises each token's running maximum, rescales what was
  /// summed under the old one, and accumulates exp(S − maximum) and its product with the block's visual values.
  private func foldTextSide(rows: Int, head: Int, visualValues: UnsafePointer<Float>) {
    let (tokens, valueWidth) = (layout.tokens, layout.valueWidth)
    let (maximum, sum) = (columnMaximum + head * tokens, columnSum + head * tokens)
    let accumulator = textAccumulator + head * tokens * valueWidth
    blockMaximum.update(from: maximum, count: tokens)
    for row in 0..<rows {
      let line = scores + row * tokens
      for token in 0..<tokens { blockMaximum[token] = Swift.max(blockMaximum[token], line[token]) }
    }
    for token in 0..<tokens where blockMaximum[token] > maximum[token] {
      let correction = Tensor.fastExp(maximum[token] - blockMaximum[token])
      sum[token] *= correction
      let line = accumulator + token * valueWidth
      for column in 0..<valueWidth { line[column] *= correction }
      maximum[token] = blockMaximum[token]
    }
    for row in 0..<rows {
      let (line, weights) = (scores + row * tokens, textWeights + row * tokens)
      for token in 0..<tokens {
        let weight = Tensor.fastExp(line[token] - maximum[token])
        weights[token] = weight
        sum[token] += weight
      }
    }
    Tensor.gemm(
      transposeA: true, transposeB: false, m: tokens, n: valueWidth, k: rows, a: textWeights, lda: tokens,
      b: visualValues, ldb: layout.heads * valueWidth, beta: 1, c: accumulator, ldc: valueWidth)
  }

  /// Merges the groups' running text softmaxes (rescaling each to the common maximum) and writes batch element
  /// `batch`'s normalised text side `[M, heads·Ev]`.
  static func writeText(
    merging streams: [BidirectionalStream], batch: Int, into output: UnsafeMutablePointer<Float>
  ) {
    let layout = streams[0].layout
    let (tokens, heads, valueWidth) = (layout.tokens, layout.heads, layout.valueWidth)
    let target = output + batch * tokens * heads * valueWidth
    var line = [Float](repeating: 0, count: valueWidth)
    for head in 0..<heads {
      for token in 0..<tokens {
        let state = head * tokens + token
        let maximum = streams.map { $0.columnMaximum[state] }.max()!
        var total: Float = 0
        for column in 0..<valueWidth { line[column] = 0 }
        for stream in streams where stream.columnMaximum[state] > -.infinity {
          let factor = Tensor.fastExp(stream.columnMaximum[state] - maximum)
          total += stream.columnSum[state] * factor
          let partial = stream.textAccumulator + state * valueWidth
          for column in 0..<valueWidth { line[column] += partial[column] * factor }
        }
        let destination = target + token * heads * valueWidth + head * valueWidth
        for column in 0..<valueWidth { destination[column] = line[column] / total }
      }
    }
  }
}
