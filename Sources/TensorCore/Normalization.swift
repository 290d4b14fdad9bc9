/// Layer, group and batch normalisation. The normalisation itself is one fused kernel with an analytic backward;
/// the affine part is ordinary broadcasting arithmetic.
extension Tensor {
  /// Where each statistics group's values lie: `blocks` runs of `blockLength` contiguous values, `blockStride` apart,
  /// with group g starting at g·`groupStride`.
  struct GroupLayout {
    let groups: Int, groupStride: Int, blocks: Int, blockLength: Int, blockStride: Int
    var groupSize: Int { blocks * blockLength }

    @inline(__always)
    func forEach(in group: Int, _ body: (Int) -> Void) {
      for block in 0..<blocks {
        let start = group * groupStride + block * blockStride
        for index in start..<(start + blockLength) { body(index) }
      }
    }
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
            layout.forEach(in: group) { total += Double(source[$0]) }
            let mean = Float(total / Double(count))
            var squares: Double = 0
            layout.forEach(in: group) {
              let centered = Double(source[$0] - mean)
              squares += centered * centered
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
        layout.forEach(in: group) {
          gradSum += g[$0]
          projection += g[$0] * xhat[$0]
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
    let layout = GroupLayout(
      groups: input.count / Swift.max(length, 1), groupStride: length, blocks: 1, blockLength: length, blockStride: 0)
    return affine(input.normalized(layout, epsilon: epsilon, op: "layer_norm").normalized, weight, bias)
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
    return affine(
      normalized, weight.map { channelView($0, rank: input.rank) }, bias.map { channelView($0, rank: input.rank) })
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
      let inverse = withNoGrad { (variance + epsilon).rsqrt() }
      let normalized = (input - channelView(mean, rank: input.rank)) * channelView(inverse, rank: input.rank)
      return affine(
        normalized, weight.map { channelView($0, rank: input.rank) }, bias.map { channelView($0, rank: input.rank) })
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
    return affine(
      normalized, weight.map { channelView($0, rank: input.rank) }, bias.map { channelView($0, rank: input.rank) })
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
