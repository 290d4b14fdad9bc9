/// 2-D convolution: im2col + sgemm for dense and grouped convolutions, a direct kernel for depthwise ones; oneDNN
/// instead where `KernelBackend.convolutions` chooses it.
extension Tensor {
  /// Geometry shared by the convolution kernels.
  struct ConvGeometry {
    let batch: Int, channels: Int, height: Int, width: Int
    let outChannels: Int, kernelHeight: Int, kernelWidth: Int
    let stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int
    let outHeight: Int, outWidth: Int

    var groupChannels: Int { channels / groups }
    var groupOutChannels: Int { outChannels / groups }
    var kernelArea: Int { kernelHeight * kernelWidth }
    var columnRows: Int { groupChannels * kernelArea }
    var outArea: Int { outHeight * outWidth }
    var inArea: Int { height * width }
    var isPointwise: Bool {
      kernelArea == 1 && stride == (1, 1) && padding == (0, 0)
    }
    var isDepthwise: Bool { groups == channels && groups > 1 }
  }

  static func convGeometry(
    _ input: Tensor, _ weight: Tensor, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int,
    op: String
  ) -> ConvGeometry {
    convGeometry(
      inputShape: input.shape, weight, stride: stride, padding: padding, dilation: dilation, groups: groups, op: op)
  }

  /// The geometry of a convolution of an input of `inputShape` (`[N, C, H, W]`) with `weight`; a precondition names
  /// `op` and what does not fit.
  static func convGeometry(
    inputShape: [Int], _ weight: Tensor, stride: (Int, Int), padding: (Int, Int), dilation: (Int, Int), groups: Int,
    op: String
  ) -> ConvGeometry {
    precondition(inputShape.count == 4, "\(op): input must be [N, C, H, W], got \(inputShape)")
    precondition(weight.rank == 4, "\(op): weight must be [O, C/groups, kh, kw], got \(weight.shape)")
    precondition(
      groups >= 1 && inputShape[1] % groups == 0 && weight.shape[0] % groups == 0,
      "\(op): groups \(groups) must divide input channels \(inputShape[1]) and output channels \(weight.shape[0])")
    precondition(
      weight.shape[1] * groups == inputShape[1],
      "\(op): weight \(weight.shape) expects \(weight.shape[1] * groups) input channels with groups \(groups), "
        + "input has \(inputShape[1])")
    precondition(
      stride.0 > 0 && stride.1 > 0 && dilation.0 > 0 && dilation.1 > 0 && padding.0 >= 0 && padding.1 >= 0,
      "\(op): stride and dilation must be positive and padding non-negative")
    let (kh, kw) = (weight.shape[2], weight.shape[3])
    let outHeight = (inputShape[2] + 2 * padding.0 - dilation.0 * (kh - 1) - 1) / stride.0 + 1
    let outWidth = (inputShape[3] + 2 * padding.1 - dilation.1 * (kw - 1) - 1) / stride.1 + 1
    precondition(
      outHeight > 0 && outWidth > 0,
      "\(op): input \(inputShape) is too small for kernel \(kh)×\(kw) with padding \(padding), dilation \(dilation)")
    return ConvGeometry(
      batch: inputShape[0], channels: inputShape[1], height: inputShape[2], width: inputShape[3],
      outChannels: weight.shape[0], kernelHeight: kh, kernelWidth: kw, stride: stride, padding: padding,
      dilation: dilation, groups: groups, outHeight: outHeight, outWidth: outWidth)
  }

