import CDNNL
import Foundation

/// oneDNN's convolution primitives for one geometry: forward, backward data and backward weights (with the bias
/// gradient when the convolution has a bias), each created on first use and kept in `OneDNN.convolutions`.
///
/// Our tensors stay plain NCHW float32 (`[N, C, H, W]`, weights `[O, C/groups, kh, kw]`). By default the primitives
/// choose their own layouts and each call reorders into and out of them; `GLIP_ONEDNN_LAYOUT=plain`
/// makes them work on NCHW directly, which oneDNN 2.6 serves with its slower im2col + GEMM implementation.
final class OneDNNConvolution {
  /// Shape, stride, padding, dilation, groups and whether there is a bias.
  struct Key: Hashable {
    let values: [Int]

    init(_ g: Tensor.ConvGeometry, hasBias: Bool) {
      values = [
        g.batch, g.channels, g.height, g.width, g.outChannels, g.kernelHeight, g.kernelWidth, g.stride.0, g.stride.1,
        g.padding.0, g.padding.1, g.dilation.0, g.dilation.1, g.groups, hasBias ? 1 : 0,
      ]
    }
  }

  /// A convolution's passes, which `auto` places separately.
  enum Pass {
    case forward, backwardData, backwardWeights
  }

  /// Whether `auto` runs `pass` of geometry `g` on oneDNN rather than on our kernels. From per-layer timings of
  /// ResNet-18/50 and MobileNetV2 on a 2-core AVX-512 machine, oneDNN's time / ours (docs/PERFORMANCE.md,
  /// "Convolution backend"):
  /// - depthwise: 0.2–0.9 in every pass;
  /// - a stem (fewer than 8 input channels per group): forward 0.4–0.6 and backward-weights 0.2–0.7, but
  ///   backward-data 1.6–2.7 (ours keeps it; a network's first layer rarely needs it at all);
  /// - pointwise (1×1): backward-data 0.4–1.0; forward 0.8–1.0, except with fewer than 32 channels on a side, where
  ///   the reorders into and out of oneDNN's blocked layouts cost more than its kernel saves (1.15–1.4);
  ///   backward-weights 0.6–1.05, except with under 32 channels on a side (up to 1.4) or a million weights or more
  ///   (1.8);
  /// - all other kernels (3×3, 7×7, dilated): 0.5–1.0 in most passes, at worst 1.2.
  static func prefers(_ g: Tensor.ConvGeometry, _ pass: Pass) -> Bool {
    if g.isDepthwise { return true }
    if g.groupChannels < 8 { return pass != .backwardData }
    guard g.kernelArea == 1 else { return true }
    let narrowest = Swift.min(g.groupChannels, g.groupOutChannels)
    switch pass {
    case .forward: return narrowest >= 32
    case .backwardData: return true
    case .backwardWeights: return narrowest >= 32 && g.groupChannels * g.groupOutChannels < 1 << 20
    }
  }

  /// The oneDNN runtime to run `pass` of a convolution of geometry `g` on, or nil for our own kernels.
  static func runtime(for g: Tensor.ConvGeometry, _ pass: Pass) -> OneDNN? {
    guard g.batch > 0, g.channels > 0, g.outChannels > 0 else { return nil }
    return KernelBackend.convolutions.oneDNN { prefers(g, pass) }
  }

  private let runtime: OneDNN
  private let g: Tensor.ConvGeometry
  private let hasBias: Bool
  private let layout: OneDNNLayoutChoice
  private var forwardPrimitive: OneDNNPrimitive?
  private var backwardDataPrimitive: OneDNNPrimitive?
  private var backwardWeightsPrimitive: OneDNNPrimitive?

  init(_ runtime: OneDNN, _ g: Tensor.ConvGeometry, hasBias: Bool, layout: OneDNNLayoutChoice = .current) {
    self.runtime = runtime
    self.g = g
    self.hasBias = hasBias
    self.layout = layout
  }

  // MARK: Shapes and descriptors

  private var inputShape: [Int] { g.inputShape }
  private var outputShape: [Int] { g.outputShape }
  private var weightShape: [Int] { g.oneDNNWeightShape }

  private func descriptor(_ shape: [Int]) throws -> OneDNN.MemoryDescriptor {
    layout == .plain
      ? try runtime.plainDescriptor(shape) : try runtime.memoryDescriptor(shape, tag: Int32(GLIP_DNNL_TAG_ANY))
  }

