import Config
import Detection
import Foundation
import Imaging
import NN
import TensorCore

/// Swin Transformer in the layout of the official and GLIP checkpoints: `patch_embed.{proj,norm}`,
/// `layers.i.blocks.j.{norm1,attn.{qkv,proj,relative_position_bias_table},norm2,mlp.{fc1,fc2}}`,
/// `layers.i.downsample.{reduction,norm}` and an output LayerNorm `norm{i}` per returned stage. Windows are padded
/// when the map is not a multiple of the window; shifted blocks use the cyclic shift and attention mask of the paper.
/// Outputs strides 8, 16, 32 (stages 1–3) by default; the Swin-T and Swin-L settings of GLIP are `variant: tiny|large`.
public final class Swin: Module, Backbone {
  public enum Variant: String, ConfigEnum, Sendable {
    case tiny, large, custom

    /// (embed dim, depths, heads, window) as in GLIP's configs.
    var settings: (Int, [Int], [Int], Int)? {
      switch self {
      case .tiny: return (96, [2, 2, 6, 2], [3, 6, 12, 24], 7)
      case .large: return (192, [2, 2, 18, 2], [6, 12, 24, 48], 12)
      case .custom: return nil
      }
    }
  }

  public enum Keys {
    public static let variant = ConfigKey<Variant>("variant", default: .tiny, "tiny (GLIP-T), large (GLIP-L) or custom")
    public static let embedDim = ConfigKey<Int>(
      "embed_dim", default: 96, range: 1...4096, "channels of stage 0 (custom variant)")
    public static let depths = ConfigKey<[Int]>(
      "depths", default: [2, 2, 6, 2], range: 0...256, "blocks per stage (custom variant)")
    public static let heads = ConfigKey<[Int]>(
      "heads", default: [3, 6, 12, 24], range: 1...1024, "attention heads per stage (custom)")
    public static let window = ConfigKey<Int>("window", default: 7, range: 1...256, "window size (custom variant)")
    public static let dropPath = ConfigKey<Float>("drop_path", default: 0.2, "stochastic depth rate of the last block")
    public static let outStages = ConfigKey<[Int]>(
      "out_stages", default: [1, 2, 3], "stages to output (0–3: strides 4–32)")
    public static let frozenStages = ConfigKey<Int>(
      "frozen_stages", default: 0, "freeze the patch embedding (1) and then the first N−1 stages")
    public static let weights = ConfigKey<String>(
      "weights", default: "", "official or GLIP checkpoint; empty: random init")
    public static let all: [KeyDocumentation] = [
      variant.documentation, embedDim.documentation, depths.documentation, heads.documentation, window.documentation,
      dropPath.documentation, outStages.documentation, frozenStages.documentation, weights.documentation,
    ]
  }

  /// Window attention with a learned relative position bias.
  public final class WindowAttention: Module {
    let qkv: Linear, proj: Linear
    let biasTable: Parameter
    let heads: Int, window: Int
    let relativeIndex: Tensor

    init(dim: Int, heads: Int, window: Int, generator: inout SeededGenerator) {
      qkv = Linear(dim, 3 * dim, generator: &generator)
      proj = Linear(dim, dim, generator: &generator)
      biasTable = Parameter(
        Tensor.normal([(2 * window - 1) * (2 * window - 1), heads], std: 0.02, generator: &generator))
      self.heads = heads
      self.window = window
      var index = [Float]()
      let area = window * window
      for first in 0..<area {
        for second in 0..<area {
          let dy = first / window - second / window + window - 1, dx = first % window - second % window + window - 1
          index.append(Float(dy * (2 * window - 1) + dx))
        }
      }
      relativeIndex = Tensor(index)
      super.init()
      register("qkv", qkv)
      register("proj", proj)
      register("relative_position_bias_table", biasTable)
    }

