import TensorCore

/// `nn.MultiheadAttention` with `batch_first=True`: query `[B, L, E]`, key/value `[B, S, E]`.
///
/// Keys match PyTorch: `in_proj_weight [3E, E]`, `in_proj_bias [3E]`, `out_proj.weight`, `out_proj.bias`.
/// `keyPaddingMask [B, S]` is 1 at positions to ignore; `attentionMask` is additive, broadcastable to `[B, H, L, S]`.
public final class MultiheadAttention: Module {
  public let embedDim: Int
  public let heads: Int
  public let inProjectionWeight: Parameter
  public let inProjectionBias: Parameter
  public let outProjection: Linear

  public init(embedDim: Int, heads: Int, generator: inout SeededGenerator) {
    precondition(embedDim % heads == 0, "MultiheadAttention: \(heads) heads do not divide embed dim \(embedDim)")
    self.embedDim = embedDim
    self.heads = heads
    inProjectionWeight = Parameter(Initialization.xavierUniform([3 * embedDim, embedDim], generator: &generator))
    inProjectionBias = Parameter(.zeros([3 * embedDim]))
    outProjection = Linear(embedDim, embedDim, generator: &generator)
    outProjection.bias?.assign(.zeros([embedDim]))
    super.init()
    register("in_proj_weight", inProjectionWeight)
    register("in_proj_bias", inProjectionBias)
    register("out_proj", outProjection)
  }

  public func callAsFunction(
    query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor? = nil, attentionMask: Tensor? = nil
  ) -> Tensor {
    let (batch, targetLength, sourceLength) = (query.shape[0], query.shape[1], key.shape[1])
    let headDim = embedDim / heads
    let weights = inProjectionWeight.value.split(sizes: [embedDim, embedDim, embedDim], axis: 0)
    let biases = inProjectionBias.value.split(sizes: [embedDim, embedDim, embedDim], axis: 0)
    func splitHeads(_ input: Tensor, _ index: Int, length: Int) -> Tensor {
      Tensor.linear(input, weight: weights[index], bias: biases[index])
        .reshaped([batch, length, self.heads, headDim]).permuted(0, 2, 1, 3)
    }
    var mask = attentionMask
    if let keyPaddingMask {
      let padding = Tensor.zeros([batch, 1, 1, sourceLength])
        .maskedFill(keyPaddingMask.reshaped([batch, 1, 1, sourceLength]), -Float.infinity)
      mask = mask.map { $0 + padding } ?? padding
    }
    let attended = Tensor.scaledDotProductAttention(
      query: splitHeads(query, 0, length: targetLength), key: splitHeads(key, 1, length: sourceLength),
      value: splitHeads(value, 2, length: sourceLength), mask: mask)
    return outProjection(attended.permuted(0, 2, 1, 3).reshaped([batch, targetLength, embedDim]))
  }

  override public var hyperParameters: String { "embed: \(embedDim), heads: \(heads)" }
}
