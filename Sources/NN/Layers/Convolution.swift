import TensorCore

/// `nn.Conv2d`: `[N, C, H, W] → [N, O, Ho, Wo]`, weight `[O, C/groups, kh, kw]`, PyTorch's default initialisation.
public final class Conv2d: Module, UnaryLayer {
  public let weight: Parameter
  public let bias: Parameter?
  public let stride: (Int, Int)
  public let padding: (Int, Int)
  public let dilation: (Int, Int)
  public let groups: Int

  public init(
    _ inChannels: Int, _ outChannels: Int, kernelSize: (Int, Int), stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1, bias: Bool = true,
    generator: inout SeededGenerator
  ) {
    precondition(
      inChannels % groups == 0 && outChannels % groups == 0,
      "Conv2d: groups \(groups) must divide in (\(inChannels)) and out (\(outChannels)) channels")
    let shape = [outChannels, inChannels / groups, kernelSize.0, kernelSize.1]
    weight = Parameter(Initialization.defaultWeight(shape, generator: &generator))
    self.bias =
      bias ? Parameter(Initialization.defaultBias(outChannels, weightShape: shape, generator: &generator)) : nil
    self.stride = stride
    self.padding = padding
    self.dilation = dilation
    self.groups = groups
    super.init()
    register("weight", weight)
    if let bias = self.bias { register("bias", bias) }
  }

  public convenience init(
    _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
    groups: Int = 1, bias: Bool = true, generator: inout SeededGenerator
  ) {
    self.init(
      inChannels, outChannels, kernelSize: (kernelSize, kernelSize), stride: (stride, stride),
      padding: (padding, padding), dilation: (dilation, dilation), groups: groups, bias: bias, generator: &generator)
  }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    Tensor.conv2d(
      input, weight: weight.value, bias: bias?.value, stride: stride, padding: padding, dilation: dilation,
      groups: groups)
  }

  /// `activation(norm(self(input)) + residual)`. When `norm` is at the moment a fixed per-channel affine map and the
  /// convolution has no bias, this is one fused convolution (`Tensor.fusedConv2d`): the same values without a pass
  /// per step; otherwise the steps run one after another.
  public func callAsFunction(
    _ input: Tensor, norm: any UnaryLayer, residual: Tensor? = nil, activation: Tensor.FusedActivation = .none
  ) -> Tensor {
    if bias == nil, let affine = (norm as? any ChannelAffineNormalization)?.fixedChannelAffine {
      return Tensor.fusedConv2d(
        input, weight: weight.value, scale: affine.scale, shift: affine.shift, residual: residual,
        activation: activation, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
    var output = norm(self(input))
    if let residual { output = output + residual }
    return output.activated(activation)
  }

  /// `callAsFunction(_:norm:residual:activation:)` on a chain kept in oneDNN's blocked layout: nil unless the
  /// convolution has no bias and `norm` is at the moment a fixed per-channel affine map, or when the chain does not
  /// apply (`BlockedFeatureMap.fusedConv2d`).
  public func callAsFunction(
    _ input: BlockedFeatureMap, norm: any UnaryLayer, residual: BlockedFeatureMap? = nil,
    activation: Tensor.FusedActivation = .none
  ) -> BlockedFeatureMap? {
    guard bias == nil, let affine = (norm as? any ChannelAffineNormalization)?.fixedChannelAffine else { return nil }
    return input.fusedConv2d(
      weight: weight.value, scale: affine.scale, shift: affine.shift, residual: residual, activation: activation,
      stride: stride, padding: padding, dilation: dilation, groups: groups)
  }

  override public var hyperParameters: String {
    let shape = weight.shape
    var parts = ["\(shape[1] * groups) → \(shape[0])", "kernel: \(shape[2])×\(shape[3])"]
    if stride != (1, 1) { parts.append("stride: \(stride.0)×\(stride.1)") }
    if padding != (0, 0) { parts.append("padding: \(padding.0)×\(padding.1)") }
    if dilation != (1, 1) { parts.append("dilation: \(dilation.0)×\(dilation.1)") }
    if groups != 1 { parts.append("groups: \(groups)") }
    if bias == nil { parts.append("bias: false") }
    return parts.joined(separator: ", ")
  }
}

/// Modulated deformable convolution (DCNv2) with its own offset/mask convolution.
///
/// The offset conv (3·kh·kw outputs, zero-initialised so training starts from a plain convolution) sees the input;
/// its first 2·kh·kw channels are offsets, the last kh·kw pass through a sigmoid to give the mask, as in GLIP's DyHead.
public final class DeformConv2d: Module, UnaryLayer {
  public let weight: Parameter
  public let bias: Parameter?
  public let offset: Conv2d
  public let stride: (Int, Int)
  public let padding: (Int, Int)
  public let dilation: (Int, Int)

  public init(
    _ inChannels: Int, _ outChannels: Int, kernelSize: Int = 3, stride: Int = 1, padding: Int = 1, dilation: Int = 1,
    bias: Bool = true, generator: inout SeededGenerator
  ) {
    let shape = [outChannels, inChannels, kernelSize, kernelSize]
    weight = Parameter(Initialization.defaultWeight(shape, generator: &generator))
    self.bias =
      bias ? Parameter(Initialization.defaultBias(outChannels, weightShape: shape, generator: &generator)) : nil
    offset = Conv2d(
      inChannels, 3 * kernelSize * kernelSize, kernelSize: kernelSize, stride: stride, padding: padding,
      dilation: dilation, generator: &generator)
    offset.weight.assign(.zeros(offset.weight.shape))
    offset.bias?.assign(.zeros([3 * kernelSize * kernelSize]))
    self.stride = (stride, stride)
    self.padding = (padding, padding)
    self.dilation = (dilation, dilation)
    super.init()
    register("weight", weight)
    if let bias = self.bias { register("bias", bias) }
    register("offset", offset)
  }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    let taps = weight.shape[2] * weight.shape[3]
    let offsetAndMask = offset(input)
    let offsets = offsetAndMask.narrow(axis: 1, start: 0, length: 2 * taps)
    let mask = offsetAndMask.narrow(axis: 1, start: 2 * taps, length: taps).sigmoid()
    return callAsFunction(input, offsets: offsets, mask: mask)
  }

  /// Applies the deformable convolution with offsets and mask computed elsewhere (shared across levels in DyHead).
  public func callAsFunction(_ input: Tensor, offsets: Tensor, mask: Tensor?) -> Tensor {
    Tensor.deformConv2d(
      input, offset: offsets, weight: weight.value, bias: bias?.value, mask: mask, stride: stride, padding: padding,
      dilation: dilation)
  }

  override public var hyperParameters: String {
    "\(weight.shape[1]) → \(weight.shape[0]), kernel: \(weight.shape[2])×\(weight.shape[3])"
      + (stride != (1, 1) ? ", stride: \(stride.0)" : "")
  }
}