    /// windows `[B·nW, N, C]`, mask `[nW, N, N]` or nil.
    ///
    /// Attention runs through the fused kernel on packed heads, with or without autograd: the relative position
    /// bias and the window mask go in as two additive terms (no `[nW, heads, N, N]` sum is made), the mask broadcast
    /// over one image's windows at a time, and the bias takes its gradient from the kernel's backward rule.
    func callAsFunction(_ windows: Tensor, mask: Tensor?) -> Tensor {
      let (tokens, channels) = (windows.shape[1], windows.shape[2])
      let bias = Tensor.embedding(weight: biasTable.value, ids: relativeIndex).reshaped([tokens, tokens, heads])
        .permuted(2, 0, 1)
      let scale = 1 / Float(channels / heads).squareRoot()
      return proj(packedAttention(qkv(windows), bias: bias, mask: mask, scale: scale))
    }

    /// `qkv` `[B·nW, N, 3C]`, bias `[heads, N, N]`, mask `[nW, N, N]` or nil → `[B·nW, N, C]`.
    private func packedAttention(_ qkv: Tensor, bias: Tensor, mask: Tensor?, scale: Float) -> Tensor {
      let (count, tokens) = (qkv.shape[0], qkv.shape[1])
      let headBias = bias.reshaped([1, heads, tokens, tokens])
      func attend(_ projections: Tensor, mask: Tensor?) -> Tensor {
        Tensor.multiHeadAttention(
          packedProjections: projections, heads: heads, mask: mask, bias: headBias, scale: scale)
      }
      guard let mask else { return attend(qkv, mask: nil) }
      let windowsPerImage = mask.shape[0]
      let windowMask = mask.reshaped([windowsPerImage, 1, tokens, tokens])
      guard count > windowsPerImage else { return attend(qkv, mask: windowMask) }
      let images = (0..<count / windowsPerImage).map { image in
        attend(qkv.slice(axis: 0, start: image * windowsPerImage, end: (image + 1) * windowsPerImage), mask: windowMask)
      }
      return Tensor.concat(images, axis: 0)
    }
  }

  /// Pre-LN block: (shifted) window attention, then an MLP, each with a residual and stochastic depth.
  public final class Block: Module, Reseedable {
    let norm1: LayerNorm, norm2: LayerNorm
    let attention: WindowAttention
    let fc1: Linear, fc2: Linear
    let window: Int, shift: Int
    let dropPath: Float
    var generator: SeededGenerator

    init(dim: Int, heads: Int, window: Int, shift: Int, dropPath: Float, generator: inout SeededGenerator) {
      norm1 = LayerNorm(dim)
      norm2 = LayerNorm(dim)
      attention = WindowAttention(dim: dim, heads: heads, window: window, generator: &generator)
      fc1 = Linear(dim, 4 * dim, generator: &generator)
      fc2 = Linear(4 * dim, dim, generator: &generator)
      self.window = window
      self.shift = shift
      self.dropPath = dropPath
      self.generator = SeededGenerator(seed: generator.next())
      super.init()
      register("norm1", norm1)
      register("attn", attention)
      register("norm2", norm2)
      let mlp = Module()
      mlp.register("fc1", fc1)
      mlp.register("fc2", fc2)
      register("mlp", mlp)
    }

    public func reseed(_ seed: UInt64) { generator = SeededGenerator(seed: seed) }

    /// x `[B, H·W, C]` → same.
    func callAsFunction(_ x: Tensor, height: Int, width: Int, mask: Tensor?) -> Tensor {
      let layout = WindowLayout(
        batch: x.shape[0], height: height, width: width, channels: x.shape[2], window: window, shift: shift)
      let afterAttention =
        recordsGradients(from: x) || (isTraining && dropPath > 0)
        ? attentionBranch(x, layout, mask: mask) : attentionInWindows(x, layout, mask: mask)
      return afterAttention + drop(fc2(fc1.followedByGELU(norm2(afterAttention))))
    }

