import Foundation
import TensorCore

/// Weight initialisation with PyTorch's definitions (`torch.nn.init`), drawn from a seeded generator.
///
/// Fans follow PyTorch: for a weight `[out, in, k…]`, fanIn = in·∏k and fanOut = out·∏k.
public enum Initialization {
  public enum FanMode: Sendable { case fanIn, fanOut }

  public static func fans(_ shape: [Int]) -> (fanIn: Int, fanOut: Int) {
    precondition(shape.count >= 2, "fan computation needs a tensor with at least 2 dimensions, got \(shape)")
    let receptive = shape.dropFirst(2).reduce(1, *)
    return (shape[1] * receptive, shape[0] * receptive)
  }

  /// Gain for leaky ReLU with negative slope `a` (ReLU when a = 0), as `calculate_gain('leaky_relu', a)`.
  public static func leakyReluGain(_ a: Float) -> Float { (2 / (1 + a * a)).squareRoot() }

  public static func kaimingUniform(
    _ shape: [Int], a: Float = 0, mode: FanMode = .fanIn, generator: inout SeededGenerator
  ) -> Tensor {
    let fan = Float(mode == .fanIn ? fans(shape).fanIn : fans(shape).fanOut)
    let bound = Float(3).squareRoot() * leakyReluGain(a) / fan.squareRoot()
    return Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
  }

  public static func kaimingNormal(
    _ shape: [Int], a: Float = 0, mode: FanMode = .fanIn, generator: inout SeededGenerator
  ) -> Tensor {
    let fan = Float(mode == .fanIn ? fans(shape).fanIn : fans(shape).fanOut)
    return Tensor.normal(shape, std: leakyReluGain(a) / fan.squareRoot(), generator: &generator)
  }

  public static func xavierUniform(_ shape: [Int], gain: Float = 1, generator: inout SeededGenerator) -> Tensor {
    let (fanIn, fanOut) = fans(shape)
    let bound = gain * (6 / Float(fanIn + fanOut)).squareRoot()
    return Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
  }

  public static func xavierNormal(_ shape: [Int], gain: Float = 1, generator: inout SeededGenerator) -> Tensor {
    let (fanIn, fanOut) = fans(shape)
    return Tensor.normal(shape, std: gain * (2 / Float(fanIn + fanOut)).squareRoot(), generator: &generator)
  }

  public static func normal(_ shape: [Int], mean: Float = 0, std: Float, generator: inout SeededGenerator) -> Tensor {
    Tensor.normal(shape, mean: mean, std: std, generator: &generator)
  }

  public static func constant(_ shape: [Int], _ value: Float) -> Tensor { Tensor.full(shape, value) }

  /// PyTorch's default for `nn.Linear` and `nn.ConvNd` weights: kaiming uniform with a = √5, i.e. U(±1/√fanIn).
  public static func defaultWeight(_ shape: [Int], generator: inout SeededGenerator) -> Tensor {
    kaimingUniform(shape, a: Float(5).squareRoot(), generator: &generator)
  }

  /// PyTorch's default bias for `nn.Linear` and `nn.ConvNd`: U(±1/√fanIn) of the weight.
  public static func defaultBias(_ count: Int, weightShape: [Int], generator: inout SeededGenerator) -> Tensor {
    let bound = 1 / Float(fans(weightShape).fanIn).squareRoot()
    return Tensor.uniform([count], low: -bound, high: bound, generator: &generator)
  }
}
