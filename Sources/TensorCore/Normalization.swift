/// Layer, group and batch normalisation. The normalisation itself is one fused kernel with an analytic backward;
/// the affine part is ordinary broadcasting arithmetic.
extension Tensor {
  /// Where each statistics group's values lie: `blocks` runs of `blockLength` contiguous values, `blockStride` apart,
  /// with group g starting at g·`groupStride`.
  struct GroupLayout {
    let groups: Int, groupStride: Int, blocks: Int, blockLength: Int, blockStride: Int
    var groupSize: Int { blocks * blockLength }

    /// Calls `body` with the start of each of the group's contiguous blocks.
    @inline(__always)
    func forEachBlock(in group: Int, _ body: (Int) -> Void) {
      for block in 0..<blocks { body(group * groupStride + block * blockStride) }
    }

    @inline(__always)
    func forEach(in group: Int, _ body: (Int) -> Void) {
      for block in 0..<blocks {
        let start = group * groupStride + block * blockStride
        for index in start..<(start + blockLength) { body(index) }
      }
    }
  }

  /// Σ x in double precision, over eight lanes (a fixed order, so results are the same on every run).
  @inline(__always)
  static func sum(_ values: UnsafePointer<Float>, count: Int) -> Double {
    var lanes = SIMD8<Double>()
    var index = 0
    while index + 8 <= count {
      lanes += SIMD8<Double>(UnsafeRawPointer(values + index).loadUnaligned(as: SIMD8<Float>.self))
      index += 8
    }
    var total = lanes.sum()
    while index < count {
      total += Double(values[index])
      index += 1
    }
    return total
  }