  private var window: (strides: [Int64], dilations: [Int64], padding: [Int64]) { g.oneDNNWindow }

  private var forwardDescriptor: OpaquePointer {
    get throws {
      if let forwardPrimitive { return forwardPrimitive.descriptor }
      return try forward().descriptor
    }
  }

  // MARK: Primitives

  /// The memory descriptors of the input, the weights and the output (or their gradients), which every pass takes.
  private func memoryDescriptors() throws -> (OneDNN.MemoryDescriptor, OneDNN.MemoryDescriptor, OneDNN.MemoryDescriptor)
  {
    (try descriptor(inputShape), try descriptor(weightShape), try descriptor(outputShape))
  }

  private func forward() throws -> OneDNNPrimitive {
    if let forwardPrimitive { return forwardPrimitive }
    let (source, weights, destination) = try memoryDescriptors()
    let bias = hasBias ? try runtime.plainDescriptor([g.outChannels]) : nil
    let (strides, dilations, padding) = window
    let api = runtime.api
    let descriptor = try runtime.primitiveDescriptor("a forward convolution") { operation in
      api.convolution_forward_desc_init(
        operation, Int32(GLIP_DNNL_FORWARD_TRAINING), Int32(GLIP_DNNL_CONVOLUTION_DIRECT), source.pointer,
        weights.pointer, bias?.pointer, destination.pointer, strides, dilations, padding, padding)
    }
    var inputs: [Int32: [Int]] = [Int32(GLIP_DNNL_ARG_SRC): inputShape, Int32(GLIP_DNNL_ARG_WEIGHTS): weightShape]
    if hasBias { inputs[Int32(GLIP_DNNL_ARG_BIAS)] = [g.outChannels] }
    let primitive = try OneDNNPrimitive(
      runtime, descriptor: descriptor, inputs: inputs, outputs: [Int32(GLIP_DNNL_ARG_DST): outputShape])
    forwardPrimitive = primitive
    return primitive
  }

  private func backwardData() throws -> OneDNNPrimitive {
    if let backwardDataPrimitive { return backwardDataPrimitive }
    let (sourceGrad, weights, destinationGrad) = try memoryDescriptors()
    let (strides, dilations, padding) = window
    let api = runtime.api
    let descriptor = try runtime.primitiveDescriptor("a backward-data convolution", hint: try forwardDescriptor) {
      operation in
      api.convolution_backward_data_desc_init(
        operation, Int32(GLIP_DNNL_CONVOLUTION_DIRECT), sourceGrad.pointer, weights.pointer, destinationGrad.pointer,
        strides, dilations, padding, padding)
    }
    let primitive = try OneDNNPrimitive(
      runtime, descriptor: descriptor,
      inputs: [Int32(GLIP_DNNL_ARG_DIFF_DST): outputShape, Int32(GLIP_DNNL_ARG_WEIGHTS): weightShape],
      outputs: [Int32(GLIP_DNNL_ARG_DIFF_SRC): inputShape])
    backwardDataPrimitive = primitive
    return primitive
  }

  private func backwardWeights() throws -> OneDNNPrimitive {
    if let backwardWeightsPrimitive { return backwardWeightsPrimitive }
    let (source, weightsGrad, destinationGrad) = try memoryDescriptors()
    let biasGrad = hasBias ? try runtime.plainDescriptor([g.outChannels]) : nil
    let (strides, dilations, padding) = window
    let api = runtime.api
    let descriptor = try runtime.primitiveDescriptor("a backward-weights convolution", hint: try forwardDescriptor) {
      operation in
      api.convolution_backward_weights_desc_init(
        operation, Int32(GLIP_DNNL_CONVOLUTION_DIRECT), source.pointer, weightsGrad.pointer, biasGrad?.pointer,
        destinationGrad.pointer, strides, dilations, padding, padding)
    }
    var outputs: [Int32: [Int]] = [Int32(GLIP_DNNL_ARG_DIFF_WEIGHTS): weightShape]
    if hasBias { outputs[Int32(GLIP_DNNL_ARG_DIFF_BIAS)] = [g.outChannels] }
    let primitive = try OneDNNPrimitive(
      runtime, descriptor: descriptor,
      inputs: [Int32(GLIP_DNNL_ARG_SRC): inputShape, Int32(GLIP_DNNL_ARG_DIFF_DST): outputShape], outputs: outputs)
    backwardWeightsPrimitive = primitive
    return primitive
  }

