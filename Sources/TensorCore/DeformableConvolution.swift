import Foundation

/// Modulated deformable convolution (DCNv2) with the semantics of `torchvision.ops.deform_conv2d`.
///
/// Every output position reads each kernel tap at its regular position shifted by a per-position offset, sampled
/// bilinearly, scales the sample by a per-position mask value, and convolves the samples with the weight.
/// Layout: offset `[N, 2·G·kh·kw, Ho, Wo]` where channel `g·2K + 2k` is dy and `g·2K + 2k + 1` is dx for tap
/// `k = i·kw + j` of offset group `g` (K = kh·kw); mask `[N, G·K, Ho, Wo]` with channel `g·K + k`. Input channel `c`
/// belongs to offset group `c / (C / G)`. A sample outside (−1, H) × (−1, W) reads 0, and corners outside the image
/// contribute 0.
extension Tensor {
  struct DeformGeometry {
    let conv: ConvGeometry
    let offsetGroups: Int
    var channelsPerOffsetGroup: Int { conv.channels / offsetGroups }
    var taps: Int { conv.kernelArea }

    /// Start of the dy plane of (image, offset group, tap) in the offset tensor; the dx plane follows it.
    func offsetStart(image: Int, group: Int, tap: Int) -> Int {
      ((image * offsetGroups + group) * 2 * taps + 2 * tap) * conv.outArea
    }

    /// Start of the plane of (image, offset group, tap) in the mask tensor.
    func maskStart(image: Int, group: Int, tap: Int) -> Int {
      ((image * offsetGroups + group) * taps + tap) * conv.outArea
    }

    /// Unshifted sample position of `tap` at output (0, 0); output (y, x) adds (y·stride.0, x·stride.1).
    func tapOrigin(_ tap: Int) -> (y: Int, x: Int) {
      let (i, j) = (tap / conv.kernelWidth, tap % conv.kernelWidth)
      return (i * conv.dilation.0 - conv.padding.0, j * conv.dilation.1 - conv.padding.1)
    }
  }

