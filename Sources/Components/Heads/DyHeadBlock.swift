import Config
import Detection
import Foundation
import NN
import TensorCore

/// A tower conv block: maps all levels at once (DyHead mixes neighbouring levels).
public protocol TowerConv: Module {
  func callAsFunction(_ levels: [Tensor]) -> [Tensor]
}

/// The plain tower block: 3×3 conv + GroupNorm + ReLU on each level.
public final class PlainTowerConv: Module, TowerConv {
  public let layers: Sequential

  public init(channels: Int, generator: inout SeededGenerator) {
    layers = Sequential([
      Conv2d(channels, channels, kernelSize: 3, padding: 1, generator: &generator),
      GroupNorm(groups: channels % 16 == 0 ? 16 : 1, channels: channels), Activation(.relu),
    ])
    super.init()
    for (index, layer) in layers.layers.enumerated() { register("\(index)", layer) }
  }

  public func callAsFunction(_ levels: [Tensor]) -> [Tensor] { levels.map { layers($0) } }
}

/// GLIP's DyHead conv block (`DyConv`), with its key names.
///
/// Spatial-aware: three modulated deformable 3×3 convs + GroupNorm(16) per level — `DyConv.1` on the level itself,
/// `DyConv.2` with stride 2 on the finer level, `DyConv.0` on the coarser level then bilinear upsampling (corners
/// aligned) — sharing one offset/mask conv (`offset`, 27 channels: 18 offsets, 9 sigmoid masks) computed on the level.
/// Scale-aware: each result is weighted by hard-sigmoid(ReLU(1×1 conv(global average pool))) (`AttnConv.1`) and the
/// weighted results are averaged. Task-aware: DyReLU (`relu.fc`), max(a1·x + b1, a2·x + b2).
///
/// The coarser level's conv output is smaller than the offsets computed at the level; GLIP's CUDA kernel reads the
/// offsets and masks as raw memory laid out for the smaller grid (the first 18·H·W and 9·H·W values of each batch
/// element's buffers). `glipOffsets` reproduces that (for official weights); otherwise the offsets are resampled to
/// the smaller grid.
public final class DyHeadConv: Module, TowerConv {
  /// How the coarser level's conv reads offsets computed at the finer level.
  public enum OffsetReading: String, ConfigEnum, Sendable { case glip, resample }

  /// Conv3x3Norm: a modulated deformable 3×3 conv (weights `conv.weight`, `conv.bias`; offsets come from outside)
  /// and a GroupNorm (`bn`).
  public final class DeformableConvNorm: Module {
    let weight: Parameter, bias: Parameter
    let stride: Int
    let norm: GroupNorm

    init(channels: Int, stride: Int, generator: inout SeededGenerator) {
      weight = Parameter(Tensor.normal([channels, channels, 3, 3], std: 0.01, generator: &generator))
      bias = Parameter(.zeros([channels]))
      self.stride = stride
      norm = GroupNorm(groups: channels % 16 == 0 ? 16 : 1, channels: channels)
      super.init()
      let conv = Module()
      conv.register("weight", weight)
      conv.register("bias", bias)
      register("conv", conv)
      register("bn", norm)
    }

    func callAsFunction(_ input: Tensor, offsets: Tensor, mask: Tensor) -> Tensor {
      norm(
        Tensor.deformConv2d(
          input, offset: offsets, weight: weight.value, bias: bias.value, mask: mask, stride: (stride, stride),
          padding: (1, 1)))
    }
  }

  /// DyReLU with four coefficients per channel from a squeeze-and-excite style MLP.
  public final class DynamicReLU: Module {
    let squeeze: Linear, expand: Linear
    let channels: Int

    init(channels: Int, generator: inout SeededGenerator) {
      squeeze = Linear(channels, max(1, channels / 4), generator: &generator)
      expand = Linear(max(1, channels / 4), 4 * channels, generator: &generator)
      self.channels = channels
      super.init()
      let fc = Module()
      fc.register("0", squeeze)
      fc.register("2", expand)
      register("fc", fc)
    }