  /// The implementations oneDNN chose, by pass (those created so far).
  var implementations: [String: String] {
    var names: [String: String] = [:]
    names["forward"] = forwardPrimitive?.implementation
    names["backward_data"] = backwardDataPrimitive?.implementation
    names["backward_weights"] = backwardWeightsPrimitive?.implementation
    return names
  }

  // MARK: Passes (the caller holds runtime.lock)

  /// `output[N, O, Ho, Wo] = conv(input, weight) + bias`.
  func forward(
    input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    output: UnsafeMutablePointer<Float>, staged: OneDNNPrimitive.StagedInputs
  ) throws {
    var buffers: [Int32: UnsafeMutablePointer<Float>] = [
      Int32(GLIP_DNNL_ARG_SRC): UnsafeMutablePointer(mutating: input),
      Int32(GLIP_DNNL_ARG_WEIGHTS): UnsafeMutablePointer(mutating: weight), Int32(GLIP_DNNL_ARG_DST): output,
    ]
    if hasBias, let bias { buffers[Int32(GLIP_DNNL_ARG_BIAS)] = UnsafeMutablePointer(mutating: bias) }
    try forward().execute(buffers, staged: staged)
  }

  /// `inputGrad[N, C, H, W]` (overwritten) from `outputGrad[N, O, Ho, Wo]` and the weights.
  func backwardData(
    outputGrad: UnsafePointer<Float>, weight: UnsafePointer<Float>, inputGrad: UnsafeMutablePointer<Float>,
    staged: OneDNNPrimitive.StagedInputs
  ) throws {
    try backwardData().execute(
      [
        Int32(GLIP_DNNL_ARG_DIFF_DST): UnsafeMutablePointer(mutating: outputGrad),
        Int32(GLIP_DNNL_ARG_WEIGHTS): UnsafeMutablePointer(mutating: weight),
        Int32(GLIP_DNNL_ARG_DIFF_SRC): inputGrad,
      ], staged: staged)
  }

  /// `weightGrad[O, C/groups, kh, kw]` and, with a bias, `biasGrad[O]` (both overwritten).
  func backwardWeights(
    input: UnsafePointer<Float>, outputGrad: UnsafePointer<Float>, weightGrad: UnsafeMutablePointer<Float>,
    biasGrad: UnsafeMutablePointer<Float>?, staged: OneDNNPrimitive.StagedInputs
  ) throws {
    var buffers: [Int32: UnsafeMutablePointer<Float>] = [
      Int32(GLIP_DNNL_ARG_SRC): UnsafeMutablePointer(mutating: input),
      Int32(GLIP_DNNL_ARG_DIFF_DST): UnsafeMutablePointer(mutating: outputGrad),
      Int32(GLIP_DNNL_ARG_DIFF_WEIGHTS): weightGrad,
    ]
    if hasBias, let biasGrad { buffers[Int32(GLIP_DNNL_ARG_DIFF_BIAS)] = biasGrad }
    try backwardWeights().execute(buffers, staged: staged)
  }
}

extension Tensor.ConvGeometry {
  var inputShape: [Int] { [batch, channels, height, width] }
  var outputShape: [Int] { [batch, outChannels, outHeight, outWidth] }
  /// Grouped weights are `[G, O/G, C/G, kh, kw]` to oneDNN: the same memory as our `[O, C/G, kh, kw]`.
  var oneDNNWeightShape: [Int] {
    let kernel = [groupChannels, kernelHeight, kernelWidth]
    return groups == 1 ? [outChannels] + kernel : [groups, groupOutChannels] + kernel
  }

  /// Strides, dilations as oneDNN counts them (0 is none), and the padding on both sides.
  var oneDNNWindow: (strides: [Int64], dilations: [Int64], padding: [Int64]) {
    (
      OneDNN.dims([stride.0, stride.1]), OneDNN.dims([dilation.0 - 1, dilation.1 - 1]),
      OneDNN.dims([padding.0, padding.1])
    )
  }
}