  /// `torchvision.ops.deform_conv2d(input, offset, weight, bias, stride, padding, dilation, mask)`.
  ///
  /// - Parameters:
  ///   - input: `[N, C, H, W]`.
  ///   - offset: `[N, 2·G·kh·kw, Ho, Wo]`; the number of offset groups G (which must divide C) is inferred from it.
  ///   - weight: `[O, C/groups, kh, kw]`.
  ///   - bias: `[O]`.
  ///   - mask: `[N, G·kh·kw, Ho, Wo]`; nil samples unmodulated (DCNv1).
  ///   - groups: weight groups; nil infers `C / weight.shape[1]` as torchvision does.
  /// - Returns: `[N, O, Ho, Wo]` with `Ho = (H + 2·padding.0 − dilation.0·(kh − 1) − 1) / stride.0 + 1`
  ///   (likewise `Wo`). Gradients flow to input, offset, weight, mask and bias.
  public static func deformConv2d(
    _ input: Tensor, offset: Tensor, weight: Tensor, bias: Tensor? = nil, mask: Tensor? = nil,
    stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int? = nil
  ) -> Tensor {
    precondition(input.rank == 4, "deformConv2d: input must be [N, C, H, W], got \(input.shape)")
    precondition(weight.rank == 4, "deformConv2d: weight must be [O, C/groups, kh, kw], got \(weight.shape)")
    precondition(
      groups != nil || (weight.shape[1] > 0 && input.shape[1] % weight.shape[1] == 0),
      "deformConv2d: input channels \(input.shape[1]) must be a multiple of weight.shape[1] \(weight.shape[1])")
    let conv = convGeometry(
      input, weight, stride: stride, padding: padding, dilation: dilation,
      groups: groups ?? input.shape[1] / weight.shape[1], op: "deformConv2d")
    let taps = conv.kernelArea
    let expectedOffset = "[\(conv.batch), 2·offsetGroups·\(taps), \(conv.outHeight), \(conv.outWidth)]"
    precondition(
      offset.rank == 4 && offset.shape[0] == conv.batch && offset.shape[2] == conv.outHeight
        && offset.shape[3] == conv.outWidth && offset.shape[1] > 0 && offset.shape[1] % (2 * taps) == 0,
      "deformConv2d: offset must be \(expectedOffset), got \(offset.shape)")
    let offsetGroups = offset.shape[1] / (2 * taps)
    precondition(
      conv.channels % offsetGroups == 0,
      "deformConv2d: \(offsetGroups) offset groups (offset \(offset.shape)) do not divide \(conv.channels) input "
        + "channels")
    if let mask {
      let expected = [conv.batch, offsetGroups * taps, conv.outHeight, conv.outWidth]
      precondition(mask.shape == expected, "deformConv2d: mask must be \(expected), got \(mask.shape)")
    }
    if let bias {
      precondition(
        bias.shape == [conv.outChannels], "deformConv2d: bias must be [\(conv.outChannels)], got \(bias.shape)")
    }
    let geometry = DeformGeometry(conv: conv, offsetGroups: offsetGroups)
    var inputs = [input, offset, weight]
    if let mask { inputs.append(mask) }
    if let bias { inputs.append(bias) }
    let recordsGraph = GradMode.isEnabled && inputs.contains { $0.node != nil }
    let output = deformForward(input, offset, mask, weight, bias, geometry, recordsGraph: recordsGraph)
    return record("deform_conv2d", output: output, inputs: inputs) { grad in
      let grads = deformBackward(input, offset, mask, weight, grad, geometry)
      var result: [Tensor?] = [grads.input, grads.offset, grads.weight]
      if mask != nil { result.append(grads.mask) }
      if bias != nil { result.append(grad.sum(axes: [0, 2, 3])) }
      return result
    }
  }

  // MARK: Bilinear sampling

  /// The four corners around (y, x) (0 for corners outside the image) and the fractional parts of y and x.
  ///
  /// Everything is 0 unless −1 ≤ y < H and −1 ≤ x < W. torchvision's value kernel uses −1 < y, its offset-gradient
  /// kernel only the corner checks, which zero everything below −1 but not at exactly −1; there the corner weights
  /// already make the value 0, so one test serves the value and torchvision's one-sided derivative alike.
  @inline(__always)
  static func deformCorners(
    _ plane: UnsafePointer<Float>, height: Int, width: Int, y: Float, x: Float
  ) -> DeformCorners {
    guard y >= -1 && y < Float(height) && x >= -1 && x < Float(width) else { return (0, 0, 0, 0, 0, 0) }
    let (yFloor, xFloor) = (y.rounded(.down), x.rounded(.down))
    let (top, left) = (Int(yFloor), Int(xFloor))
    let topValid = top >= 0, bottomValid = top + 1 < height
    let leftValid = left >= 0, rightValid = left + 1 < width
    let corner = plane + top * width + left
    return (
      y - yFloor, x - xFloor,
      topValid && leftValid ? corner[0] : 0, topValid && rightValid ? corner[1] : 0,
      bottomValid && leftValid ? corner[width] : 0, bottomValid && rightValid ? corner[width + 1] : 0
    )
  }

  typealias DeformCorners = (
    ly: Float, lx: Float, topLeft: Float, topRight: Float, bottomLeft: Float, bottomRight: Float
  )

  @inline(__always)
  static func bilinearValue(_ c: DeformCorners) -> Float {
    let (hy, hx) = (1 - c.ly, 1 - c.lx)
    return hy * hx * c.topLeft + hy * c.lx * c.topRight + c.ly * hx * c.bottomLeft + c.ly * c.lx * c.bottomRight
  }

