import Foundation

/// Modulated deformable convolution (DCNv2) with the semantics of `torchvision.ops.deform_conv2d`.
///
/// Layout: offset `[N, 2·G·kh·kw, Ho, Wo]` where channel `g·2K + 2k` is dy and `g·2K + 2k + 1` is dx for tap
/// k = i·kw + j of offset group g; mask `[N, G·kh·kw, Ho, Wo]` with channel `g·K + k`. A sample outside
/// (−1, H) × (−1, W) reads 0, and corners outside the image contribute 0.
extension Tensor {
  struct DeformGeometry {
    let conv: ConvGeometry
    let offsetGroups: Int
    var channelsPerOffsetGroup: Int { conv.channels / offsetGroups }
  }

  /// `torchvision.ops.deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)`.
  public static func deformConv2d(
    _ input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor? = nil, mask: Tensor? = nil,
    stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) -> Tensor {
    let conv = convGeometry(
      input, weight, stride: stride, padding: padding, dilation: dilation, groups: groups,
      op: "deformConv2d")
    let taps = conv.kernelArea
    precondition(
      offset.rank == 4 && offset.shape[0] == conv.batch && offset.shape[2] == conv.outHeight
        && offset.shape[3] == conv.outWidth && offset.shape[1] % (2 * taps) == 0,
      "deformConv2d: offset must be [\(conv.batch), 2·groups·\(taps), \(conv.outHeight), \(conv.outWidth)], "
        + "got \(offset.shape)")
    let offsetGroups = offset.shape[1] / (2 * taps)
    precondition(
      conv.channels % offsetGroups == 0,
      "deformConv2d: \(offsetGroups) offset groups do not divide \(conv.channels) input channels")
    if let mask {
      precondition(
        mask.shape == [conv.batch, offsetGroups * taps, conv.outHeight, conv.outWidth],
        "deformConv2d: mask must be [\(conv.batch), \(offsetGroups * taps), \(conv.outHeight), \(conv.outWidth)], "
          + "got \(mask.shape)")
    }
    if let bias { precondition(bias.shape == [conv.outChannels], "deformConv2d: bias must be [\(conv.outChannels)]") }
    let geometry = DeformGeometry(conv: conv, offsetGroups: offsetGroups)
    let output = deformForward(input, offset, mask, weight, bias, geometry)
    var inputs = [input, offset, weight]
    if let mask { inputs.append(mask) }
    if let bias { inputs.append(bias) }
    return record("deform_conv2d", output: output, inputs: inputs) { grad in
      let grads = deformBackward(input, offset, mask, weight, grad, geometry)
      var result: [Tensor?] = [grads.input, grads.offset, grads.weight]
      if mask != nil { result.append(grads.mask) }
      if bias != nil { result.append(grad.sum(axes: [0, 2, 3])) }
      return result
    }
  }

  /// Bilinear sample of one plane at (y, x) with torchvision's boundary rules.
  @inline(__always)
  static func deformSample(_ plane: UnsafePointer<Float>, height: Int, width: Int, y: Float, x: Float) -> Float {
    guard y > -1 && y < Float(height) && x > -1 && x < Float(width) else { return 0 }
    let (yLow, xLow) = (Int(y.rounded(.down)), Int(x.rounded(.down)))
    let (ly, lx) = (y - Float(yLow), x - Float(xLow))
    let (hy, hx) = (1 - ly, 1 - lx)
    let topValid = yLow >= 0, bottomValid = yLow + 1 < height
    let leftValid = xLow >= 0, rightValid = xLow + 1 < width
    let v1 = topValid && leftValid ? plane[yLow * width + xLow] : 0
    let v2 = topValid && rightValid ? plane[yLow * width + xLow + 1] : 0
    let v3 = bottomValid && leftValid ? plane[(yLow + 1) * width + xLow] : 0
    let v4 = bottomValid && rightValid ? plane[(yLow + 1) * width + xLow + 1] : 0
    return hy * hx * v1 + hy * lx * v2 + ly * hx * v3 + ly * lx * v4
  }

  /// Sample position of tap (i, j) at output (y, x), before the offset.
  @inline(__always)
  static func deformBase(_ g: ConvGeometry, tap: Int, y: Int, x: Int) -> (Float, Float) {
    let (i, j) = (tap / g.kernelWidth, tap % g.kernelWidth)
    return (
      Float(y * g.stride.0 - g.padding.0 + i * g.dilation.0), Float(x * g.stride.1 - g.padding.1 + j * g.dilation.1)
    )
  }