extension OneDNN {
  /// The primitives for geometry `g`, from the cache; nil when oneDNN failed on it before (it is not retried).
  private func convolution(_ g: Tensor.ConvGeometry, hasBias: Bool) -> OneDNNConvolution? {
    let key = OneDNNConvolution.Key(g, hasBias: hasBias)
    guard !failedConvolutions.contains(key) else { return nil }
    return convolutions.value(for: key) { OneDNNConvolution(self, g, hasBias: hasBias) }
  }

  /// Runs `body` on the primitives of `g` under the lock, with inputs reordered once for all its passes; nil (and
  /// the geometry remembered) when oneDNN fails.
  func withConvolution<Result>(
    _ g: Tensor.ConvGeometry, hasBias: Bool,
    _ body: (OneDNNConvolution, OneDNNPrimitive.StagedInputs) throws -> Result
  ) -> Result? {
    lock.lock()
    defer { lock.unlock() }
    guard let convolution = convolution(g, hasBias: hasBias) else { return nil }
    do {
      return try body(convolution, OneDNNPrimitive.StagedInputs(api))
    } catch {
      failedConvolutions.insert(OneDNNConvolution.Key(g, hasBias: hasBias))
      // Once per geometry: the results are right either way, but a silent fallback would hide a slow path.
      let message = (error as? LoadError)?.message ?? "\(error)"
      let shape =
        "input [\(g.batch), \(g.channels), \(g.height), \(g.width)], weight [\(g.outChannels), "
        + "\(g.groupChannels), \(g.kernelHeight), \(g.kernelWidth)], stride \(g.stride), padding \(g.padding), "
        + "dilation \(g.dilation), groups \(g.groups)"
      FileHandle.standardError.write(Data("conv2d: oneDNN failed (\(message)) on \(shape); using our kernels\n".utf8))
      return nil
    }
  }
}

extension Tensor {
  /// `conv2d`'s forward pass on oneDNN (`[N, O, Ho, Wo]`), or nil when the backend is not chosen for `g` or fails.
  static func oneDNNConvForward(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, _ g: ConvGeometry) -> Tensor? {
    guard let runtime = OneDNNConvolution.runtime(for: g, .forward) else { return nil }
    let output = Tensor(uninitializedShape: [g.batch, g.outChannels, g.outHeight, g.outWidth])
    let ran: Void? = runtime.withConvolution(g, hasBias: bias != nil) { convolution, staged in
      try convolution.forward(
        input: input.data, weight: weight.data, bias: bias?.data, output: output.mutableData, staged: staged)
    }
    return ran == nil ? nil : output
  }

  /// The input gradient `[N, C, H, W]` of `conv2d` on oneDNN, and the weight `[O, C/groups, kh, kw]` and bias `[O]`
  /// gradients (the bias one when `hasBias`), each nil where not needed, not chosen for oneDNN, or failed.
  static func oneDNNConvBackward(
    _ input: Tensor, _ weight: Tensor, _ grad: Tensor, _ g: ConvGeometry, hasBias: Bool, needInput: Bool,
    needWeight: Bool
  ) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
    let dataRuntime = needInput ? OneDNNConvolution.runtime(for: g, .backwardData) : nil
    let weightsRuntime = needWeight ? OneDNNConvolution.runtime(for: g, .backwardWeights) : nil
    guard let runtime = dataRuntime ?? weightsRuntime else { return (nil, nil, nil) }
    var inputGrad = dataRuntime == nil ? nil : Tensor(uninitializedShape: input.shape)
    var weightGrad = weightsRuntime == nil ? nil : Tensor(uninitializedShape: weight.shape)
    var biasGrad = weightGrad != nil && hasBias ? Tensor(uninitializedShape: [g.outChannels]) : nil
    // One call, so that both passes share the output gradient's reorder into oneDNN's layout.
    let ran: Void? = runtime.withConvolution(g, hasBias: hasBias) { convolution, staged in
      if let inputGrad {
        try convolution.backwardData(
          outputGrad: grad.data, weight: weight.data, inputGrad: inputGrad.mutableData, staged: staged)
      }
      if let weightGrad {
        try convolution.backwardWeights(
          input: input.data, outputGrad: grad.data, weightGrad: weightGrad.mutableData,
          biasGrad: biasGrad?.mutableData, staged: staged)
      }
    }
    if ran == nil { (inputGrad, weightGrad, biasGrad) = (nil, nil, nil) }
    return (inputGrad, weightGrad, biasGrad)
  }
}
