import Config
import NN
import TensorCore

/// The normalisation a convolutional backbone uses after each convolution.
public enum NormKind: String, ConfigEnum, Sendable {
  /// BatchNorm2d: batch statistics in training.
  case bn
  /// torchvision's FrozenBatchNorm2d: fixed statistics and affine parameters (GLIP's default for backbones).
  case frozenBN = "frozen_bn"
  /// GroupNorm with 32 groups.
  case gn

  public func make(_ channels: Int) -> any UnaryLayer {
    switch self {
    case .bn: return BatchNorm2d(channels)
    case .frozenBN: return FrozenBatchNorm2d(channels)
    case .gn: return GroupNorm(groups: channels % 32 == 0 ? 32 : 1, channels: channels)
    }
  }
}

/// A convolution followed by a norm (and an activation), registered as "0", "1" like torchvision's
/// Conv2dNormActivation, so its keys read `….0.weight`, `….1.running_mean`.
public final class ConvNormActivation: Module, UnaryLayer {
  public let conv: Conv2d
  public let norm: any UnaryLayer
  public let activation: Activation.Kind?

  public init(
    _ input: Int, _ output: Int, kernel: Int, stride: Int = 1, groups: Int = 1, norm: NormKind,
    activation: Activation.Kind? = .relu, generator: inout SeededGenerator
  ) {
    conv = Conv2d(
      input, output, kernelSize: kernel, stride: stride, padding: (kernel - 1) / 2, groups: groups, bias: false,
      generator: &generator)
    self.norm = norm.make(output)
    self.activation = activation
    super.init()
    register("0", conv)
    register("1", self.norm)
  }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    switch activation {
    case .relu: return conv(input, norm: norm, activation: .relu)
    case .relu6: return conv(input, norm: norm, activation: .relu6)
    case .none: return conv(input, norm: norm)
    case .some(let other): return Activation(other)(norm(conv(input)))
    }
  }

  /// The layer on a chain kept in oneDNN's blocked layout; nil where the chain does not apply, or for an activation
  /// other than ReLU and ReLU6.
  public func callAsFunction(_ input: BlockedFeatureMap) -> BlockedFeatureMap? {
    switch activation {
    case .relu: return conv(input, norm: norm, activation: .relu)
    case .relu6: return conv(input, norm: norm, activation: .relu6)
    case .none: return conv(input, norm: norm)
    case .some: return nil
    }
  }

  override public var hyperParameters: String { conv.hyperParameters }
}