  /// Σ a·b and Σ a over `count` floats, over eight lanes each (a fixed order).
  @inline(__always)
  static func dotAndSum(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> (dot: Float, sum: Float) {
    var (products, sums) = (SIMD8<Float>(), SIMD8<Float>())
    var index = 0
    while index + 8 <= count {
      let left = UnsafeRawPointer(a + index).loadUnaligned(as: SIMD8<Float>.self)
      products += left * UnsafeRawPointer(b + index).loadUnaligned(as: SIMD8<Float>.self)
      sums += left
      index += 8
    }
    var (dot, sum) = (products.sum(), sums.sum())
    while index < count {
      dot += a[index] * b[index]
      sum += a[index]
      index += 1
    }
    return (dot, sum)
  }

  /// Σ (x − mean)² in double precision, over eight lanes.
  @inline(__always)
  static func squaredDeviations(_ values: UnsafePointer<Float>, count: Int, from mean: Float) -> Double {
    var lanes = SIMD8<Double>()
    let center = SIMD8<Float>(repeating: mean)
    var index = 0
    while index + 8 <= count {
      let centered = SIMD8<Double>(UnsafeRawPointer(values + index).loadUnaligned(as: SIMD8<Float>.self) - center)
      lanes += centered * centered
      index += 8
    }
    var total = lanes.sum()
    while index < count {
      let centered = Double(values[index] - mean)
      total += centered * centered
      index += 1
    }
    return total
  }

  /// x̂ = (x − mean) / √(var + eps) per group, with biased variance. Returns x̂ and each group's mean and variance.
  func normalized(_ layout: GroupLayout, epsilon: Float, op: String) -> (
    normalized: Tensor, mean: [Float], variance: [Float]
  ) {
    let output = Tensor(uninitializedShape: shape)
    var means = [Float](repeating: 0, count: layout.groups)
    var variances = [Float](repeating: 0, count: layout.groups)
    var inverseDeviations = [Float](repeating: 0, count: layout.groups)
    let (source, out) = (data, output.mutableData)
    let count = Float(layout.groupSize)
    means.withUnsafeMutableBufferPointer { meanBuffer in
      variances.withUnsafeMutableBufferPointer { varianceBuffer in
        inverseDeviations.withUnsafeMutableBufferPointer { inverseBuffer in
          Parallel.forEach(layout.groups, costPerItem: layout.groupSize * 3) { group in
            var total: Double = 0
            layout.forEachBlock(in: group) { total += Tensor.sum(source + $0, count: layout.blockLength) }
            let mean = Float(total / Double(count))
            var squares: Double = 0
            layout.forEachBlock(in: group) {
              squares += Tensor.squaredDeviations(source + $0, count: layout.blockLength, from: mean)
            }
            let variance = Float(squares / Double(count))
            let inverse = 1 / (variance + epsilon).squareRoot()
            layout.forEach(in: group) { out[$0] = (source[$0] - mean) * inverse }
            meanBuffer[group] = mean
            varianceBuffer[group] = variance
            inverseBuffer[group] = inverse
          }
        }
      }
    }
    let recorded = Tensor.record(op, output: output, inputs: [self]) { grad in
      let inputGrad = Tensor(uninitializedShape: output.shape)
      let (xhat, g, target) = (output.data, grad.data, inputGrad.mutableData)
      Parallel.forEach(layout.groups, costPerItem: layout.groupSize * 3) { group in
        var gradSum: Float = 0, projection: Float = 0
        layout.forEachBlock(in: group) {
          let (dot, sum) = Tensor.dotAndSum(g + $0, xhat + $0, count: layout.blockLength)
          gradSum += sum
          projection += dot
        }
        let (meanGrad, meanProjection) = (gradSum / count, projection / count)
        let inverse = inverseDeviations[group]
        layout.forEach(in: group) { target[$0] = inverse * (g[$0] - meanGrad - xhat[$0] * meanProjection) }
      }
      return [inputGrad]
    }
    return (recorded, means, variances)
  }

  /// `F.layer_norm` over the last `normalizedAxes` axes; weight and bias have the shape of those axes.
  public static func layerNorm(
    _ input: Tensor, normalizedAxes: Int = 1, weight: Tensor? = nil, bias: Tensor? = nil, epsilon: Float = 1e-5
  ) -> Tensor {
    precondition(
      normalizedAxes >= 1 && normalizedAxes <= input.rank,
      "layerNorm: cannot normalise \(normalizedAxes) axes of \(input.shape)")
    let normalizedShape = Array(input.shape.suffix(normalizedAxes))
    for parameter in [weight, bias].compactMap({ $0 }) {
      precondition(
        parameter.shape == normalizedShape, "layerNorm: affine parameter \(parameter.shape) must be \(normalizedShape)")
    }
    let length = normalizedShape.reduce(1, *)
    let recording =
      GradMode.isEnabled && (input.requiresGrad || weight?.requiresGrad == true || bias?.requiresGrad == true)
    if !recording && length > 0 {
      return layerNormRows(input, length: length, weight: weight, bias: bias, epsilon: epsilon)
    }
    let layout = GroupLayout(
      groups: input.count / Swift.max(length, 1), groupStride: length, blocks: 1, blockLength: length, blockStride: 0)
    return affine(input.normalized(layout, epsilon: epsilon, op: "layer_norm").normalized, weight, bias)
  }

  /// Layer norm for inference in one pass over the output: the statistics as `normalized` computes them, then
  /// `(x − mean) · inverse · weight + bias` row by row, the same operations in the same order as the recorded path's
  /// three passes (so the same bits).
  private static func layerNormRows(
    _ input: Tensor, length: Int, weight: Tensor?, bias: Tensor?, epsilon: Float
  ) -> Tensor {
    let output = Tensor(uninitializedShape: input.shape)
    let (source, out) = (input.data, output.mutableData)
    let (scale, shift) = (weight?.data, bias?.data)
    Parallel.forEach(input.count / length, costPerItem: length * 3) { row in
      let (values, target) = (source + row * length, out + row * length)
      let mean = Float(Tensor.sum(values, count: length) / Double(length))
      let variance = Float(Tensor.squaredDeviations(values, count: length, from: mean) / Double(length))
      let inverse = 1 / (variance + epsilon).squareRoot()
      switch (scale, shift) {
      case let (scale?, shift?):
        for index in 0..<length { target[index] = (values[index] - mean) * inverse * scale[index] + shift[index] }
      case (let scale?, nil):
        for index in 0..<length { target[index] = (values[index] - mean) * inverse * scale[index] }
      case (nil, let shift?):
        for index in 0..<length { target[index] = (values[index] - mean) * inverse + shift[index] }
      case (nil, nil):
        for index in 0..<length { target[index] = (values[index] - mean) * inverse }
      }
    }
    return output
  }

  /// `F.group_norm` on `[N, C, *]`: statistics per sample over each group of C/groups channels.
  public static func groupNorm(
    _ input: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil, epsilon: Float = 1e-5
  ) -> Tensor {
    precondition(input.rank >= 2, "groupNorm: input must be [N, C, *], got \(input.shape)")
    let channels = input.shape[1]
    precondition(groups > 0 && channels % groups == 0, "groupNorm: \(groups) groups do not divide \(channels) channels")
    checkChannelParameters(weight, bias, channels: channels, op: "groupNorm")
    let groupLength = input.count / (input.shape[0] * groups)
    let layout = GroupLayout(
      groups: input.shape[0] * groups, groupStride: groupLength, blocks: 1, blockLength: groupLength, blockStride: 0)
    let normalized = input.normalized(layout, epsilon: epsilon, op: "group_norm").normalized
    return channelAffine(normalized, weight: weight, bias: bias)
  }

  /// `F.batch_norm` on `[N, C, *]`.
  ///
  /// In training it normalises with the batch statistics (biased variance) and, when running statistics are given,
  /// updates them in place with `momentum` (the running variance takes the unbiased batch variance, as PyTorch does).
  /// In evaluation it uses the running statistics.
  public static func batchNorm(
    _ input: Tensor, runningMean: inout Tensor?, runningVariance: inout Tensor?, weight: Tensor? = nil,
    bias: Tensor? = nil, training: Bool, momentum: Float = 0.1, epsilon: Float = 1e-5
  ) -> Tensor {
    precondition(input.rank >= 2, "batchNorm: input must be [N, C, *], got \(input.shape)")
    let (batch, channels) = (input.shape[0], input.shape[1])
    let spatial = input.count / Swift.max(batch * channels, 1)
    checkChannelParameters(weight, bias, channels: channels, op: "batchNorm")
    for statistic in [runningMean, runningVariance].compactMap({ $0 }) {
      precondition(
        statistic.shape == [channels], "batchNorm: running statistics must be [\(channels)], got \(statistic.shape)")
    }
    guard training else {
      guard let mean = runningMean, let variance = runningVariance else {
        preconditionFailure("batchNorm: evaluation mode needs running statistics")
      }
      // One pass, as PyTorch's inference kernel: y = x·scale + shift with scale = weight/√(var + eps) and
      // shift = bias − mean·scale (computed on the [C] vectors, with autograd for weight and bias).
      let inverse = withNoGrad { (variance + epsilon).rsqrt() }
      let scale = weight.map { $0 * inverse } ?? inverse
      let shift = bias.map { $0 - mean * scale } ?? -(mean * scale)
      return channelAffine(input, scale: scale, shift: shift)
    }
    let count = batch * spatial
    precondition(count > 1, "batchNorm: training needs more than one value per channel, got input \(input.shape)")
    let layout = GroupLayout(
      groups: channels, groupStride: spatial, blocks: batch, blockLength: spatial, blockStride: channels * spatial)
    let (normalized, means, variances) = input.normalized(layout, epsilon: epsilon, op: "batch_norm")
    if let mean = runningMean, let variance = runningVariance {
      let unbiased = Float(count) / Float(count - 1)
      runningMean = Tensor(
        shape: [channels], values: (0..<channels).map { (1 - momentum) * mean[flat: $0] + momentum * means[$0] })
      runningVariance = Tensor(
        shape: [channels],
        values: (0..<channels).map { (1 - momentum) * variance[flat: $0] + momentum * variances[$0] * unbiased })
    }
    return channelAffine(normalized, weight: weight, bias: bias)
  }

  /// The per-channel affine step after group or batch normalisation, in one pass when both are given.
  private static func channelAffine(_ normalized: Tensor, weight: Tensor?, bias: Tensor?) -> Tensor {
    guard let weight, let bias else {
      return affine(
        normalized, weight.map { channelView($0, rank: normalized.rank) },
        bias.map { channelView($0, rank: normalized.rank) })
    }
    return channelAffine(normalized, scale: weight, shift: bias)
  }

  /// `input · scale[c] + shift[c]` on `[N, C, *]` in one pass, with scale and shift `[C]`.
  static func channelAffine(_ input: Tensor, scale: Tensor, shift: Tensor) -> Tensor {
    let (batch, channels) = (input.shape[0], input.shape[1])
    let plane = input.count / Swift.max(batch * channels, 1)
    let output = Tensor(uninitializedShape: input.shape)
    let (source, scales, shifts, out) = (input.data, scale.data, shift.data, output.mutableData)
    Parallel.forEach(batch * channels, costPerItem: plane) { index in
      let (a, b) = (scales[index % channels], shifts[index % channels])
      let (from, to) = (source + index * plane, out + index * plane)
      for position in 0..<plane { to[position] = from[position] * a + b }
    }
    return record("channel_affine", output: output, inputs: [input, scale, shift]) { grad in
      let g = grad.data
      var inputGrad: Tensor?
      if input.requiresGrad {
        let result = Tensor(uninitializedShape: input.shape)
        let target = result.mutableData
        Parallel.forEach(batch * channels, costPerItem: plane) { index in
          let a = scales[index % channels]
          let (from, to) = (g + index * plane, target + index * plane)
          for position in 0..<plane { to[position] = from[position] * a }
        }
        inputGrad = result
      }
      guard scale.requiresGrad || shift.requiresGrad else { return [inputGrad, nil, nil] }
      // Per channel, images in order: a fixed summation order whatever the thread count.
      let (scaleGrad, shiftGrad) = (Tensor.zeros([channels]), Tensor.zeros([channels]))
      let (scaleOut, shiftOut) = (scaleGrad.mutableData, shiftGrad.mutableData)
      Parallel.forEach(channels, costPerItem: batch * plane * 2) { channel in
        var (products, sums): (Float, Float) = (0, 0)
        for image in 0..<batch {
          let offset = (image * channels + channel) * plane
          let (dot, sum) = Tensor.dotAndSum(g + offset, source + offset, count: plane)
          products += dot
          sums += sum
        }
        scaleOut[channel] = products
        shiftOut[channel] = sums
      }
      return [inputGrad, scaleGrad, shiftGrad]
    }
  }

  private static func checkChannelParameters(_ weight: Tensor?, _ bias: Tensor?, channels: Int, op: String) {
    for (name, parameter) in [("weight", weight), ("bias", bias)] {
      guard let parameter else { continue }
      precondition(parameter.shape == [channels], "\(op): \(name) must be [\(channels)], got \(parameter.shape)")
    }
  }

  /// A per-channel vector `[C]` shaped `[1, C, 1, …]` to broadcast over `[N, C, *]`.
  static func channelView(_ vector: Tensor, rank: Int) -> Tensor {
    vector.reshaped([1, vector.count] + [Int](repeating: 1, count: Swift.max(rank - 2, 0)))
  }

  private static func affine(_ normalized: Tensor, _ weight: Tensor?, _ bias: Tensor?) -> Tensor {
    var result = normalized
    if let weight { result = result * weight }
    if let bias { result = result + bias }
    return result
  }
}