    func callAsFunction(_ x: Tensor) -> Tensor {
      let batch = x.shape[0]
      let pooled = Tensor.adaptiveAvgPool2d(x, outputSize: (1, 1)).reshaped([batch, channels])
      let coefficients = expand(squeeze(pooled).relu()).hardsigmoid().reshaped([batch, 4 * channels, 1, 1])
      let parts = coefficients.split(sizes: [channels, channels, channels, channels], axis: 1)
      let a1 = (parts[0] - 0.5) * 2 + 1, a2 = (parts[2] - 0.5) * 2
      let b1 = parts[1] - 0.5, b2 = parts[3] - 0.5
      return Tensor.maximum(x * a1 + b1, x * a2 + b2)
    }
  }

  public let convs: [DeformableConvNorm]
  public let attention: Conv2d
  public let dynamicReLU: DynamicReLU
  public let offset: Conv2d
  public let glipOffsets: Bool

  public init(channels: Int, glipOffsets: Bool = true, generator: inout SeededGenerator) {
    convs = [1, 1, 2].map { DeformableConvNorm(channels: channels, stride: $0, generator: &generator) }
    attention = Conv2d(channels, 1, kernelSize: 1, generator: &generator)
    attention.weight.assign(Tensor.normal(attention.weight.shape, std: 0.01, generator: &generator))
    attention.bias?.assign(.zeros([1]))
    dynamicReLU = DynamicReLU(channels: channels, generator: &generator)
    offset = Conv2d(channels, 27, kernelSize: 3, padding: 1, generator: &generator)
    offset.weight.assign(.zeros(offset.weight.shape))
    offset.bias?.assign(.zeros([27]))
    self.glipOffsets = glipOffsets
    super.init()
    register("DyConv", ModuleList(convs))
    let attentionBranch = Module()
    attentionBranch.register("1", attention)
    register("AttnConv", attentionBranch)
    register("relu", dynamicReLU)
    register("offset", offset)
  }

  /// Offsets/mask `[N, C, H, W]` for another grid `[N, C, height, width]`: unchanged when sizes agree; for a smaller
  /// grid with `glipOffsets`, GLIP's raw-memory reading (the CUDA kernel indexes each batch element's buffer as if it
  /// were laid out for the smaller grid, so it reads the buffer's first C·height·width values, across channel
  /// boundaries); otherwise bilinear resampling.
  func fit(_ field: Tensor, height: Int, width: Int) -> Tensor {
    if field.shape[2] == height && field.shape[3] == width { return field }
    let (batch, channels) = (field.shape[0], field.shape[1])
    if glipOffsets && height * width <= field.shape[2] * field.shape[3] {
      return field.reshaped([batch, -1]).slice(axis: 1, end: channels * height * width)
        .reshaped([batch, channels, height, width])
    }
    return Tensor.interpolate(field, size: (height, width), mode: .bilinear(alignCorners: false))
  }

  public func callAsFunction(_ levels: [Tensor]) -> [Tensor] {
    levels.enumerated().map { index, feature in
      let offsetAndMask = offset(feature)
      let offsets = offsetAndMask.narrow(axis: 1, start: 0, length: 18)
      let mask = offsetAndMask.narrow(axis: 1, start: 18, length: 9).sigmoid()
      var results = [convs[1](feature, offsets: offsets, mask: mask)]
      let levelSize = (feature.shape[2], feature.shape[3])
      if index > 0 {
        let finer = levels[index - 1]
        let (height, width) = ((finer.shape[2] + 1) / 2, (finer.shape[3] + 1) / 2)
        results.append(
          convs[2](
            finer, offsets: fit(offsets, height: height, width: width), mask: fit(mask, height: height, width: width)))
      }
      if index < levels.count - 1 {
        let coarser = levels[index + 1]
        let (height, width) = (coarser.shape[2], coarser.shape[3])
        let upsampled = convs[0](
          coarser, offsets: fit(offsets, height: height, width: width), mask: fit(mask, height: height, width: width))
        results.append(
          Tensor.interpolate(upsampled, size: levelSize, mode: .bilinear(alignCorners: true)))
      }
      let weighted = results.map { result in
        result * attention(Tensor.adaptiveAvgPool2d(result, outputSize: (1, 1))).relu().hardsigmoid()
      }
      return dynamicReLU(weighted.dropFirst().reduce(weighted[0], +) * (1 / Float(weighted.count)))
    }
  }
}
