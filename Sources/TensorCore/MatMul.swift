import COpenBLAS

/// Matrix products on OpenBLAS, or on oneDNN where `KernelBackend.products` chooses it. Transposes are passed as
/// flags (or strides), never materialised.
extension Tensor {
  /// Row-major `C = alpha · op(A) · op(B) + beta · C` on raw pointers.
  ///
  /// `rowBias` (`[n]`, with `beta` 0) is added to every row of C. Outside a parallel region a product that
  /// `OneDNNMatMul.prefers` runs on oneDNN when it is loaded.
  /// OpenBLAS itself runs single-threaded (see `BLAS`): a large product is cut into column (or row) blocks of C,
  /// each an independent single-threaded sgemm, which the cores take as they come free. OpenBLAS's own threads
  /// synchronise inside every product by spinning on `sched_yield`; on a machine whose cores are shared with other
  /// work that spinning cost up to 60% of a convolution's time, while independent blocks need no synchronisation
  /// but the final join. Each element of C comes from one sgemm call over the whole inner dimension, so the result
  /// does not depend on which thread computed it.
  static func gemm(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, rowBias: UnsafePointer<Float>? = nil,
    packableWeight: Tensor? = nil
  ) {
    precondition(rowBias == nil || beta == 0, "gemm: a row bias replaces C, so beta must be 0")
    guard m > 0, n > 0 else { return }
    let packs = packableWeight != nil && m <= OneDNNMatMul.packedWeightRows
    if k > 0, beta == 0, !BLAS.isInParallelRegion,
      oneDNNProduct(
        OneDNNMatMul.Key(
          transposeA, transposeB, m, n, k, lda, ldb, ldc, hasBias: rowBias != nil, packsWeights: packs),
        alpha: alpha, a: a, b: b, c: c, bias: rowBias, weight: packs ? packableWeight : nil)
    {
      StageClock.countProduct(m: m, n: n, k: k)
      return
    }
    var beta = beta
    if let rowBias {
      for row in 0..<m { (c + row * ldc).update(from: rowBias, count: n) }
      beta = 1
    }
    guard k > 0 else {
      if beta == 0 { for row in 0..<m { (c + row * ldc).update(repeating: 0, count: n) } }
      return
    }
    StageClock.countProduct(m: m, n: n, k: k)
    BLAS.configure()
    let plan = GemmBlocks(m: m, n: n, k: k)
    guard plan.count > 1, !BLAS.isInParallelRegion else {
      sgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
      return
    }
    Parallel.forEachBalanced(plan.count) { block in
      let range = plan.range(block)
      if plan.alongColumns {
        // Columns s..<e of C need columns s..<e of op(B): column s of B, or row s of Bᵀ.
        sgemm(
          transposeA, transposeB, m, range.count, k, alpha, a, lda,
          b + (transposeB ? range.lowerBound * ldb : range.lowerBound), ldb, beta, c + range.lowerBound, ldc)
      } else {
        sgemm(
          transposeA, transposeB, range.count, n, k, alpha,
          a + (transposeA ? range.lowerBound : range.lowerBound * lda), lda, b, ldb, beta,
          c + range.lowerBound * ldc, ldc)
      }
    }
  }