  /// `F.conv2d`: input `[N, C, H, W]`, weight `[O, C/groups, kh, kw]`, bias `[O]` → `[N, O, Ho, Wo]` with
  /// `Ho = (H + 2·padding.0 − dilation.0·(kh − 1) − 1) / stride.0 + 1` (likewise `Wo`). Depthwise convolutions
  /// (`groups == C`, `O` a multiple of `C`) use a direct kernel; all others im2col + sgemm; forward and backward run
  /// on oneDNN instead where `KernelBackend.convolutions` chooses it.
  public static func conv2d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) -> Tensor {
    let geometry = convGeometry(
      input, weight, stride: stride, padding: padding, dilation: dilation, groups: groups,
      op: "conv2d")
    // Unlike the deformable convolution, which samples anywhere, a plain one needs its kernel inside the padded input.
    let (kh, kw) = (weight.shape[2], weight.shape[3])
    precondition(
      input.shape[2] + 2 * padding.0 >= dilation.0 * (kh - 1) + 1
        && input.shape[3] + 2 * padding.1 >= dilation.1 * (kw - 1) + 1,
      "conv2d: input \(input.shape) padded by \(padding) is smaller than kernel \(kh)×\(kw) dilated by \(dilation)")
    if let bias {
      precondition(
        bias.shape == [geometry.outChannels], "conv2d: bias must be [\(geometry.outChannels)], got \(bias.shape)")
    }
    let output =
      oneDNNConvForward(input, weight, bias, geometry)
      ?? (geometry.isDepthwise
        ? depthwiseForward(input, weight, bias, geometry) : denseConvForward(input, weight, bias, geometry))
    let inputs = [input, weight] + (bias.map { [$0] } ?? [])
    return record("conv2d", output: output, inputs: inputs) { grad in
      let grads = convBackward(
        input, weight, grad, geometry, hasBias: bias != nil, needInput: input.requiresGrad,
        needWeight: weight.requiresGrad)
      return [grads.input, grads.weight] + (bias == nil ? [] : [grads.bias])
    }
  }

  /// The gradients of `conv2d` for input, weight and (with `hasBias`) bias: each pass on oneDNN where it is chosen
  /// for `g`, the others on our kernels.
  private static func convBackward(
    _ input: Tensor, _ weight: Tensor, _ grad: Tensor, _ g: ConvGeometry, hasBias: Bool, needInput: Bool,
    needWeight: Bool
  ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    var grads = oneDNNConvBackward(
      input, weight, grad, g, hasBias: hasBias, needInput: needInput, needWeight: needWeight)
    let (ownInput, ownWeight) = (needInput && grads.input == nil, needWeight && grads.weight == nil)
    if ownInput || ownWeight {
      let (inputGrad, weightGrad) =
        g.isDepthwise
        ? depthwiseBackward(input, weight, grad, g, needInput: ownInput, needWeight: ownWeight)
        : denseConvBackward(input, weight, grad, g, needInput: ownInput, needWeight: ownWeight)
      grads.input = grads.input ?? inputGrad
      grads.weight = grads.weight ?? weightGrad
    }
    if hasBias && grads.bias == nil { grads.bias = grad.sum(axes: [0, 2, 3]) }
    return grads
  }

  // MARK: Dense and grouped (im2col + GEMM)

  static func denseConvForward(
    _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvGeometry, epilogue: ConvEpilogue? = nil
  ) -> Tensor {
    let output = Tensor(uninitializedShape: [g.batch, g.outChannels, g.outHeight, g.outWidth])
    if let rowsPerTile = tileRows(g) {
      tiledConvForward(input, weight, bias, g, rowsPerTile: rowsPerTile, epilogue: epilogue, into: output)
      return output
    }
    let columns = g.isPointwise ? nil : Tensor(uninitializedShape: [g.columnRows, g.outArea])
    let (inData, weightData, out) = (input.data, weight.data, output.mutableData)
    for image in 0..<g.batch {
      let outImage = out + image * g.outChannels * g.outArea
      if let bias {
        let biasData = bias.data
        Parallel.forEach(g.outChannels, costPerItem: g.outArea) { channel in
          (outImage + channel * g.outArea).update(repeating: biasData[channel], count: g.outArea)
        }
      }
      for group in 0..<g.groups {
        let groupInput = inData + (image * g.channels + group * g.groupChannels) * g.inArea
        let columnData: UnsafePointer<Float>
        if let columns {
          im2col(groupInput, g, into: columns.mutableData)
          columnData = columns.data
        } else {
          columnData = groupInput
        }
        gemm(
          transposeA: false, transposeB: false, m: g.groupOutChannels, n: g.outArea, k: g.columnRows,
          a: weightData + group * g.groupOutChannels * g.columnRows, lda: g.columnRows, b: columnData, ldb: g.outArea,
          beta: bias == nil ? 0 : 1, c: outImage + group * g.groupOutChannels * g.outArea, ldc: g.outArea)
      }
      if let epilogue {
        Parallel.forEach(g.outChannels, costPerItem: g.outArea) { channel in
          epilogue.apply(
            to: out, offset: (image * g.outChannels + channel) * g.outArea, count: g.outArea, channel: channel)
        }
      }
    }
    return output
  }

  private static func denseConvBackward(
    _ input: Tensor, _ weight: Tensor, _ grad: Tensor, _ g: ConvGeometry, needInput: Bool, needWeight: Bool
  ) -> (Tensor?, Tensor?) {
    let inputGrad = needInput ? Tensor.zeros(input.shape) : nil
    let weightGrad = needWeight ? Tensor.zeros(weight.shape) : nil
    let columns = g.isPointwise ? nil : Tensor(uninitializedShape: [g.columnRows, g.outArea])
    let (inData, weightData, gradData) = (input.data, weight.data, grad.data)
    for image in 0..<g.batch {
      for group in 0..<g.groups {
        let channelOffset = (image * g.channels + group * g.groupChannels) * g.inArea
        let groupGrad = gradData + (image * g.outChannels + group * g.groupOutChannels) * g.outArea
        let groupWeight = group * g.groupOutChannels * g.columnRows
        if let weightGrad {
          let columnData: UnsafePointer<Float>
          if let columns {
            im2col(inData + channelOffset, g, into: columns.mutableData)
            columnData = columns.data
          } else {
            columnData = inData + channelOffset
          }
          gemm(
            transposeA: false, transposeB: true, m: g.groupOutChannels, n: g.columnRows, k: g.outArea,
            a: groupGrad, lda: g.outArea, b: columnData, ldb: g.outArea, beta: 1,
            c: weightGrad.mutableData + groupWeight, ldc: g.columnRows)
        }
        if let inputGrad {
          if let columns {
            gemm(
              transposeA: true, transposeB: false, m: g.columnRows, n: g.outArea, k: g.groupOutChannels,
              a: weightData + groupWeight, lda: g.columnRows, b: groupGrad, ldb: g.outArea,
              c: columns.mutableData, ldc: g.outArea)
            col2im(columns.data, g, addingInto: inputGrad.mutableData + channelOffset)
          } else {
            gemm(
              transposeA: true, transposeB: false, m: g.columnRows, n: g.outArea, k: g.groupOutChannels,
              a: weightData + groupWeight, lda: g.columnRows, b: groupGrad, ldb: g.outArea,
              c: inputGrad.mutableData + channelOffset, ldc: g.outArea)
          }
        }
      }
    }
    return (inputGrad, weightGrad)
  }

  /// Output rows per tile when the convolution runs tile by tile, or nil for the whole-image path.
  ///
  /// A tile is a band of whole output rows whose columns (`[C·kh·kw, rows·Wo]`) fit in about `tileBytes`, so that
  /// im2col writes them to cache and the GEMM packs them from there instead of from memory; each core runs
  /// single-threaded GEMMs on its own tiles and applies the epilogue to the tile it has just written. Each tile
  /// packs the whole weight matrix again, so the path is taken only where the weights are small beside a tile's
  /// columns (the stem and the first stage of a ResNet: 4–5 output channels per column). Pointwise convolutions have
  /// no columns to build and measured no faster tiled.
  static func tileRows(_ g: ConvGeometry) -> Int? {
    guard g.groups == 1, !g.isPointwise, Parallel.coreCount > 1 else { return nil }
    let rows = Swift.max(1, Swift.min(g.outHeight, tileBytes / (4 * g.columnRows * g.outWidth)))
    let tiles = g.batch * ((g.outHeight + rows - 1) / rows)
    guard tiles >= 2 * Parallel.coreCount, 2 * g.outChannels <= rows * g.outWidth else { return nil }
    return rows
  }

  /// Bytes of columns per tile: a quarter of a core's L2 on current x86 and ARM server cores.
  static let tileBytes = 256 << 10

  /// The tiled forward (see `tileRows`): tiles are bands of output rows of one image, handed to the cores one by one.
  private static func tiledConvForward(
    _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvGeometry, rowsPerTile: Int,
    epilogue: ConvEpilogue?, into output: Tensor
  ) {
    let tilesPerImage = (g.outHeight + rowsPerTile - 1) / rowsPerTile
    let (inData, weightData, out) = (input.data, weight.data, output.mutableData)
    let biasData = bias?.data
    let columnCapacity = g.columnRows * rowsPerTile * g.outWidth
    Parallel.forEachBalanced(g.batch * tilesPerImage) { tile in
      let scratch = Tensor(uninitializedShape: [columnCapacity])
      let columns = scratch.mutableData
      let (image, band) = (tile / tilesPerImage, tile % tilesPerImage)
      let rows = (band * rowsPerTile)..<Swift.min(g.outHeight, (band + 1) * rowsPerTile)
      let (start, count) = (rows.lowerBound * g.outWidth, rows.count * g.outWidth)
      let imageInput = inData + image * g.channels * g.inArea
      let outTile = out + image * g.outChannels * g.outArea + start
      if let biasData {
        for channel in 0..<g.outChannels {
          (outTile + channel * g.outArea).update(repeating: biasData[channel], count: count)
        }
      }
      for row in 0..<g.columnRows { unfold(imageInput, g, row: row, outputRows: rows, into: columns + row * count) }
      gemm(
        transposeA: false, transposeB: false, m: g.outChannels, n: count, k: g.columnRows, a: weightData,
        lda: g.columnRows, b: columns, ldb: count, beta: bias == nil ? 0 : 1, c: outTile, ldc: g.outArea)
      if let epilogue {
        for channel in 0..<g.outChannels {
          epilogue.apply(
            to: out, offset: (image * g.outChannels + channel) * g.outArea + start, count: count, channel: channel)
        }
      }
    }
  }

  /// Unfolds one group's input planes `[Cg, H, W]` into columns `[Cg·kh·kw, Ho·Wo]` (zeros where padded).
  static func im2col(_ input: UnsafePointer<Float>, _ g: ConvGeometry, into columns: UnsafeMutablePointer<Float>) {
    Parallel.forEach(g.columnRows, costPerItem: g.outArea) { row in
      unfold(input, g, row: row, outputRows: 0..<g.outHeight, into: columns + row * g.outArea)
    }
  }

  /// Writes column row `row` (one input channel at one kernel tap) for the output rows `outputRows`, contiguously.
  @inline(__always)
  static func unfold(
    _ input: UnsafePointer<Float>, _ g: ConvGeometry, row: Int, outputRows: Range<Int>,
    into destination: UnsafeMutablePointer<Float>
  ) {
    let channel = row / g.kernelArea
    let tap = row % g.kernelArea
    let (i, j) = (tap / g.kernelWidth, tap % g.kernelWidth)
    let plane = input + channel * g.inArea
    let (validStart, validEnd) = validRange(
      offset: j * g.dilation.1 - g.padding.1, stride: g.stride.1, size: g.width, count: g.outWidth)
    for y in outputRows {
      let sourceY = y * g.stride.0 - g.padding.0 + i * g.dilation.0
      let rowOut = destination + (y - outputRows.lowerBound) * g.outWidth
      guard sourceY >= 0 && sourceY < g.height else {
        rowOut.update(repeating: 0, count: g.outWidth)
        continue
      }
      let sourceRow = plane + sourceY * g.width + j * g.dilation.1 - g.padding.1
      if validStart > 0 { rowOut.update(repeating: 0, count: validStart) }
      if g.stride.1 == 1 {
        if validEnd > validStart {
          (rowOut + validStart).update(from: sourceRow + validStart, count: validEnd - validStart)
        }
      } else {
        for x in validStart..<Swift.max(validStart, validEnd) { rowOut[x] = sourceRow[x * g.stride.1] }
      }
      if validEnd < g.outWidth {
        (rowOut + Swift.max(validEnd, 0)).update(repeating: 0, count: g.outWidth - Swift.max(validEnd, 0))
      }
    }
  }

  /// Adds columns `[Cg·kh·kw, Ho·Wo]` back onto input planes `[Cg, H, W]`; parallel over channels, so no races.
  static func col2im(_ columns: UnsafePointer<Float>, _ g: ConvGeometry, addingInto input: UnsafeMutablePointer<Float>)
  {
    Parallel.forEach(g.groupChannels, costPerItem: g.kernelArea * g.outArea) { channel in
      let plane = input + channel * g.inArea
      for tap in 0..<g.kernelArea {
        let (i, j) = (tap / g.kernelWidth, tap % g.kernelWidth)
        let source = columns + (channel * g.kernelArea + tap) * g.outArea
        let (validStart, validEnd) = validRange(
          offset: j * g.dilation.1 - g.padding.1, stride: g.stride.1, size: g.width, count: g.outWidth)
        guard validEnd > validStart else { continue }
        for y in 0..<g.outHeight {
          let sourceY = y * g.stride.0 - g.padding.0 + i * g.dilation.0
          guard sourceY >= 0 && sourceY < g.height else { continue }
          let rowIn = plane + sourceY * g.width + j * g.dilation.1 - g.padding.1
          let rowColumns = source + y * g.outWidth
          for x in validStart..<validEnd { rowIn[x * g.stride.1] += rowColumns[x] }
        }
      }
    }
  }

  /// Output positions `x` in `0..<count` whose source `x·stride + offset` lies in `0..<size`.
  @inline(__always)
  static func validRange(offset: Int, stride: Int, size: Int, count: Int) -> (Int, Int) {
    let start = offset >= 0 ? 0 : (-offset + stride - 1) / stride
    let end = size - offset <= 0 ? 0 : Swift.min(count, (size - offset - 1) / stride + 1)
    return (Swift.min(start, count), Swift.max(Swift.min(start, count), end))
  }

  // MARK: Depthwise (groups == channels): direct kernel

  /// Σ a[x]·b[x·stride] over eight lanes (a fixed order); strides 1 and 2 load whole vectors.
  @inline(__always)
  static func stridedDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, stride: Int, count: Int) -> Float {
    var lanes = SIMD8<Float>()
    var index = 0
    if stride == 1 {
      while index + 8 <= count {
        lanes +=
          UnsafeRawPointer(a + index).loadUnaligned(as: SIMD8<Float>.self)
          * UnsafeRawPointer(b + index).loadUnaligned(as: SIMD8<Float>.self)
        index += 8
      }
    } else if stride == 2 {
      // The last vector would read one value past the row's last sample; stop one vector early instead.
      while index + 9 <= count {
        let pairs = UnsafeRawPointer(b + 2 * index).loadUnaligned(as: SIMD16<Float>.self)
        lanes += UnsafeRawPointer(a + index).loadUnaligned(as: SIMD8<Float>.self) * pairs.evenHalf
        index += 8
      }
    }
    var total = lanes.sum()
    while index < count {
      total += a[index] * b[index * stride]
      index += 1
    }
    return total
  }

  static func depthwiseForward(
    _ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvGeometry, epilogue: ConvEpilogue? = nil
  ) -> Tensor {
    let output = Tensor(uninitializedShape: [g.batch, g.outChannels, g.outHeight, g.outWidth])
    let multiplier = g.groupOutChannels
    let (inData, weightData, out) = (input.data, weight.data, output.mutableData)
    let biasData = bias?.data
    Parallel.forEach(g.batch * g.outChannels, costPerItem: g.outArea * g.kernelArea) { plane in
      let (image, outChannel) = (plane / g.outChannels, plane % g.outChannels)
      let source = inData + (image * g.channels + outChannel / multiplier) * g.inArea
      let destination = out + plane * g.outArea
      destination.update(repeating: biasData?[outChannel] ?? 0, count: g.outArea)
      let kernel = weightData + outChannel * g.kernelArea
      for tap in 0..<g.kernelArea {
        let (i, j) = (tap / g.kernelWidth, tap % g.kernelWidth)
        let weightValue = kernel[tap]
        let (validStart, validEnd) = validRange(
          offset: j * g.dilation.1 - g.padding.1, stride: g.stride.1, size: g.width, count: g.outWidth)
        guard validEnd > validStart else { continue }
        for y in 0..<g.outHeight {
          let sourceY = y * g.stride.0 - g.padding.0 + i * g.dilation.0
          guard sourceY >= 0 && sourceY < g.height else { continue }
          let rowIn = source + sourceY * g.width + j * g.dilation.1 - g.padding.1
          let rowOut = destination + y * g.outWidth
          if g.stride.1 == 1 {
            for x in validStart..<validEnd { rowOut[x] += weightValue * rowIn[x] }
          } else {
            for x in validStart..<validEnd { rowOut[x] += weightValue * rowIn[x * g.stride.1] }
          }
        }
      }
      epilogue?.apply(to: out, offset: plane * g.outArea, count: g.outArea, channel: outChannel)
    }
    return output
  }

  private static func depthwiseBackward(
    _ input: Tensor, _ weight: Tensor, _ grad: Tensor, _ g: ConvGeometry, needInput: Bool, needWeight: Bool
  ) -> (Tensor?, Tensor?) {
    let inputGrad = needInput ? Tensor.zeros(input.shape) : nil
    let weightGrad = needWeight ? Tensor.zeros(weight.shape) : nil
    let multiplier = g.groupOutChannels
    let (inData, weightData, gradData) = (input.data, weight.data, grad.data)
    let (inGrad, wGrad) = (inputGrad?.mutableData, weightGrad?.mutableData)
    // One input channel per task: it owns that channel's input-gradient plane and its output channels' weights.
    Parallel.forEach(g.channels, costPerItem: g.batch * multiplier * g.outArea * g.kernelArea * 2) { channel in
      for image in 0..<g.batch {
        let source = inData + (image * g.channels + channel) * g.inArea
        let sourceGrad = inGrad.map { $0 + (image * g.channels + channel) * g.inArea }
        for m in 0..<multiplier {
          let outChannel = channel * multiplier + m
          let outGrad = gradData + (image * g.outChannels + outChannel) * g.outArea
          for tap in 0..<g.kernelArea {
            let (i, j) = (tap / g.kernelWidth, tap % g.kernelWidth)
            let weightValue = weightData[outChannel * g.kernelArea + tap]
            let (validStart, validEnd) = validRange(
              offset: j * g.dilation.1 - g.padding.1, stride: g.stride.1, size: g.width, count: g.outWidth)
            guard validEnd > validStart else { continue }
            var tapGrad: Float = 0
            for y in 0..<g.outHeight {
              let sourceY = y * g.stride.0 - g.padding.0 + i * g.dilation.0
              guard sourceY >= 0 && sourceY < g.height else { continue }
              let rowOffset = sourceY * g.width + j * g.dilation.1 - g.padding.1
              let rowGrad = outGrad + y * g.outWidth
              if wGrad != nil {
                tapGrad += stridedDot(
                  rowGrad + validStart, source + rowOffset + validStart * g.stride.1, stride: g.stride.1,
                  count: validEnd - validStart)
              }
              if let sourceGrad {
                let rowInGrad = sourceGrad + rowOffset
                for x in validStart..<validEnd { rowInGrad[x * g.stride.1] += weightValue * rowGrad[x] }
              }
            }
            if let wGrad { wGrad[outChannel * g.kernelArea + tap] += tapGrad }
          }
        }
      }
    }
    return (inputGrad, weightGrad)
  }
}
