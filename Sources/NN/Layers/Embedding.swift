import TensorCore

/// `nn.Embedding`: ids of any shape → `[ids…, dim]`; weights drawn from N(0, 1) as in PyTorch.
public final class Embedding: Module {
  public let weight: Parameter
  public let paddingIndex: Int?

  public init(_ count: Int, _ dimension: Int, paddingIndex: Int? = nil, generator: inout SeededGenerator) {
    var table = Tensor.normal([count, dimension], generator: &generator)
    // A negative padding index counts from the end, as in PyTorch.
    let paddingIndex = paddingIndex.map { $0 < 0 ? $0 + count : $0 }
    if let paddingIndex {
      precondition(
        paddingIndex >= 0 && paddingIndex < count, "Embedding: padding index outside the vocabulary of \(count)")
      table.withUnsafeMutableBufferPointer { values in
        for index in 0..<dimension { values[paddingIndex * dimension + index] = 0 }
      }
    }
    weight = Parameter(table)
    self.paddingIndex = paddingIndex
    super.init()
    register("weight", weight)
  }

  public func callAsFunction(_ ids: Tensor) -> Tensor {
    Tensor.embedding(weight: weight.value, ids: ids, paddingIndex: paddingIndex)
  }

  override public var hyperParameters: String { "\(weight.shape[0]), \(weight.shape[1])" }
}

/// `nn.Dropout` with its own seeded generator; identity in evaluation mode.
public final class Dropout: Module, UnaryLayer, Reseedable {
  public let probability: Float
  private var generator: SeededGenerator

  public init(_ probability: Float, seed: UInt64 = 0) {
    precondition(probability >= 0 && probability <= 1, "Dropout: probability must be in [0, 1], got \(probability)")
    self.probability = probability
    generator = SeededGenerator(seed: seed)
    super.init()
  }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    input.dropout(probability: probability, training: isTraining, generator: &generator)
  }

  /// Restarts the mask sequence, so a step's masks depend only on the seed (resumable training).
  public func reseed(_ seed: UInt64) { generator = SeededGenerator(seed: seed) }

  override public var hyperParameters: String { "p: \(probability)" }
}

/// Elementwise activations as layers, for `Sequential`.
public final class Activation: Module, UnaryLayer {
  public enum Kind: String, Sendable { case relu, relu6, gelu, sigmoid, tanh, silu, hardsigmoid }
  public let kind: Kind

  public init(_ kind: Kind) {
    self.kind = kind
    super.init()
  }

  public func callAsFunction(_ input: Tensor) -> Tensor {
    switch kind {
    case .relu: return input.relu()
    case .relu6: return input.relu6()
    case .gelu: return input.gelu()
    case .sigmoid: return input.sigmoid()
    case .tanh: return input.tanh()
    case .silu: return input.silu()
    case .hardsigmoid: return input.hardsigmoid()
    }
  }

  override public var typeName: String { kind.rawValue.prefix(1).uppercased() + kind.rawValue.dropFirst() }
}
