import TensorCore

/// `nn.Linear`: `[..., in] → [..., out]`, weight `[out, in]`, PyTorch's default initialisation.
public final class Linear: Module, UnaryLayer {
  public let weight: Parameter
  public let bias: Parameter?

  public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout SeededGenerator) {
    let shape = [outFeatures, inFeatures]
    weight = Parameter(Initialization.defaultWeight(shape, generator: &generator))
    self.bias =
      bias ? Parameter(Initialization.defaultBias(outFeatures, weightShape: shape, generator: &generator)) : nil
    super.init()
    register("weight", weight)
    if let bias = self.bias { register("bias", bias) }
  }

  public var inFeatures: Int { weight.shape[1] }
  public var outFeatures: Int { weight.shape[0] }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    Tensor.linear(input, weight: weight.value, bias: bias?.value)
  }

  /// `gelu(self(input))`, each side of the GELU clamped to ±`clampBound` when one is given; in inference on oneDNN
  /// the GELU runs inside the product (`Tensor.linearGELU`).
  public func followedByGELU(_ input: Tensor, clampBound: Float? = nil) -> Tensor {
    Tensor.linearGELU(input, weight: weight.value, bias: bias?.value, clampBound: clampBound)
  }

  override public var hyperParameters: String { "in: \(inFeatures), out: \(outFeatures), bias: \(bias != nil)" }
}
