/// Convolution with its per-channel affine step, residual add and activation applied as one epilogue.
///
/// A ResNet block in evaluation mode is conv → BatchNorm (a fixed per-channel affine map) → [+ identity] → ReLU:
/// unfused, every step is a full pass over the feature map, and together they cost as much as the convolutions of
/// the small layers. Fused, the epilogue runs on each output plane right after the convolution writes it.
extension Tensor {
  /// The activation a fused convolution ends with.
  public enum FusedActivation: Sendable {
    case none, relu, relu6
  }

  /// This tensor through `activation`, as separate ops (the unfused form of a fused convolution's last step).
  public func activated(_ activation: FusedActivation) -> Tensor {
    switch activation {
    case .none: return self
    case .relu: return relu()
    case .relu6: return relu6()
    }
  }

  /// `activation(conv2d(input, weight) · scale[o] + shift[o] + residual)` on `[N, C, H, W]`, with `scale` and `shift`
  /// `[O]` (nil: 1 and 0) and `residual` of the output's shape. The values equal the unfused ops' (same operations in
  /// the same order). When autograd would record (grad mode on and an operand requires grad) it runs the unfused
  /// ops, so gradients are always those of the composition.
  public static func fusedConv2d(
    _ input: Tensor, weight: Tensor, scale: Tensor? = nil, shift: Tensor? = nil, residual: Tensor? = nil,
    activation: FusedActivation = .none, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) -> Tensor {
    let operands = [input, weight] + [scale, shift, residual].compactMap { $0 }
    if GradMode.isEnabled && operands.contains(where: \.requiresGrad) {
      var output = conv2d(input, weight: weight, stride: stride, padding: padding, dilation: dilation, groups: groups)
      if scale != nil || shift != nil {
        let channels = output.shape[1]
        output = channelAffine(
          output, scale: scale ?? .ones([channels]), shift: shift ?? .zeros([channels]))
      }
      if let residual { output = output + residual }
      return output.activated(activation)
    }
    let geometry = convGeometry(
      input, weight, stride: stride, padding: padding, dilation: dilation, groups: groups, op: "fusedConv2d")
    geometry.checkEpilogue(scale: scale, shift: shift, residualShape: residual?.shape, op: "fusedConv2d")
    let epilogue = ConvEpilogue(
      scale: scale?.data, shift: shift?.data, residual: residual?.data, activation: activation)
    // The operands must outlive the raw pointers the epilogue holds.
    return withExtendedLifetime((scale, shift, residual)) {
      if let output = oneDNNConvForward(input, weight, nil, geometry) {
        applyEpilogue(epilogue, to: output, geometry)
        return output
      }
      return geometry.isDepthwise
        ? depthwiseForward(input, weight, nil, geometry, epilogue: epilogue)
        : denseConvForward(input, weight, nil, geometry, epilogue: epilogue)
    }
  }
}

extension Tensor.ConvGeometry {
  /// Preconditions that `scale` and `shift` are `[O]` and the residual has the output's shape, naming `op`.
  func checkEpilogue(scale: Tensor?, shift: Tensor?, residualShape: [Int]?, op: String) {
    for (name, vector) in [("scale", scale), ("shift", shift)] {
      guard let vector else { continue }
      precondition(vector.shape == [outChannels], "\(op): \(name) must be [\(outChannels)], got \(vector.shape)")
    }
    if let residualShape {
      precondition(residualShape == outputShape, "\(op): residual must be \(outputShape), got \(residualShape)")
    }
  }
}

extension Tensor {
  /// Applies `epilogue` to every output plane of `output` (`[N, O, Ho, Wo]`) in one parallel pass.
  static func applyEpilogue(_ epilogue: ConvEpilogue, to output: Tensor, _ g: ConvGeometry) {
    let out = output.mutableData
    Parallel.forEach(g.batch * g.outChannels, costPerItem: g.outArea) { plane in
      epilogue.apply(to: out, offset: plane * g.outArea, count: g.outArea, channel: plane % g.outChannels)
    }
  }
}

/// Per-output-channel epilogue of a fused convolution: `activation(value · scale + shift + residual)`.
struct ConvEpilogue {
  let scale: UnsafePointer<Float>?
  let shift: UnsafePointer<Float>?
  /// Same layout as the output.
  let residual: UnsafePointer<Float>?
  let activation: Tensor.FusedActivation

  /// Applies the epilogue to `count` values of output channel `channel`, at `offset` in the output.
  @inline(__always)
  func apply(to output: UnsafeMutablePointer<Float>, offset: Int, count: Int, channel: Int) {
    let plane = output + offset
    let (a, b) = (scale?[channel] ?? 1, shift?[channel] ?? 0)
    // The activations as clamps (min(max(v, low), high) keeps v and NaN where a bound is infinite), so that one
    // branch-free loop per residual case covers them all and vectorises.
    let (low, high): (Float, Float)
    switch activation {
    case .none: (low, high) = (-.infinity, .infinity)
    case .relu: (low, high) = (0, .infinity)
    case .relu6: (low, high) = (0, 6)
    }
    if let residual {
      let identity = residual + offset
      for index in 0..<count { plane[index] = Swift.min(Swift.max(plane[index] * a + b + identity[index], low), high) }
    } else {
      for index in 0..<count { plane[index] = Swift.min(Swift.max(plane[index] * a + b, low), high) }
    }
  }
}