    /// The attention half of the block for inference: the normalised tokens are gathered into their (shifted,
    /// padded) windows in one pass, and the attention's output is added back to `x` in one pass, instead of the
    /// padding, two cyclic shifts, the window partition and merge, the crop and the residual add of
    /// `attentionBranch`, each a copy of the whole map.
    private func attentionInWindows(_ x: Tensor, _ layout: WindowLayout, mask: Tensor?) -> Tensor {
      let windows = layout.gather(norm1(x))
      return layout.add(attention(windows, mask: shift > 0 ? mask : nil), to: x)
    }

    /// `x` plus the (shifted) window attention over `norm1(x)`, op by op: what autograd records.
    private func attentionBranch(_ x: Tensor, _ layout: WindowLayout, mask: Tensor?) -> Tensor {
      let (batch, height, width, channels) = (layout.batch, layout.height, layout.width, layout.channels)
      let (paddedHeight, paddedWidth) = (layout.paddedHeight, layout.paddedWidth)
      var hidden = norm1(x).reshaped([batch, height, width, channels])
      if paddedHeight != height || paddedWidth != width {
        hidden = hidden.padded([0, 0, 0, paddedWidth - width, 0, paddedHeight - height])
      }
      if shift > 0 { hidden = Swin.roll(hidden, by: -shift) }
      let windows = Swin.partition(hidden, window: window)
      let attended = attention(windows, mask: shift > 0 ? mask : nil)
      hidden = Swin.merge(attended, window: window, height: paddedHeight, width: paddedWidth)
      if shift > 0 { hidden = Swin.roll(hidden, by: shift) }
      if paddedHeight != height || paddedWidth != width {
        hidden = hidden.slice(axis: 1, end: height).slice(axis: 2, end: width)
      }
      return x + drop(hidden.reshaped([batch, height * width, channels]))
    }

    /// Stochastic depth: per sample, drop the branch with probability `dropPath` and rescale, in training only.
    private func drop(_ branch: Tensor) -> Tensor {
      guard isTraining && dropPath > 0 else { return branch }
      let keep = 1 - dropPath
      let batch = branch.shape[0]
      let mask = Tensor(
        shape: [batch, 1, 1], values: (0..<batch).map { _ in generator.nextUnitFloat() < keep ? 1 / keep : 0 })
      return branch * mask
    }
  }

  /// Which token of an image each token of each window holds: the `[B, H·W, C]` map padded at the bottom and right
  /// to whole windows, cyclically shifted by −shift along both axes (`torch.roll`), and cut into `w×w` windows in
  /// row-major order, as `Swin.roll` and `Swin.partition` arrange it.
  struct WindowLayout {
    let batch: Int, height: Int, width: Int, channels: Int, window: Int, shift: Int
    let paddedHeight: Int, paddedWidth: Int

    init(batch: Int, height: Int, width: Int, channels: Int, window: Int, shift: Int) {
      (self.batch, self.height, self.width, self.channels) = (batch, height, width, channels)
      (self.window, self.shift) = (window, shift)
      paddedHeight = (height + window - 1) / window * window
      paddedWidth = (width + window - 1) / window * window
    }

    var windowsPerImage: Int { (paddedHeight / window) * (paddedWidth / window) }

    /// The index (row·W + column) in its image of token `token` of window `index`, or nil for padding. The map is
    /// one to one between the image's tokens and the windows' non-padding tokens, so it also says where each
    /// window token goes back to (shifting by +shift undoes the −shift).
    func source(window index: Int, token: Int) -> Int? {
      let (windowRow, windowColumn) = index.quotientAndRemainder(dividingBy: paddedWidth / window)
      let row = (windowRow * window + token / window + shift) % paddedHeight
      let column = (windowColumn * window + token % window + shift) % paddedWidth
      return row < height && column < width ? row * width + column : nil
    }