  @inline(__always)
  private static func sgemm(
    _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int
  ) {
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// How a product is cut into blocks of C: along its longer side (each block packs the other operand again, so
  /// the one packed repeatedly is the smaller), two blocks per core, each at least 64 wide and a multiple of 16
  /// (the micro-kernels' width). Products under 2²¹ multiply-adds stay whole.
  struct GemmBlocks {
    let alongColumns: Bool
    let extent: Int, step: Int, count: Int

    init(m: Int, n: Int, k: Int) {
      alongColumns = n >= m
      extent = alongColumns ? n : m
      let blocks = m * n * k < 1 << 21 ? 1 : Swift.min(2 * Parallel.coreCount, extent / 64)
      guard blocks > 1 else {
        (step, count) = (extent, 1)
        return
      }
      step = ((extent + blocks - 1) / blocks + 15) / 16 * 16
      count = (extent + step - 1) / step
    }

    func range(_ block: Int) -> Range<Int> { (block * step)..<Swift.min(extent, (block + 1) * step) }
  }

  /// Matrix product with `torch.matmul` semantics.
  ///
  /// - 1-D · 1-D: dot product (0-d result).
  /// - 2-D · 2-D: `[m, k] · [k, n] → [m, n]`.
  /// - A 1-D operand is promoted to a matrix (a row on the left, a column on the right) and the added axis removed.
  /// - N-D: batched over the leading axes, which broadcast: `[2, 1, m, k] · [5, k, n] → [2, 5, m, n]`.
  public func matmul(_ other: Tensor) -> Tensor {
    precondition(
      rank >= 1 && other.rank >= 1, "matmul: operands must have at least 1 dimension, got \(shape) and \(other.shape)")
    if rank == 1 && other.rank == 1 {
      return reshaped([1, count]).matmul(other.reshaped([other.count, 1])).reshaped([])
    }
    if rank == 1 {
      let result = reshaped([1, count]).matmul(other)
      return result.reshaped(Array(result.shape.dropLast(2)) + [result.shape.last!])
    }
    if other.rank == 1 {
      return matmul(other.reshaped([other.count, 1])).reshaped(Array(shape.dropLast()))
    }
    let lhs = self, rhs = other
    let output = Tensor.batchedProduct(lhs, rhs, transposeLhs: false, transposeRhs: false)
    return Tensor.record("matmul", output: output, inputs: [lhs, rhs]) { grad in
      [
        lhs.requiresGrad
          ? Tensor.batchedProduct(grad, rhs, transposeLhs: false, transposeRhs: true).sum(toShape: lhs.shape) : nil,
        rhs.requiresGrad ? Tensor.rhsGradient(lhs: lhs, grad: grad, rhsShape: rhs.shape) : nil,
      ]
    }
  }

  /// d(A·B)/dB = Aᵀ·G, summed over broadcast batch axes; a matrix B with a batched A takes one folded GEMM.
  private static func rhsGradient(lhs: Tensor, grad: Tensor, rhsShape: [Int]) -> Tensor {
    if rhsShape.count == 2 && !lhs.shape.dropLast(2).isEmpty {
      let (k, n) = (rhsShape[0], rhsShape[1])
      let rows = lhs.count / k
      let result = Tensor(uninitializedShape: rhsShape)
      gemm(
        transposeA: true, transposeB: false, m: k, n: n, k: rows, a: lhs.data, lda: k, b: grad.data, ldb: n,
        c: result.mutableData, ldc: n)
      return result
    }
    return batchedProduct(lhs, grad, transposeLhs: true, transposeRhs: false).sum(toShape: rhsShape)
  }

  /// `op(lhs) · op(rhs)` over broadcast batch axes, for operands of rank ≥ 2. No autograd.
  static func batchedProduct(_ lhs: Tensor, _ rhs: Tensor, transposeLhs: Bool, transposeRhs: Bool) -> Tensor {
    let (lhsRows, lhsColumns) = (lhs.shape[lhs.rank - 2], lhs.shape[lhs.rank - 1])
    let (rhsRows, rhsColumns) = (rhs.shape[rhs.rank - 2], rhs.shape[rhs.rank - 1])
    let (m, k) = transposeLhs ? (lhsColumns, lhsRows) : (lhsRows, lhsColumns)
    let (rhsK, n) = transposeRhs ? (rhsColumns, rhsRows) : (rhsRows, rhsColumns)
    precondition(
      k == rhsK,
      "matmul: inner dimensions differ: \(lhs.shape)\(transposeLhs ? "ᵀ" : "") · \(rhs.shape)\(transposeRhs ? "ᵀ" : "")"
    )
    let lhsBatch = Array(lhs.shape.dropLast(2)), rhsBatch = Array(rhs.shape.dropLast(2))
    let batchShape = broadcastShapeOrFail(lhsBatch, rhsBatch, op: "matmul (batch axes)")
    let result = Tensor(uninitializedShape: batchShape + [m, n])
    let batchCount = elementCount(batchShape)
    let (a, b, c) = (lhs.data, rhs.data, result.mutableData)

    // A batch of row blocks times one shared matrix is a single tall GEMM.
    if !transposeLhs && elementCount(rhsBatch) == 1 && lhsBatch == batchShape {
      gemm(
        transposeA: false, transposeB: transposeRhs, m: batchCount * m, n: n, k: k, a: a, lda: lhsColumns,
        b: b, ldb: rhsColumns, c: c, ldc: n)
      return result
    }
    let lhsStrides = broadcastStrides(lhsBatch, to: batchShape), rhsStrides = broadcastStrides(rhsBatch, to: batchShape)
    let (lhsMatrix, rhsMatrix) = (lhsRows * lhsColumns, rhsRows * rhsColumns)
    func multiply(_ batch: Int) {
      var remaining = batch, lhsOffset = 0, rhsOffset = 0
      for axis in stride(from: batchShape.count - 1, through: 0, by: -1) {
        let coordinate = remaining % batchShape[axis]
        remaining /= batchShape[axis]
        lhsOffset += coordinate * lhsStrides[axis]
        rhsOffset += coordinate * rhsStrides[axis]
      }
      gemm(
        transposeA: transposeLhs, transposeB: transposeRhs, m: m, n: n, k: k, a: a + lhsOffset * lhsMatrix,
        lda: lhsColumns, b: b + rhsOffset * rhsMatrix, ldb: rhsColumns, c: c + batch * m * n, ldc: n)
    }
    // Many small products: spread the batch over cores (BLAS single-threaded meanwhile). Large ones: BLAS threads.
    if batchCount > 1 && m * n * k < 128 * 128 * 128 {
      Parallel.forEach(batchCount, costPerItem: Swift.max(1, m * n * k / 64)) { multiply($0) }
    } else {
      for batch in 0..<batchCount { multiply(batch) }
    }
    return result
  }

  /// What a product applies to each element of its result as it stores it.
  public enum ProductEpilogue: Hashable, Sendable {
    case none
    /// GELU (the erf form), with the value clamped to ±bound before and after when a bound is given.
    case gelu(clampBound: Float?)
  }

  /// `gelu(linear(input, weight, bias))`, each side of the GELU clamped to ±`clampBound` when one is given (GLIP's
  /// fusion-tower BERT layers): `[..., in] → [..., out]`.
  ///
  /// Where no graph is recorded and oneDNN takes the product, the GELU and the clamps run as the product's
  /// post-ops, on each block of the result while it is in cache, instead of as passes over the whole result;
  /// otherwise this is the linear layer, the clamps and `gelu()` one after another.
  public static func linearGELU(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, clampBound: Float? = nil)
    -> Tensor
  {
    let recordsGraph = GradMode.isEnabled && ([input, weight] + (bias.map { [$0] } ?? [])).contains { $0.node != nil }
    if !recordsGraph, weight.rank == 2, input.rank >= 1, input.shape.last == weight.shape[1],
      bias == nil || bias!.shape == [weight.shape[0]]
    {
      let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
      let rows = elementCount(Array(input.shape.dropLast()))
      let output = Tensor(uninitializedShape: Array(input.shape.dropLast()) + [outFeatures])
      let packs = rows <= OneDNNMatMul.packedWeightRows
      let key = OneDNNMatMul.Key(
        false, true, rows, outFeatures, inFeatures, inFeatures, inFeatures, outFeatures, hasBias: bias != nil,
        epilogue: .gelu(clampBound: clampBound), packsWeights: packs)
      if rows > 0, inFeatures > 0, !BLAS.isInParallelRegion,
        oneDNNProduct(
          key, alpha: 1, a: input.data, b: weight.data, c: output.mutableData, bias: bias?.data,
          weight: packs ? weight : nil)
      {
        StageClock.countProduct(m: rows, n: outFeatures, k: inFeatures)
        return output
      }
    }
    func clamped(_ values: Tensor) -> Tensor {
      clampBound.map { values.clamp(min: -$0, max: $0) } ?? values
    }
    return clamped(clamped(linear(input, weight: weight, bias: bias)).gelu())
  }

  /// `F.linear`: `input [..., in] · weightᵀ + bias`, with weight `[out, in]` and bias `[out]`, as one GEMM.
  public static func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
    let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
    precondition(
      input.rank >= 1 && input.shape.last == inFeatures,
      "linear: input \(input.shape) does not end in \(inFeatures) features for weight \(weight.shape)")
    if let bias {
      precondition(bias.shape == [outFeatures], "linear: bias must be [\(outFeatures)], got \(bias.shape)")
    }
    // From the shape, not count / inFeatures, so that zero input features still give one output row per input row.
    let rows = elementCount(Array(input.shape.dropLast()))
    let output = Tensor(uninitializedShape: Array(input.shape.dropLast()) + [outFeatures])
    let recordsGraph = GradMode.isEnabled && [input, weight].contains { $0.node != nil }
    gemm(
      transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: input.data, lda: inFeatures,
      b: weight.data, ldb: inFeatures, c: output.mutableData, ldc: outFeatures, rowBias: bias?.data,
      packableWeight: recordsGraph ? nil : weight)
    let inputs = [input, weight] + (bias.map { [$0] } ?? [])
    return record("linear", output: output, inputs: inputs) { grad in
      var grads: [Tensor?] = []
      if input.requiresGrad {
        let inputGrad = Tensor(uninitializedShape: input.shape)
        gemm(
          transposeA: false, transposeB: false, m: rows, n: inFeatures, k: outFeatures, a: grad.data,
          lda: outFeatures, b: weight.data, ldb: inFeatures, c: inputGrad.mutableData, ldc: inFeatures)
        grads.append(inputGrad)
      } else {
        grads.append(nil)
      }
      if weight.requiresGrad {
        let weightGrad = Tensor(uninitializedShape: weight.shape)
        gemm(
          transposeA: true, transposeB: false, m: outFeatures, n: inFeatures, k: rows, a: grad.data,
          lda: outFeatures, b: input.data, ldb: inFeatures, c: weightGrad.mutableData, ldc: inFeatures)
        grads.append(weightGrad)
      } else {
        grads.append(nil)
      }
      if bias != nil { grads.append(grad.reshaped([rows, outFeatures]).sum(axes: [0])) }
      return grads
    }
  }
}
