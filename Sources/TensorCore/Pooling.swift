/// Max, average and adaptive average pooling over `[N, C, H, W]`, with PyTorch's window and divisor rules.
extension Tensor {
  static func pooledSize(_ size: Int, kernel: Int, stride: Int, padding: Int, dilation: Int = 1, ceilMode: Bool) -> Int
  {
    let span = size + 2 * padding - dilation * (kernel - 1) - 1
    // Floor division, so that a kernel larger than the padded input gives no output (and the caller's check fails).
    let numerator = ceilMode ? span + stride - 1 : span
    var count = (numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)) + 1
    // A window must start inside the input or its left padding.
    if ceilMode && (count - 1) * stride >= size + padding { count -= 1 }
    return count
  }

  private static func checkPooling(
    _ input: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int), op: String
  ) {
    precondition(input.rank == 4, "\(op): input must be [N, C, H, W], got \(input.shape)")
    precondition(
      kernel.0 > 0 && kernel.1 > 0 && stride.0 > 0 && stride.1 > 0, "\(op): kernel and stride must be positive")
    precondition(
      padding.0 <= kernel.0 / 2 && padding.1 <= kernel.1 / 2 && padding.0 >= 0 && padding.1 >= 0,
      "\(op): padding \(padding) must be at most half the kernel \(kernel)")
  }

  private static func checkPooledSize(
    _ input: Tensor, _ outHeight: Int, _ outWidth: Int, kernel: (Int, Int), padding: (Int, Int), op: String
  ) {
    precondition(
      outHeight > 0 && outWidth > 0,
      "\(op): input \(input.shape) is too small for kernel \(kernel) with padding \(padding): "
        + "output would be \(outHeight)×\(outWidth)")
  }

  /// `F.max_pool2d`: input `[N, C, H, W]` → `[N, C, Ho, Wo]`, `stride` defaulting to `kernel`.
  /// Padding counts as −∞ (it must be at most half the kernel); NaN propagates; the gradient goes to the first
  /// maximum of each window in row-major order.
  public static func maxPool2d(
    _ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), ceilMode: Bool = false
  ) -> Tensor {
    let stride = stride ?? kernel
    checkPooling(input, kernel: kernel, stride: stride, padding: padding, op: "maxPool2d")
    let (planes, height, width) = (input.shape[0] * input.shape[1], input.shape[2], input.shape[3])
    let outHeight = pooledSize(
      height, kernel: kernel.0, stride: stride.0, padding: padding.0, dilation: dilation.0, ceilMode: ceilMode)
    let outWidth = pooledSize(
      width, kernel: kernel.1, stride: stride.1, padding: padding.1, dilation: dilation.1, ceilMode: ceilMode)
    checkPooledSize(input, outHeight, outWidth, kernel: kernel, padding: padding, op: "maxPool2d")
    let output = Tensor(uninitializedShape: [input.shape[0], input.shape[1], outHeight, outWidth])
    if !(GradMode.isEnabled && input.requiresGrad) {
      maxPoolValues(
        input, into: output, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
      return output
    }
    let argmax = maxPoolWithIndices(
      input, into: output, kernel: kernel, stride: stride, padding: padding, dilation: dilation)
    let inputShape = input.shape
    return record("max_pool2d", output: output, inputs: [input]) { grad in
      let inputGrad = Tensor.zeros(inputShape)
      let (gradData, target) = (grad.data, inputGrad.mutableData)
      let perPlane = outHeight * outWidth
      argmax.withUnsafeBufferPointer { indices in
        let indexBase = indices.baseAddress!
        // Each task owns whole planes of the input gradient.
        Parallel.forEach(planes, costPerItem: perPlane) { plane in
          let planeGrad = target + plane * height * width
          for index in plane * perPlane..<(plane + 1) * perPlane where indexBase[index] >= 0 {
            planeGrad[Int(indexBase[index])] += gradData[index]
          }
        }
      }
      return [inputGrad]
    }
  }

  /// Max pooling that also returns, for each output, the index in its input plane of the element taken: the first
  /// maximum of the window in row-major order or, when the window holds NaN, its last NaN, as PyTorch chooses.
  /// Separably, like `maxPoolValues`: each input row's maxima over the window's columns with their columns, then for
  /// each output row the maximum over its window's rows; taking a later element only when it is larger (or NaN)
  /// keeps the first maximum, and the selects compile without branches.
  private static func maxPoolWithIndices(
    _ input: Tensor, into output: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
    dilation: (Int, Int)
  ) -> [Int32] {
    let (height, width) = (input.shape[2], input.shape[3])
    let (outHeight, outWidth) = (output.shape[2], output.shape[3])
    let planes = input.shape[0] * input.shape[1]
    let (source, out) = (input.data, output.mutableData)
    // Each window's maximum starts at its first element inside the input, so the comparisons below need no check for
    // "nothing taken yet" (−1 for a window with none, which gets no gradient).
    func firstTap(_ out: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, size: Int) -> Int {
      let start = out * stride - padding
      let skipped = start >= 0 ? 0 : (-start + dilation - 1) / dilation
      let first = start + skipped * dilation
      return skipped < kernel && first < size ? first : -1
    }
    let firstColumns = (0..<outWidth).map {
      firstTap($0, kernel: kernel.1, stride: stride.1, padding: padding.1, dilation: dilation.1, size: width)
    }
    let firstRows = (0..<outHeight).map {
      firstTap($0, kernel: kernel.0, stride: stride.0, padding: padding.0, dilation: dilation.0, size: height)
    }
    var argmax = [Int32](repeating: -1, count: output.count)
    argmax.withUnsafeMutableBufferPointer { indices in
      let indexBase = indices.baseAddress!
      Parallel.forEachChunk(planes, costPerItem: outHeight * outWidth * kernel.0 * kernel.1) { range in
        let maxima = UnsafeMutablePointer<Float>.allocate(capacity: height * outWidth)
        let columns = UnsafeMutablePointer<Int32>.allocate(capacity: height * outWidth)
        defer {
          maxima.deallocate()
          columns.deallocate()
        }
        for plane in range {
          let planeIn = source + plane * height * width
          for row in 0..<height {
            let (rowIn, rowMaxima, rowColumns) = (
              planeIn + row * width, maxima + row * outWidth, columns + row * outWidth
            )
            for x in 0..<outWidth {
              let first = firstColumns[x]
              rowMaxima[x] = first >= 0 ? rowIn[first] : -.infinity
              rowColumns[x] = Int32(first)
            }
            for j in 0..<kernel.1 {
              let offset = j * dilation.1 - padding.1
              let (start, end) = validRange(offset: offset, stride: stride.1, size: width, count: outWidth)
              for x in start..<end {
                let column = x * stride.1 + offset
                let value = rowIn[column]
                let takes = value > rowMaxima[x] || value.isNaN
                rowMaxima[x] = takes ? value : rowMaxima[x]
                rowColumns[x] = takes ? Int32(column) : rowColumns[x]
              }
            }
          }
          for y in 0..<outHeight {
            let outIndex = (plane * outHeight + y) * outWidth
            let (rowOut, rowIndices) = (out + outIndex, indexBase + outIndex)
            let firstRow = firstRows[y]
            for x in 0..<outWidth {
              let column = firstRow >= 0 ? columns[firstRow * outWidth + x] : -1
              rowOut[x] = column >= 0 ? maxima[firstRow * outWidth + x] : -.infinity
              rowIndices[x] = column >= 0 ? Int32(firstRow * width) + column : -1
            }
            for i in 0..<kernel.0 {
              let sourceY = y * stride.0 - padding.0 + i * dilation.0
              guard sourceY >= 0 && sourceY < height else { continue }
              let (rowMaxima, rowColumns) = (maxima + sourceY * outWidth, columns + sourceY * outWidth)
              let rowStart = Int32(sourceY * width)
              for x in 0..<outWidth {
                let value = rowMaxima[x]
                let takes = value > rowOut[x] || value.isNaN
                rowOut[x] = takes ? value : rowOut[x]
                rowIndices[x] = takes ? rowStart + rowColumns[x] : rowIndices[x]
              }
            }
          }
        }
      }
    }
    return argmax
  }

  /// Max pooling without the argmax (nothing will ask for it), separably: each input row's maxima over the window's
  /// columns, then for each output row the maximum of its window's rows, whose loop runs along contiguous rows.
  /// NaN wins and stays, as in the recorded path.
  private static func maxPoolValues(
    _ input: Tensor, into output: Tensor, kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int),
    dilation: (Int, Int)
  ) {
    let (height, width) = (input.shape[2], input.shape[3])
    let (outHeight, outWidth) = (output.shape[2], output.shape[3])
    let planes = input.shape[0] * input.shape[1]
    let (source, out) = (input.data, output.mutableData)
    Parallel.forEachChunk(planes, costPerItem: outHeight * outWidth * kernel.0 * kernel.1) { range in
      let rowMaxima = Tensor(uninitializedShape: [height, outWidth])
      let maxima = rowMaxima.mutableData
      for plane in range {
        let planeIn = source + plane * height * width
        // Without NaN a plain comparison picks the maximum, and compiles to a branch-free max instruction; with NaN
        // the comparison must also let NaN through.
        var nanCount = 0
        for index in 0..<height * width where planeIn[index].isNaN { nanCount += 1 }
        if nanCount == 0 {
          maxPoolPlane(planeIn, out + plane * outHeight * outWidth, maxima, propagatingNaN: false)
        } else {
          maxPoolPlane(planeIn, out + plane * outHeight * outWidth, maxima, propagatingNaN: true)
        }
      }
    }

    @inline(__always)
    func maxPoolPlane(
      _ planeIn: UnsafePointer<Float>, _ planeOut: UnsafeMutablePointer<Float>, _ maxima: UnsafeMutablePointer<Float>,
      propagatingNaN: Bool
    ) {
      @inline(__always)
      func larger(_ value: Float, _ best: Float) -> Float {
        propagatingNaN ? (value > best || value.isNaN ? value : best) : (value > best ? value : best)
      }
      for row in 0..<height {
        let (rowIn, rowOut) = (planeIn + row * width, maxima + row * outWidth)
        rowOut.update(repeating: -.infinity, count: outWidth)
        for j in 0..<kernel.1 {
          let offset = j * dilation.1 - padding.1
          let (start, end) = validRange(offset: offset, stride: stride.1, size: width, count: outWidth)
          for x in start..<end { rowOut[x] = larger(rowIn[x * stride.1 + offset], rowOut[x]) }
        }
      }
      for y in 0..<outHeight {
        let rowOut = planeOut + y * outWidth
        rowOut.update(repeating: -.infinity, count: outWidth)
        for i in 0..<kernel.0 {
          let sourceY = y * stride.0 - padding.0 + i * dilation.0
          guard sourceY >= 0 && sourceY < height else { continue }
          let rowIn = maxima + sourceY * outWidth
          for x in 0..<outWidth { rowOut[x] = larger(rowIn[x], rowOut[x]) }
        }
      }
    }
  }

  /// `F.avg_pool2d`: input `[N, C, H, W]` → `[N, C, Ho, Wo]`, `stride` defaulting to `kernel`, with
  /// `count_include_pad` and `ceil_mode` as in PyTorch (windows clipped to input+padding count the padded cells).
  public static func avgPool2d(
    _ input: Tensor, kernel: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    ceilMode: Bool = false, countIncludePad: Bool = true
  ) -> Tensor {
    let stride = stride ?? kernel
    checkPooling(input, kernel: kernel, stride: stride, padding: padding, op: "avgPool2d")
    let (height, width) = (input.shape[2], input.shape[3])
    let outHeight = pooledSize(height, kernel: kernel.0, stride: stride.0, padding: padding.0, ceilMode: ceilMode)
    let outWidth = pooledSize(width, kernel: kernel.1, stride: stride.1, padding: padding.1, ceilMode: ceilMode)
    checkPooledSize(input, outHeight, outWidth, kernel: kernel, padding: padding, op: "avgPool2d")
    func window(_ out: Int, _ size: Int, _ k: Int, _ s: Int, _ p: Int) -> (start: Int, end: Int, padded: Int) {
      let start = out * s - p
      let end = Swift.min(start + k, size + p)
      return (Swift.max(start, 0), Swift.min(end, size), end - start)
    }
    let rows = (0..<outHeight).map { window($0, height, kernel.0, stride.0, padding.0) }
    let columns = (0..<outWidth).map { window($0, width, kernel.1, stride.1, padding.1) }
    func divisor(_ row: (start: Int, end: Int, padded: Int), _ column: (start: Int, end: Int, padded: Int)) -> Float {
      Float(countIncludePad ? row.padded * column.padded : (row.end - row.start) * (column.end - column.start))
    }
    return windowedAverage(
      input, outHeight: outHeight, outWidth: outWidth, rows: rows.map { ($0.start, $0.end) },
      columns: columns.map { ($0.start, $0.end) }, op: "avg_pool2d"
    ) { y, x in divisor(rows[y], columns[x]) }
  }

  /// `F.adaptive_avg_pool2d`: input `[N, C, H, W]` → `[N, C, outputSize.0, outputSize.1]`;
  /// bin i covers floor(i·H/out) ..< ceil((i+1)·H/out).
  public static func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) -> Tensor {
    precondition(input.rank == 4, "adaptiveAvgPool2d: input must be [N, C, H, W], got \(input.shape)")
    precondition(outputSize.0 > 0 && outputSize.1 > 0, "adaptiveAvgPool2d: output size must be positive")
    let (height, width) = (input.shape[2], input.shape[3])
    func bins(_ size: Int, _ count: Int) -> [(Int, Int)] {
      (0..<count).map { ($0 * size / count, (($0 + 1) * size + count - 1) / count) }
    }
    let rows = bins(height, outputSize.0), columns = bins(width, outputSize.1)
    return windowedAverage(
      input, outHeight: outputSize.0, outWidth: outputSize.1, rows: rows, columns: columns, op: "adaptive_avg_pool2d"
    ) { y, x in Float((rows[y].1 - rows[y].0) * (columns[x].1 - columns[x].0)) }
  }

  /// Averages rectangular windows (given per output row and column) with a per-position divisor.
  private static func windowedAverage(
    _ input: Tensor, outHeight: Int, outWidth: Int, rows: [(Int, Int)], columns: [(Int, Int)], op: String,
    divisor: (Int, Int) -> Float
  ) -> Tensor {
    let (planes, height, width) = (input.shape[0] * input.shape[1], input.shape[2], input.shape[3])
    var scales = [Float](repeating: 0, count: outHeight * outWidth)
    for y in 0..<outHeight { for x in 0..<outWidth { scales[y * outWidth + x] = 1 / divisor(y, x) } }
    let output = Tensor(uninitializedShape: [input.shape[0], input.shape[1], outHeight, outWidth])
    let (source, out) = (input.data, output.mutableData)
    Parallel.forEach(planes, costPerItem: height * width) { plane in
      let planeIn = source + plane * height * width
      for y in 0..<outHeight {
        for x in 0..<outWidth {
          var total: Float = 0
          for sourceY in rows[y].0..<Swift.max(rows[y].0, rows[y].1) {
            for sourceX in columns[x].0..<Swift.max(columns[x].0, columns[x].1) {
              total += planeIn[sourceY * width + sourceX]
            }
          }
          out[(plane * outHeight + y) * outWidth + x] = total * scales[y * outWidth + x]
        }
      }
    }
    let inputShape = input.shape
    return record(op, output: output, inputs: [input]) { grad in
      let inputGrad = Tensor.zeros(inputShape)
      let (gradData, target) = (grad.data, inputGrad.mutableData)
      Parallel.forEach(planes, costPerItem: height * width) { plane in
        let planeGrad = target + plane * height * width
        for y in 0..<outHeight {
          for x in 0..<outWidth {
            let share = gradData[(plane * outHeight + y) * outWidth + x] * scales[y * outWidth + x]
            for sourceY in rows[y].0..<Swift.max(rows[y].0, rows[y].1) {
              for sourceX in columns[x].0..<Swift.max(columns[x].0, columns[x].1) {
                planeGrad[sourceY * width + sourceX] += share
              }
            }
          }
        }
      }
      return [inputGrad]
    }
  }
}