    /// tokens `[B, H·W, C]` → windows `[B·nW, w², C]`, zeros for padding.
    func gather(_ tokens: Tensor) -> Tensor {
      let area = window * window
      let windows = Tensor(uninitializedShape: [batch * windowsPerImage, area, channels])
      let (source, target) = (tokens.data, windows.mutableData)
      Parallel.forEach(batch * windowsPerImage, costPerItem: area * channels) { item in
        let (image, index) = item.quotientAndRemainder(dividingBy: windowsPerImage)
        for token in 0..<area {
          let row = target + (item * area + token) * channels
          if let position = self.source(window: index, token: token) {
            row.update(from: source + (image * height * width + position) * channels, count: channels)
          } else {
            row.update(repeating: 0, count: channels)
          }
        }
      }
      return windows
    }

    /// `tokens` plus the windows `[B·nW, w², C]` put back in place (padding dropped): `[B, H·W, C]`.
    func add(_ windows: Tensor, to tokens: Tensor) -> Tensor {
      let area = window * window
      let result = Tensor(uninitializedShape: tokens.shape)
      let (residual, attended, target) = (tokens.data, windows.data, result.mutableData)
      Parallel.forEach(batch * windowsPerImage, costPerItem: area * channels) { item in
        let (image, index) = item.quotientAndRemainder(dividingBy: windowsPerImage)
        for token in 0..<area {
          guard let position = self.source(window: index, token: token) else { continue }
          let offset = (image * height * width + position) * channels
          let row = attended + (item * area + token) * channels
          for channel in 0..<channels { target[offset + channel] = residual[offset + channel] + row[channel] }
        }
      }
      return result
    }
  }

  /// Patch merging: the four 2×2 sub-grids concatenated in the official order, LayerNorm, then a linear reduction.
  public final class PatchMerging: Module {
    let norm: LayerNorm
    let reduction: Linear

    init(dim: Int, generator: inout SeededGenerator) {
      norm = LayerNorm(4 * dim)
      reduction = Linear(4 * dim, 2 * dim, bias: false, generator: &generator)
      super.init()
      register("reduction", reduction)
      register("norm", norm)
    }

    func callAsFunction(_ x: Tensor, height: Int, width: Int) -> Tensor {
      let (batch, channels) = (x.shape[0], x.shape[2])
      var grid = x.reshaped([batch, height, width, channels])
      if height % 2 == 1 || width % 2 == 1 { grid = grid.padded([0, 0, 0, width % 2, 0, height % 2]) }
      let parts = [(0, 0), (1, 0), (0, 1), (1, 1)].map { rowOffset, columnOffset in
        grid.slice(axis: 1, start: rowOffset, step: 2).slice(axis: 2, start: columnOffset, step: 2)
      }
      let merged = Tensor.concat(parts, axis: -1)
      return reduction(norm(merged.reshaped([batch, -1, 4 * channels])))
    }
  }

  public let patchProjection: Conv2d
  public let patchNorm: LayerNorm
  public let stages: [[Block]]
  public let merges: [PatchMerging]
  public let outputNorms: [Int: LayerNorm]
  public let window: Int
  public let outStages: [Int]
  public let outputSpecs: [FeatureSpec]
  public let pixelFormat = PixelFormat.glip

