import TensorCore

/// A normalisation that can be, for the moment, a fixed per-channel affine map `x·scale[c] + shift[c]` on `[N, C, *]`
/// (BatchNorm in evaluation mode, FrozenBatchNorm), so that a convolution before it can apply it in its epilogue.
public protocol ChannelAffineNormalization {
  /// The `[C]` scale and shift of the map, computed as the layer's own forward computes them, or nil while the
  /// layer depends on its input (BatchNorm in training mode).
  var fixedChannelAffine: (scale: Tensor, shift: Tensor)? { get }
}

/// `nn.BatchNorm2d` (works on any `[N, C, *]`): batch statistics and running-statistics updates in training mode,
/// running statistics in evaluation mode. Keys: weight, bias, running_mean, running_var, num_batches_tracked.
public final class BatchNorm2d: Module, UnaryLayer, NormalizationLayer, ChannelAffineNormalization {
  public let weight: Parameter
  public let bias: Parameter
  public let runningMean: Buffer
  public let runningVariance: Buffer
  public let batchesTracked: Buffer
  public let momentum: Float
  public let epsilon: Float

  public init(_ channels: Int, momentum: Float = 0.1, epsilon: Float = 1e-5) {
    weight = Parameter(.ones([channels]))
    bias = Parameter(.zeros([channels]))
    runningMean = Buffer(.zeros([channels]))
    runningVariance = Buffer(.ones([channels]))
    batchesTracked = Buffer(Tensor(scalar: 0))
    self.momentum = momentum
    self.epsilon = epsilon
    super.init()
    register("weight", weight)
    register("bias", bias)
    register("running_mean", runningMean)
    register("running_var", runningVariance)
    register("num_batches_tracked", batchesTracked)
  }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    var (mean, variance): (Tensor?, Tensor?) = (runningMean.value, runningVariance.value)
    let output = Tensor.batchNorm(
      input, runningMean: &mean, runningVariance: &variance, weight: weight.value, bias: bias.value,
      training: isTraining, momentum: momentum, epsilon: epsilon)
    if isTraining {
      runningMean.value = mean!
      runningVariance.value = variance!
      batchesTracked.value = Tensor(scalar: batchesTracked.value.item + 1)
    }
    return output
  }

  /// In evaluation mode, the map `Tensor.batchNorm` applies (with autograd for weight and bias).
  public var fixedChannelAffine: (scale: Tensor, shift: Tensor)? {
    guard !isTraining else { return nil }
    let inverse = withNoGrad { (runningVariance.value + epsilon).rsqrt() }
    let scale = weight.value * inverse
    return (scale, bias.value - runningMean.value * scale)
  }

  override public var hyperParameters: String { "\(weight.count), eps: \(epsilon), momentum: \(momentum)" }
}

/// BatchNorm with fixed statistics and affine parameters (torchvision's `FrozenBatchNorm2d`): y = x·scale + shift
/// with scale = weight/√(running_var + eps), shift = bias − running_mean·scale, in training and evaluation alike.
/// Its weight and bias are frozen parameters, so they load from checkpoints but never train.
public final class FrozenBatchNorm2d: Module, UnaryLayer, NormalizationLayer, ChannelAffineNormalization {
  public let weight: Parameter
  public let bias: Parameter
  public let runningMean: Buffer
  public let runningVariance: Buffer
  public let epsilon: Float

  public init(_ channels: Int, epsilon: Float = 1e-5) {
    weight = Parameter(.ones([channels]), fixed: true)
    bias = Parameter(.zeros([channels]), fixed: true)
    runningMean = Buffer(.zeros([channels]))
    runningVariance = Buffer(.ones([channels]))
    self.epsilon = epsilon
    super.init()
    register("weight", weight)
    register("bias", bias)
    register("running_mean", runningMean)
    register("running_var", runningVariance)
  }

  public var fixedChannelAffine: (scale: Tensor, shift: Tensor)? {
    withNoGrad {
      let scale = weight.value * (runningVariance.value + epsilon).rsqrt()
      return (scale, bias.value - runningMean.value * scale)
    }
  }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    let (scale, shift) = fixedChannelAffine!
    let view = [1, scale.count] + [Int](repeating: 1, count: max(input.rank - 2, 0))
    return input * scale.reshaped(view) + shift.reshaped(view)
  }

  override public var hyperParameters: String { "\(weight.count), eps: \(epsilon)" }
}

/// `nn.GroupNorm` over `[N, C, *]`.
public final class GroupNorm: Module, UnaryLayer, NormalizationLayer {
  public let groups: Int
  public let weight: Parameter
  public let bias: Parameter
  public let epsilon: Float

  public init(groups: Int, channels: Int, epsilon: Float = 1e-5) {
    precondition(channels % groups == 0, "GroupNorm: \(groups) groups do not divide \(channels) channels")
    self.groups = groups
    weight = Parameter(.ones([channels]))
    bias = Parameter(.zeros([channels]))
    self.epsilon = epsilon
    super.init()
    register("weight", weight)
    register("bias", bias)
  }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    Tensor.groupNorm(input, groups: groups, weight: weight.value, bias: bias.value, epsilon: epsilon)
  }

  override public var hyperParameters: String { "groups: \(groups), channels: \(weight.count)" }
}

/// `nn.LayerNorm` over the last axis (or the last axes of `shape`).
public final class LayerNorm: Module, UnaryLayer, NormalizationLayer {
  public let weight: Parameter
  public let bias: Parameter
  public let epsilon: Float

  public init(_ shape: [Int], epsilon: Float = 1e-5) {
    weight = Parameter(.ones(shape))
    bias = Parameter(.zeros(shape))
    self.epsilon = epsilon
    super.init()
    register("weight", weight)
    register("bias", bias)
  }

  public convenience init(_ features: Int, epsilon: Float = 1e-5) { self.init([features], epsilon: epsilon) }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    Tensor.layerNorm(
      input, normalizedAxes: weight.shape.count, weight: weight.value, bias: bias.value, epsilon: epsilon)
  }

  override public var hyperParameters: String { "\(weight.shape), eps: \(epsilon)" }
}