  /// Adds `value` times the bilinear weights of (y, x) to the corners inside the image.
  @inline(__always)
  static func deformScatter(
    _ value: Float, into plane: UnsafeMutablePointer<Float>, height: Int, width: Int, y: Float, x: Float
  ) {
    guard y > -1 && y < Float(height) && x > -1 && x < Float(width) else { return }
    let (yFloor, xFloor) = (y.rounded(.down), x.rounded(.down))
    let (top, left) = (Int(yFloor), Int(xFloor))
    let (ly, lx) = (y - yFloor, x - xFloor)
    let (hy, hx) = (1 - ly, 1 - lx)
    let corner = plane + top * width + left
    if top >= 0 {
      if left >= 0 { corner[0] += value * hy * hx }
      if left + 1 < width { corner[1] += value * hy * lx }
    }
    if top + 1 < height {
      if left >= 0 { corner[width] += value * ly * hx }
      if left + 1 < width { corner[width + 1] += value * ly * lx }
    }
  }

  // MARK: Forward

  /// Deformable im2col for one image: columns `[C·kh·kw, Ho·Wo]`, row `c·K + k` holding tap k of channel c sampled
  /// at every output position and scaled by the mask, from the image's `DeformSamplingPlan`.
  private static func deformColumns(
    image: Int, _ input: Tensor, _ offset: Tensor, _ mask: Tensor?, _ d: DeformGeometry,
    into columns: UnsafeMutablePointer<Float>
  ) {
    let g = d.conv
    let taps = d.taps
    let source = input.data
    let plan = DeformSamplingPlan(image: image, offset, mask, d)
    let (indices, weights) = (plan.indices.pointer, plan.weights.pointer)
    Parallel.forEachChunk(g.channels * taps, costPerItem: g.outArea * 8) { rows in
      for row in rows {
        let (channel, tap) = (row / taps, row % taps)
        let group = channel / d.channelsPerOffsetGroup
        let plane = source + (image * g.channels + channel) * g.inArea
        let slot = (group * taps + tap) * g.outArea * 4
        let (index, weight) = (indices + slot, weights + slot)
        let destination = columns + row * g.outArea
        for position in 0..<g.outArea {
          let at = position * 4
          destination[position] =
            weight[at] * plane[Int(index[at])] + weight[at + 1] * plane[Int(index[at + 1])]
            + weight[at + 2] * plane[Int(index[at + 2])] + weight[at + 3] * plane[Int(index[at + 3])]
        }
      }
    }
  }

  /// The same samples as `deformColumns`, transposed: `[Ho·Wo, kh·kw·C]`, column `k·C + c` holding tap k of channel
  /// c. The input is first copied channels-last, so each corner of a sample is a run of contiguous channels that the
  /// gather reads and writes with vector loads and stores; `deformColumns` reads one float per corner per channel.
  /// For one weight group.
  private static func deformColumnsByPosition(
    image: Int, _ input: Tensor, _ offset: Tensor, _ mask: Tensor?, _ d: DeformGeometry,
    into columns: UnsafeMutablePointer<Float>
  ) {
    let g = d.conv
    let (taps, channels, groupChannels) = (d.taps, g.channels, d.channelsPerOffsetGroup)
    let channelsLast = Tensor(uninitializedShape: [g.inArea, channels])
    defer { withExtendedLifetime(channelsLast) {} }
    let imageStart = image * channels * g.inArea
    tiledTransposeCopy(
      input, into: channelsLast, shape: [g.inArea, channels], strides: [1, g.inArea], offset: imageStart, tiledAxis: 0)
    let plan = DeformSamplingPlan(image: image, offset, mask, d)
    let (indices, weights, pixels) = (plan.indices.pointer, plan.weights.pointer, channelsLast.data)
    let rowLength = taps * channels
    Parallel.forEachChunk(g.outArea, costPerItem: rowLength * 4) { positions in
      for position in positions {
        for group in 0..<d.offsetGroups {
          for tap in 0..<taps {
            let at = ((group * taps + tap) * g.outArea + position) * 4
            let (index, weight) = (indices + at, weights + at)
            let firstChannel = group * groupChannels
            bilinearRun(
              corners: (
                pixels + Int(index[0]) * channels + firstChannel, pixels + Int(index[1]) * channels + firstChannel,
                pixels + Int(index[2]) * channels + firstChannel, pixels + Int(index[3]) * channels + firstChannel
              ), weights: (weight[0], weight[1], weight[2], weight[3]), count: groupChannels,
              into: columns + position * rowLength + tap * channels + firstChannel)
          }
        }
      }
    }
  }