  public init(
    embedDim: Int, depths: [Int], heads: [Int], window: Int, dropPath: Float = 0.2, outStages: [Int] = [1, 2, 3],
    frozenStages: Int = 0, generator: inout SeededGenerator
  ) {
    precondition(depths.count == 4 && heads.count == 4, "swin: four stages expected")
    patchProjection = Conv2d(3, embedDim, kernelSize: 4, stride: 4, generator: &generator)
    patchNorm = LayerNorm(embedDim)
    let total = depths.reduce(0, +)
    var blockIndex = 0
    var stages: [[Block]] = []
    var merges: [PatchMerging] = []
    for stage in 0..<4 {
      let dim = embedDim << stage
      stages.append(
        (0..<depths[stage]).map { index in
          defer { blockIndex += 1 }
          let rate = total > 1 ? dropPath * Float(blockIndex) / Float(total - 1) : 0
          return Block(
            dim: dim, heads: heads[stage], window: window, shift: index % 2 == 1 ? window / 2 : 0, dropPath: rate,
            generator: &generator)
        })
      if stage < 3 { merges.append(PatchMerging(dim: dim, generator: &generator)) }
    }
    self.stages = stages
    self.merges = merges
    outputNorms = Dictionary(uniqueKeysWithValues: outStages.map { ($0, LayerNorm(embedDim << $0)) })
    self.window = window
    self.outStages = outStages
    outputSpecs = outStages.map { FeatureSpec(channels: embedDim << $0, stride: 4 << $0) }
    super.init()
    let patchEmbed = Module()
    patchEmbed.register("proj", patchProjection)
    patchEmbed.register("norm", patchNorm)
    register("patch_embed", patchEmbed)
    var layers: [Module] = []
    for stage in 0..<4 {
      let layer = Module()
      layer.register("blocks", ModuleList(stages[stage]))
      if stage < 3 { layer.register("downsample", merges[stage]) }
      layers.append(layer)
    }
    register("layers", ModuleList(layers))
    for stage in outStages { register("norm\(stage)", outputNorms[stage]!) }
    if frozenStages >= 1 { patchEmbed.freezeAll() }
    if frozenStages >= 2 { for layer in layers.prefix(frozenStages - 1) { layer.freezeAll() } }
  }

  public static func build(config: ConfigSection, context: BuildContext) throws -> Swin {
    let variant = try config.read(Keys.variant)
    let (embed, depths, heads, window): (Int, [Int], [Int], Int)
    if let settings = variant.settings {
      for key in [Keys.embedDim.name, Keys.depths.name, Keys.heads.name, Keys.window.name] where config.contains(key) {
        throw config.error(key, "set by variant '\(variant.rawValue)'; use variant: custom to choose sizes")
      }
      (embed, depths, heads, window) = settings
    } else {
      (embed, depths, heads, window) = (
        try config.read(Keys.embedDim), try config.read(Keys.depths), try config.read(Keys.heads),
        try config.read(Keys.window)
      )
      guard depths.count == 4, heads.count == 4, depths.allSatisfy({ $0 > 0 }) else {
        throw config.error("depths", "expected four stages of depths and heads, got \(depths) and \(heads)")
      }
      for (stage, count) in heads.enumerated() where (embed << stage) % count != 0 {
        throw config.error("heads", "\(count) heads do not divide stage \(stage)'s \(embed << stage) channels")
      }
    }
    let stages = try config.read(Keys.outStages)
    guard !stages.isEmpty, stages.allSatisfy({ (0...3).contains($0) }), stages == stages.sorted() else {
      throw config.error("out_stages", "expected increasing stages among 0…3, got \(stages)")
    }
    let model = Swin(
      embedDim: embed, depths: depths, heads: heads, window: window, dropPath: try config.read(Keys.dropPath),
      outStages: stages, frozenStages: try config.read(Keys.frozenStages), generator: &context.random.generator)
    try loadWeights(model, from: try config.read(Keys.weights), config: config, remap: BuiltinRemaps.swin)
    return model
  }