  /// Deformable im2col for one image: columns `[C·kh·kw, Ho·Wo]`, masked samples.
  private static func deformColumns(
    image: Int, _ input: Tensor, _ offset: Tensor, _ mask: Tensor?, _ d: DeformGeometry,
    into columns: UnsafeMutablePointer<Float>
  ) {
    let g = d.conv
    let taps = g.kernelArea
    let (source, offsets, masks) = (input.data, offset.data, mask?.data)
    Parallel.forEach(g.channels * taps, costPerItem: g.outArea * 8) { row in
      let (channel, tap) = (row / taps, row % taps)
      let group = channel / d.channelsPerOffsetGroup
      let plane = source + (image * g.channels + channel) * g.inArea
      let offsetBase = offsets + ((image * d.offsetGroups + group) * 2 * taps + 2 * tap) * g.outArea
      let maskBase = masks.map { $0 + ((image * d.offsetGroups + group) * taps + tap) * g.outArea }
      let destination = columns + row * g.outArea
      for y in 0..<g.outHeight {
        for x in 0..<g.outWidth {
          let position = y * g.outWidth + x
          let (baseY, baseX) = deformBase(g, tap: tap, y: y, x: x)
          let value = deformSample(
            plane, height: g.height, width: g.width, y: baseY + offsetBase[position],
            x: baseX + offsetBase[g.outArea + position])
          destination[position] = value * (maskBase?[position] ?? 1)
        }
      }
    }
  }

  private static func deformForward(
    _ input: Tensor, _ offset: Tensor, _ mask: Tensor?, _ weight: Tensor, _ bias: Tensor?, _ d: DeformGeometry
  ) -> Tensor {
    let g = d.conv
    let output = Tensor(uninitializedShape: [g.batch, g.outChannels, g.outHeight, g.outWidth])
    let columns = Tensor(uninitializedShape: [g.channels * g.kernelArea, g.outArea])
    let out = output.mutableData
    for image in 0..<g.batch {
      deformColumns(image: image, input, offset, mask, d, into: columns.mutableData)
      let outImage = out + image * g.outChannels * g.outArea
      if let bias {
        for channel in 0..<g.outChannels {
          (outImage + channel * g.outArea).update(repeating: bias.data[channel], count: g.outArea)
        }
      }
      for group in 0..<g.groups {
        gemm(
          transposeA: false, transposeB: false, m: g.groupOutChannels, n: g.outArea, k: g.columnRows,
          a: weight.data + group * g.groupOutChannels * g.columnRows, lda: g.columnRows,
          b: columns.data + group * g.columnRows * g.outArea, ldb: g.outArea, beta: bias == nil ? 0 : 1,
          c: outImage + group * g.groupOutChannels * g.outArea, ldc: g.outArea)
      }
    }
    return output
  }