  /// `destination[i] = Σ weights · corners[i]` over four corners, for `count` contiguous values.
  @inline(__always)
  private static func bilinearRun(
    corners: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>),
    weights: (Float, Float, Float, Float), count: Int, into destination: UnsafeMutablePointer<Float>
  ) {
    let (w0, w1, w2, w3) = (
      SIMD16<Float>(repeating: weights.0), SIMD16<Float>(repeating: weights.1),
      SIMD16<Float>(repeating: weights.2), SIMD16<Float>(repeating: weights.3)
    )
    func load(_ pointer: UnsafePointer<Float>, _ index: Int) -> SIMD16<Float> {
      UnsafeRawPointer(pointer + index).loadUnaligned(as: SIMD16<Float>.self)
    }
    var index = 0
    while index + 16 <= count {
      let value =
        w0 * load(corners.0, index) + w1 * load(corners.1, index) + w2 * load(corners.2, index)
        + w3 * load(corners.3, index)
      UnsafeMutableRawPointer(destination + index).storeBytes(of: value, as: SIMD16<Float>.self)
      index += 16
    }
    while index < count {
      destination[index] =
        weights.0 * corners.0[index] + weights.1 * corners.1[index] + weights.2 * corners.2[index]
        + weights.3 * corners.3[index]
      index += 1
    }
  }

  private static func deformForward(
    _ input: Tensor, _ offset: Tensor, _ mask: Tensor?, _ weight: Tensor, _ bias: Tensor?, _ d: DeformGeometry,
    recordsGraph: Bool
  ) -> Tensor {
    let g = d.conv
    let output = Tensor(uninitializedShape: [g.batch, g.outChannels, g.outHeight, g.outWidth])
    let columns = Tensor(uninitializedShape: [g.channels * g.kernelArea, g.outArea])
    let (out, columnData) = (output.mutableData, columns.mutableData)
    // Gathered by position, the columns need the weight's taps outermost; the reordered copy is cached per weight,
    // so it is made for inference only, where the weights stay as they are.
    let tapMajorWeight = recordsGraph || g.groups != 1 ? nil : TapMajorWeights.shared.reordered(weight, taps: d.taps)
    for image in 0..<g.batch {
      let outImage = out + image * g.outChannels * g.outArea
      // The product overwrites (beta 0, so it can run on oneDNN); the bias is added per channel afterwards.
      if let tapMajorWeight {
        deformColumnsByPosition(image: image, input, offset, mask, d, into: columnData)
        gemm(
          transposeA: false, transposeB: true, m: g.outChannels, n: g.outArea, k: g.columnRows,
          a: tapMajorWeight.data, lda: g.columnRows, b: columnData, ldb: g.columnRows, c: outImage, ldc: g.outArea)
      } else {
        deformColumns(image: image, input, offset, mask, d, into: columnData)
        for group in 0..<g.groups {
          gemm(
            transposeA: false, transposeB: false, m: g.groupOutChannels, n: g.outArea, k: g.columnRows,
            a: weight.data + group * g.groupOutChannels * g.columnRows, lda: g.columnRows,
            b: columnData + group * g.columnRows * g.outArea, ldb: g.outArea,
            c: outImage + group * g.groupOutChannels * g.outArea, ldc: g.outArea)
        }
      }
      if let bias {
        let shift = bias.data
        Parallel.forEach(g.outChannels, costPerItem: g.outArea) { channel in
          let row = outImage + channel * g.outArea
          for index in 0..<g.outArea { row[index] += shift[channel] }
        }
      }
    }
    return output
  }

  // MARK: Backward

  /// Gradients for the inputs that require them (nil for the others): the weight's from the masked columns, the
  /// input's by scattering the column gradient through the bilinear weights, the offset's and mask's from the
  /// derivative of each sample with respect to its position and from the sample itself.
  private static func deformBackward(
    _ input: Tensor, _ offset: Tensor, _ mask: Tensor?, _ weight: Tensor, _ grad: Tensor, _ d: DeformGeometry
  ) -> (input: Tensor?, offset: Tensor?, weight: Tensor?, mask: Tensor?) {
    let g = d.conv
    let taps = d.taps
    let needWeight = weight.requiresGrad, needInput = input.requiresGrad
    let needCoordinates = offset.requiresGrad || (mask?.requiresGrad ?? false)
    let weightGrad = needWeight ? Tensor.zeros(weight.shape) : nil
    let inputGrad = needInput ? Tensor.zeros(input.shape) : nil
    let offsetGrad = needCoordinates ? Tensor.zeros(offset.shape) : nil
    // Without a mask the sampled values still feed a (discarded) mask gradient, which keeps the loop branch-free.
    let maskGrad = needCoordinates ? Tensor.zeros([g.batch, d.offsetGroups * taps, g.outHeight, g.outWidth]) : nil
    let unitMask = mask == nil ? Tensor.ones([g.outArea]) : nil
    let columns = needWeight ? Tensor(uninitializedShape: [g.channels * taps, g.outArea]) : nil
    let columnGrad =
      needInput || needCoordinates ? Tensor(uninitializedShape: [g.channels * taps, g.outArea]) : nil
    let (source, offsets, masks, gradData) = (input.data, offset.data, mask?.data, grad.data)

    /// The mask plane of (image, offset group, tap), or ones.
    func modulation(image: Int, group: Int, tap: Int) -> UnsafePointer<Float> {
      masks.map { $0 + d.maskStart(image: image, group: group, tap: tap) } ?? unitMask!.data
    }

    for image in 0..<g.batch {
      let imageGrad = gradData + image * g.outChannels * g.outArea
      if let weightGrad, let columns {
        deformColumns(image: image, input, offset, mask, d, into: columns.mutableData)
        for group in 0..<g.groups {
          gemm(
            transposeA: false, transposeB: true, m: g.groupOutChannels, n: g.columnRows, k: g.outArea,
            a: imageGrad + group * g.groupOutChannels * g.outArea, lda: g.outArea,
            b: columns.data + group * g.columnRows * g.outArea, ldb: g.outArea, beta: 1,
            c: weightGrad.mutableData + group * g.groupOutChannels * g.columnRows, ldc: g.columnRows)
        }
      }
      guard let columnGrad else { continue }
      for group in 0..<g.groups {
        gemm(
          transposeA: true, transposeB: false, m: g.columnRows, n: g.outArea, k: g.groupOutChannels,
          a: weight.data + group * g.groupOutChannels * g.columnRows, lda: g.columnRows,
          b: imageGrad + group * g.groupOutChannels * g.outArea, ldb: g.outArea,
          c: columnGrad.mutableData + group * g.columnRows * g.outArea, ldc: g.outArea)
      }
      let upstreamData = columnGrad.data

      // Each task owns whole input planes, so the scatter needs no synchronisation.
      if let inputGrad {
        let target = inputGrad.mutableData
        Parallel.forEachChunk(g.channels, costPerItem: taps * g.outArea * 16) { channels in
          for channel in channels {
            let group = channel / d.channelsPerOffsetGroup
            let planeGrad = target + (image * g.channels + channel) * g.inArea
            for tap in 0..<taps {
              let offsetY = offsets + d.offsetStart(image: image, group: group, tap: tap)
              let offsetX = offsetY + g.outArea
              let scale = modulation(image: image, group: group, tap: tap)
              let upstream = upstreamData + (channel * taps + tap) * g.outArea
              let origin = d.tapOrigin(tap)
              for y in 0..<g.outHeight {
                let rowY = Float(y * g.stride.0 + origin.y)
                for x in 0..<g.outWidth {
                  let position = y * g.outWidth + x
                  deformScatter(
                    scale[position] * upstream[position], into: planeGrad, height: g.height, width: g.width,
                    y: rowY + offsetY[position], x: Float(x * g.stride.1 + origin.x) + offsetX[position])
                }
              }
            }
          }
        }
      }

      // Each task owns the offset and mask planes of one (offset group, tap) and sums over the group's channels.
      if let offsetGrad, let maskGrad {
        let (offsetTarget, maskTarget) = (offsetGrad.mutableData, maskGrad.mutableData)
        Parallel.forEachChunk(d.offsetGroups * taps, costPerItem: d.channelsPerOffsetGroup * g.outArea * 24) {
          items in
          for item in items {
            let (group, tap) = (item / taps, item % taps)
            let offsetStart = d.offsetStart(image: image, group: group, tap: tap)
            let (offsetY, offsetX) = (offsets + offsetStart, offsets + offsetStart + g.outArea)
            let (gradY, gradX) = (offsetTarget + offsetStart, offsetTarget + offsetStart + g.outArea)
            let gradMask = maskTarget + d.maskStart(image: image, group: group, tap: tap)
            let scale = modulation(image: image, group: group, tap: tap)
            let origin = d.tapOrigin(tap)
            let firstChannel = group * d.channelsPerOffsetGroup
            for channel in firstChannel..<(firstChannel + d.channelsPerOffsetGroup) {
              let plane = source + (image * g.channels + channel) * g.inArea
              let upstream = upstreamData + (channel * taps + tap) * g.outArea
              for y in 0..<g.outHeight {
                let rowY = Float(y * g.stride.0 + origin.y)
                for x in 0..<g.outWidth {
                  let position = y * g.outWidth + x
                  let c = deformCorners(
                    plane, height: g.height, width: g.width, y: rowY + offsetY[position],
                    x: Float(x * g.stride.1 + origin.x) + offsetX[position])
                  let (hy, hx) = (1 - c.ly, 1 - c.lx)
                  let slopeY = c.lx * (c.bottomRight - c.topRight) + hx * (c.bottomLeft - c.topLeft)
                  let slopeX = c.ly * (c.bottomRight - c.bottomLeft) + hy * (c.topRight - c.topLeft)
                  let (upstreamValue, modulated) = (upstream[position], scale[position] * upstream[position])
                  gradY[position] += modulated * slopeY
                  gradX[position] += modulated * slopeX
                  gradMask[position] += upstreamValue * bilinearValue(c)
                }
              }
            }
          }
        }
      }
    }
    return (inputGrad, offsetGrad, weightGrad, mask == nil ? nil : maskGrad)
  }
}