  /// Raw stage outputs `[B, H·W, C]` with their sizes (before the output norms).
  public func stageOutputs(_ images: Tensor) -> [(tokens: Tensor, height: Int, width: Int)] {
    // The official patch embedding zero-pads the right and bottom to whole 4×4 patches rather than dropping them.
    let (padRight, padBottom) = ((4 - images.shape[3] % 4) % 4, (4 - images.shape[2] % 4) % 4)
    var embedded = patchProjection(
      padRight + padBottom == 0 ? images : images.padded([0, padRight, 0, padBottom]))
    var (height, width) = (embedded.shape[2], embedded.shape[3])
    embedded = patchNorm(embedded.flattened(startAxis: 2).transposed(1, 2))
    var hidden = embedded
    var outputs: [(tokens: Tensor, height: Int, width: Int)] = []
    for stage in 0..<4 {
      let mask = Swin.attentionMask(height: height, width: width, window: window, shift: window / 2)
      for block in stages[stage] { hidden = block(hidden, height: height, width: width, mask: mask) }
      outputs.append((hidden, height, width))
      if stage == outStages.last! { break }
      if stage < 3 {
        hidden = merges[stage](hidden, height: height, width: width)
        (height, width) = ((height + 1) / 2, (width + 1) / 2)
      }
    }
    return outputs
  }

  public func features(_ images: Tensor) -> [Tensor] {
    let outputs = stageOutputs(images)
    return outStages.map { stage in
      let (tokens, height, width) = outputs[stage]
      return outputNorms[stage]!(tokens).reshaped([tokens.shape[0], height, width, -1]).permuted(0, 3, 1, 2)
    }
  }

  // MARK: Window helpers

  /// `[B, H, W, C]` → windows `[B·(H/w)·(W/w), w·w, C]`.
  static func partition(_ x: Tensor, window: Int) -> Tensor {
    let (batch, height, width, channels) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return x.reshaped([batch, height / window, window, width / window, window, channels]).permuted(0, 1, 3, 2, 4, 5)
      .reshaped([-1, window * window, channels])
  }

  /// Inverse of `partition`.
  static func merge(_ windows: Tensor, window: Int, height: Int, width: Int) -> Tensor {
    let channels = windows.shape[2]
    let batch = windows.shape[0] / ((height / window) * (width / window))
    return windows.reshaped([batch, height / window, width / window, window, window, channels])
      .permuted(0, 1, 3, 2, 4, 5).reshaped([batch, height, width, channels])
  }

  /// Cyclic shift of `[B, H, W, C]` along H and W (`torch.roll` with the same shift on both axes).
  static func roll(_ x: Tensor, by amount: Int) -> Tensor {
    var result = x
    for axis in [1, 2] {
      let size = result.shape[axis]
      let shift = ((amount % size) + size) % size
      guard shift != 0 else { continue }
      result = Tensor.concat(
        [result.slice(axis: axis, start: size - shift), result.slice(axis: axis, end: size - shift)], axis: axis)
    }
    return result
  }

  /// The shifted-window attention mask `[nW, w², w²]`: −100 between tokens from different regions, as in the paper.
  public static func attentionMask(height: Int, width: Int, window: Int, shift: Int) -> Tensor {
    let paddedHeight = (height + window - 1) / window * window, paddedWidth = (width + window - 1) / window * window
    func region(_ index: Int, _ size: Int) -> Int { index < size - window ? 0 : (index < size - shift ? 1 : 2) }
    var labels = [Float](repeating: 0, count: paddedHeight * paddedWidth)
    for row in 0..<paddedHeight {
      for column in 0..<paddedWidth {
        labels[row * paddedWidth + column] = Float(region(row, paddedHeight) * 3 + region(column, paddedWidth))
      }
    }
    let windows = partition(Tensor(shape: [1, paddedHeight, paddedWidth, 1], values: labels), window: window)
      .reshaped([-1, window * window])
    let count = windows.shape[0], area = window * window
    var mask = [Float](repeating: 0, count: count * area * area)
    for index in 0..<count {
      for first in 0..<area {
        for second in 0..<area where windows[flat: index * area + first] != windows[flat: index * area + second] {
          mask[(index * area + first) * area + second] = -100
        }
      }
    }
    return Tensor(shape: [count, area, area], values: mask)
  }

  override public var hyperParameters: String {
    "depths: \(stages.map(\.count)), window: \(window), outputs: \(outputSpecs)"
  }
}
