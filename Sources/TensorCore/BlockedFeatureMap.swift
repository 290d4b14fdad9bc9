import Foundation

/// A feature map `[N, C, H, W]` kept in the layout oneDNN's convolutions choose (`nChw16c` with AVX-512) from one
/// layer of an inference pass to the next.
///
/// Layer by layer, a oneDNN convolution on our NCHW tensors reorders its input into the blocked layout and its output
/// back, and its epilogue (norm, residual, activation) is one more pass over the output: in a ResNet forward pass
/// the reorders alone are a fifth of the time. A chain of maps pays the conversion once, at the start (the image)
/// and where a plain tensor is wanted (`tensor()`); each convolution takes its per-channel scale folded into its
/// weights and its shift as its bias, and adds the residual and applies the activation as oneDNN post-ops while its
/// output is in cache.
///
/// Inference only: the steps return nil when autograd would record (grad mode on and an operand requiring grad),
/// when convolutions do not run on oneDNN (`GLIP_CONV_BACKEND=own`, `GLIP_ONEDNN_LAYOUT=layer` or `plain`, a serial
/// context, no library), or when oneDNN fails on a step (said once per step on standard error). The caller then runs
/// the plain ops from the start, which give the same values up to rounding.
public struct BlockedFeatureMap {
  /// `[N, C, H, W]`.
  public let shape: [Int]
  /// The values in `layout` (which may pad the channels).
  let values: Tensor
  let layout: OneDNNLayout

  init(shape: [Int], values: Tensor, layout: OneDNNLayout) {
    self.shape = shape
    self.values = values
    self.layout = layout
  }

  /// `tensor` (`[N, C, H, W]`, plain) as the start of a chain, without a copy; nil when convolutions do not run on
  /// oneDNN.
  public init?(_ tensor: Tensor) {
    precondition(tensor.rank == 4, "BlockedFeatureMap: input must be [N, C, H, W], got \(tensor.shape)")
    guard tensor.count > 0, OneDNNLayoutChoice.current == .chained,
      let runtime = KernelBackend.convolutions.oneDNN(preferred: { true }),
      let layout = try? OneDNNLayout(runtime, plain: tensor.shape)
    else { return nil }
    self.init(shape: tensor.shape, values: tensor, layout: layout)
  }

  /// The map as a plain `[N, C, H, W]` tensor; nil when oneDNN fails to convert it.
  public func tensor() -> Tensor? {
    step(["to NCHW"] + shape.map(String.init), "converting \(shape) to NCHW") { runtime in
      try runtime.inLayout(values, layout, as: try OneDNNLayout(runtime, plain: shape)).sharingStorage(shape: shape)
    }
  }

  /// `activation(conv2d(self, weight) · scale[o] + shift[o] + residual)`, `Tensor.fusedConv2d` on the chain: weight
  /// `[O, C/groups, kh, kw]`, `scale` and `shift` `[O]` (nil: 1 and 0), `residual` a map of the output's shape.
  public func fusedConv2d(
    weight: Tensor, scale: Tensor? = nil, shift: Tensor? = nil, residual: BlockedFeatureMap? = nil,
    activation: Tensor.FusedActivation = .none, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0),
    dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) -> BlockedFeatureMap? {
    let g = Tensor.convGeometry(
      inputShape: shape, weight, stride: stride, padding: padding, dilation: dilation, groups: groups,
      op: "BlockedFeatureMap.fusedConv2d")
    g.checkEpilogue(scale: scale, shift: shift, residualShape: residual?.shape, op: "BlockedFeatureMap.fusedConv2d")
    let operands = [weight] + [scale, shift].compactMap { $0 }
    guard !(GradMode.isEnabled && operands.contains(where: \.requiresGrad)) else { return nil }
    let key = OneDNNChainConvolution.Key(
      geometry: OneDNNConvolution.Key(g, hasBias: shift != nil), residual: residual != nil, activation: activation)
    return step(key, "a \(g.kernelHeight)×\(g.kernelWidth) convolution \(g.inputShape) → \(g.outputShape)") {
      runtime in
      let convolution = try runtime.chainConvolutions.value(for: key) {
        try OneDNNChainConvolution(runtime, g, key, hasBias: shift != nil, inputLayout: layout)
      }
      return try convolution.run(self, weight: weight, scale: scale, shift: shift, residual: residual)
    }
  }

  /// `Tensor.maxPool2d` on the chain (floor mode, no dilation): `[N, C, Ho, Wo]`, padding counting as −∞.
  public func maxPool2d(kernel: (Int, Int), stride: (Int, Int), padding: (Int, Int) = (0, 0)) -> BlockedFeatureMap? {
    precondition(
      kernel.0 > 0 && kernel.1 > 0 && stride.0 > 0 && stride.1 > 0 && padding.0 >= 0 && padding.1 >= 0
        && padding.0 <= kernel.0 / 2 && padding.1 <= kernel.1 / 2,
      "BlockedFeatureMap.maxPool2d: kernel \(kernel), stride \(stride), padding \(padding) do not fit")
    let outHeight = Tensor.pooledSize(shape[2], kernel: kernel.0, stride: stride.0, padding: padding.0, ceilMode: false)
    let outWidth = Tensor.pooledSize(shape[3], kernel: kernel.1, stride: stride.1, padding: padding.1, ceilMode: false)
    precondition(
      shape[2] + 2 * padding.0 >= kernel.0 && shape[3] + 2 * padding.1 >= kernel.1,
      "BlockedFeatureMap.maxPool2d: input \(shape) is too small for kernel \(kernel) with padding \(padding)")
    let outputShape = [shape[0], shape[1], outHeight, outWidth]
    let key = OneDNNChainPooling.Key(
      input: shape, kernel: [kernel.0, kernel.1], stride: [stride.0, stride.1], padding: [padding.0, padding.1])
    return step(key, "a \(kernel.0)×\(kernel.1) max pooling of \(shape)") { runtime in
      let pooling = try runtime.chainPoolings.value(for: key) {
        try OneDNNChainPooling(runtime, key, inputLayout: layout, outputShape: outputShape)
      }
      return try pooling.run(self)
    }
  }

  /// Runs one step under the runtime's lock; nil (and the step remembered and reported) when oneDNN fails.
  private func step<Result>(_ key: AnyHashable, _ what: String, _ body: (OneDNN) throws -> Result) -> Result? {
    let runtime = layout.runtime
    runtime.lock.lock()
    defer { runtime.lock.unlock() }
    guard !runtime.failedChainSteps.contains(key) else { return nil }
    do {
      return try body(runtime)
    } catch {
      // Once per step: the results are right either way, but a silent fallback would hide a slow path.
      runtime.failedChainSteps.insert(key)
      let message = (error as? OneDNN.LoadError)?.message ?? "\(error)"
      FileHandle.standardError.write(
        Data("oneDNN failed on \(what) in a blocked-layout chain (\(message)); using the plain path\n".utf8))
      return nil
    }
  }
}