/// The sample corners of one image's deformable convolution: for every (offset group, tap, output position), the
/// four corner indices into the input plane and their bilinear weights, times the mask, 0 for corners outside the
/// image. The sample positions depend on the offset group, tap and position only, so the group's channels share them.
struct DeformSamplingPlan {
  /// `[G, K, Ho·Wo, 4]` each.
  let indices: PooledScratch<Int32>, weights: PooledScratch<Float>

  init(image: Int, _ offset: Tensor, _ mask: Tensor?, _ d: Tensor.DeformGeometry) {
    let g = d.conv
    let taps = d.taps
    let (offsets, masks) = (offset.data, mask?.data)
    let samples = d.offsetGroups * taps * g.outArea
    (indices, weights) = (PooledScratch<Int32>(count: samples * 4), PooledScratch<Float>(count: samples * 4))
    let (indexData, weightData) = (indices.pointer, weights.pointer)
    Parallel.forEach(d.offsetGroups * taps, costPerItem: g.outArea * 16) { groupTap in
      let (group, tap) = (groupTap / taps, groupTap % taps)
      let offsetY = offsets + d.offsetStart(image: image, group: group, tap: tap)
      let offsetX = offsetY + g.outArea
      let origin = d.tapOrigin(tap)
      let modulation = masks.map { $0 + d.maskStart(image: image, group: group, tap: tap) }
      let (slotIndices, slotWeights) = (indexData + groupTap * g.outArea * 4, weightData + groupTap * g.outArea * 4)
      for y in 0..<g.outHeight {
        let rowY = Float(y * g.stride.0 + origin.y)
        for x in 0..<g.outWidth {
          let position = y * g.outWidth + x
          let (sampleY, sampleX) = (rowY + offsetY[position], Float(x * g.stride.1 + origin.x) + offsetX[position])
          let (index, weight) = (slotIndices + position * 4, slotWeights + position * 4)
          index.update(repeating: 0, count: 4)
          weight.update(repeating: 0, count: 4)
          // The bounds of `deformCorners`, and `bilinearValue`'s weights.
          guard sampleY >= -1 && sampleY < Float(g.height) && sampleX >= -1 && sampleX < Float(g.width) else {
            continue
          }
          let (yFloor, xFloor) = (sampleY.rounded(.down), sampleX.rounded(.down))
          let (top, left) = (Int(yFloor), Int(xFloor))
          // The rows' weights carry the mask, so the gathered sum comes out modulated.
          let (fractionY, scale) = (sampleY - yFloor, modulation?[position] ?? 1)
          let (ly, hy) = (fractionY * scale, (1 - fractionY) * scale)
          let lx = sampleX - xFloor
          let hx = 1 - lx
          let topValid = top >= 0, bottomValid = top + 1 < g.height
          let leftValid = left >= 0, rightValid = left + 1 < g.width
          let corner = top * g.width + left
          if topValid && leftValid { (index[0], weight[0]) = (Int32(corner), hy * hx) }
          if topValid && rightValid { (index[1], weight[1]) = (Int32(corner + 1), hy * lx) }
          if bottomValid && leftValid { (index[2], weight[2]) = (Int32(corner + g.width), ly * hx) }
          if bottomValid && rightValid { (index[3], weight[3]) = (Int32(corner + g.width + 1), ly * lx) }
        }
      }
    }
  }
}

/// Deformable-convolution weights `[O, C, kh, kw]` reordered to `[O, kh, kw, C]` for `deformColumnsByPosition`'s
/// columns, made once per weight (`DerivedWeights`, at most 32 Mi floats; GLIP-L's DyHead needs 14 M).
final class TapMajorWeights: @unchecked Sendable {
  static let shared = TapMajorWeights()

  private let lock = NSLock()
  private var store = DerivedWeights<[Int]>(limitFloats: 32 << 20)

  func reordered(_ weight: Tensor, taps: Int) -> Tensor {
    lock.lock()
    defer { lock.unlock() }
    return store.derived(from: weight, weight.shape, isSame: { $0 == weight.shape }) {
      let (outChannels, channels) = (weight.shape[0], weight.count / (weight.shape[0] * taps))
      let reordered = Tensor(uninitializedShape: [outChannels, taps * channels])
      let (source, target) = (weight.data, reordered.mutableData)
      for output in 0..<outChannels {
        let (from, to) = (source + output * channels * taps, target + output * channels * taps)
        for channel in 0..<channels {
          for tap in 0..<taps { to[tap * channels + channel] = from[channel * taps + tap] }
        }
      }
      return reordered
    }
  }
}