  private static func deformBackward(
    _ input: Tensor, _ offset: Tensor, _ mask: Tensor?, _ weight: Tensor, _ grad: Tensor, _ d: DeformGeometry
  ) -> (input: Tensor, offset: Tensor, weight: Tensor, mask: Tensor?) {
    let g = d.conv
    let taps = g.kernelArea
    let inputGrad = Tensor.zeros(input.shape), offsetGrad = Tensor.zeros(offset.shape)
    let weightGrad = Tensor.zeros(weight.shape)
    let maskGrad = mask.map { Tensor.zeros($0.shape) }
    let columns = Tensor(uninitializedShape: [g.channels * taps, g.outArea])
    let columnGrad = Tensor(uninitializedShape: [g.channels * taps, g.outArea])
    let (source, offsets, masks) = (input.data, offset.data, mask?.data)
    for image in 0..<g.batch {
      deformColumns(image: image, input, offset, mask, d, into: columns.mutableData)
      let imageGrad = grad.data + image * g.outChannels * g.outArea
      for group in 0..<g.groups {
        let groupWeight = group * g.groupOutChannels * g.columnRows
        gemm(
          transposeA: false, transposeB: true, m: g.groupOutChannels, n: g.columnRows, k: g.outArea,
          a: imageGrad + group * g.groupOutChannels * g.outArea, lda: g.outArea,
          b: columns.data + group * g.columnRows * g.outArea, ldb: g.outArea, beta: 1,
          c: weightGrad.mutableData + groupWeight, ldc: g.columnRows)
        gemm(
          transposeA: true, transposeB: false, m: g.columnRows, n: g.outArea, k: g.groupOutChannels,
          a: weight.data + groupWeight, lda: g.columnRows, b: imageGrad + group * g.groupOutChannels * g.outArea,
          ldb: g.outArea, c: columnGrad.mutableData + group * g.columnRows * g.outArea, ldc: g.outArea)
      }
      let colGrad = columnGrad.data
      // Input gradient: each channel owns its plane.
      let inputTarget = inputGrad.mutableData
      Parallel.forEach(g.channels, costPerItem: taps * g.outArea * 8) { channel in
        let group = channel / d.channelsPerOffsetGroup
        let planeGrad = inputTarget + (image * g.channels + channel) * g.inArea
        for tap in 0..<taps {
          let offsetBase = offsets + ((image * d.offsetGroups + group) * 2 * taps + 2 * tap) * g.outArea
          let maskBase = masks.map { $0 + ((image * d.offsetGroups + group) * taps + tap) * g.outArea }
          let rowGrad = colGrad + (channel * taps + tap) * g.outArea
          for y in 0..<g.outHeight {
            for x in 0..<g.outWidth {
              let position = y * g.outWidth + x
              let (baseY, baseX) = deformBase(g, tap: tap, y: y, x: x)
              let sampleY = baseY + offsetBase[position], sampleX = baseX + offsetBase[g.outArea + position]
              let value = rowGrad[position] * (maskBase?[position] ?? 1)
              scatterBilinear(value, into: planeGrad, height: g.height, width: g.width, y: sampleY, x: sampleX)
            }
          }
        }
      }
      // Offset and mask gradients: each (offset group, tap) sums over the group's channels.
      let (offsetTarget, maskTarget) = (offsetGrad.mutableData, maskGrad?.mutableData)
      Parallel.forEach(d.offsetGroups * taps, costPerItem: d.channelsPerOffsetGroup * g.outArea * 12) { item in
        let (group, tap) = (item / taps, item % taps)
        let offsetIndex = ((image * d.offsetGroups + group) * 2 * taps + 2 * tap) * g.outArea
        let maskIndex = ((image * d.offsetGroups + group) * taps + tap) * g.outArea
        for position in 0..<g.outArea {
          let (y, x) = (position / g.outWidth, position % g.outWidth)
          let (baseY, baseX) = deformBase(g, tap: tap, y: y, x: x)
          let sampleY = baseY + offsets[offsetIndex + position],
            sampleX = baseX + offsets[offsetIndex + g.outArea + position]
          let modulation = masks?[maskIndex + position] ?? 1
          var (gradY, gradX, gradMask): (Float, Float, Float) = (0, 0, 0)
          for channel in (group * d.channelsPerOffsetGroup)..<((group + 1) * d.channelsPerOffsetGroup) {
            let plane = source + (image * g.channels + channel) * g.inArea
            let upstream = colGrad[(channel * taps + tap) * g.outArea + position]
            let (dy, dx) = sampleGradient(plane, height: g.height, width: g.width, y: sampleY, x: sampleX)
            gradY += upstream * modulation * dy
            gradX += upstream * modulation * dx
            if maskTarget != nil {
              gradMask += upstream * deformSample(plane, height: g.height, width: g.width, y: sampleY, x: sampleX)
            }
          }
          offsetTarget[offsetIndex + position] += gradY
          offsetTarget[offsetIndex + g.outArea + position] += gradX
          maskTarget?[maskIndex + position] += gradMask
        }
      }
    }
    return (inputGrad, offsetGrad, weightGrad, maskGrad)
  }

  /// Adds `value` times the bilinear weights of (y, x) to the in-image corners.
  @inline(__always)
  static func scatterBilinear(
    _ value: Float, into plane: UnsafeMutablePointer<Float>, height: Int, width: Int, y: Float, x: Float
  ) {
    guard y > -1 && y < Float(height) && x > -1 && x < Float(width) else { return }
    let (yLow, xLow) = (Int(y.rounded(.down)), Int(x.rounded(.down)))
    let (ly, lx) = (y - Float(yLow), x - Float(xLow))
    if yLow >= 0 && xLow >= 0 { plane[yLow * width + xLow] += value * (1 - ly) * (1 - lx) }
    if yLow >= 0 && xLow + 1 < width { plane[yLow * width + xLow + 1] += value * (1 - ly) * lx }
    if yLow + 1 < height && xLow >= 0 { plane[(yLow + 1) * width + xLow] += value * ly * (1 - lx) }
    if yLow + 1 < height && xLow + 1 < width { plane[(yLow + 1) * width + xLow + 1] += value * ly * lx }
  }

  /// d sample / dy and d sample / dx of the bilinear sample at (y, x), zero outside (−1, H) × (−1, W).
  @inline(__always)
  static func sampleGradient(_ plane: UnsafePointer<Float>, height: Int, width: Int, y: Float, x: Float) -> (
    Float, Float
  ) {
    guard y > -1 && y < Float(height) && x > -1 && x < Float(width) else { return (0, 0) }
    let (yLow, xLow) = (Int(y.rounded(.down)), Int(x.rounded(.down)))
    let (ly, lx) = (y - Float(yLow), x - Float(xLow))
    let topValid = yLow >= 0, bottomValid = yLow + 1 < height
    let leftValid = xLow >= 0, rightValid = xLow + 1 < width
    let v1 = topValid && leftValid ? plane[yLow * width + xLow] : 0
    let v2 = topValid && rightValid ? plane[yLow * width + xLow + 1] : 0
    let v3 = bottomValid && leftValid ? plane[(yLow + 1) * width + xLow] : 0
    let v4 = bottomValid && rightValid ? plane[(yLow + 1) * width + xLow + 1] : 0
    return (lx * (v4 - v2) + (1 - lx) * (v3 - v1), ly * (v4 - v3) + (1 - ly) * (v2 - v1))
  }
}
