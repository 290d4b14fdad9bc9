import CDNNL
import Foundation

/// A memory layout oneDNN chose for a feature map (for example `nChw16c`), or the plain one: its own copy of the
/// descriptor, so that it outlives the primitive that chose it.
final class OneDNNLayout {
  let runtime: OneDNN
  let descriptor: OneDNN.MemoryDescriptor
  /// Floats a buffer in this layout holds (blocked layouts pad the channels to the block).
  let floats: Int

  /// A copy of `chosen`, a descriptor of `dims` that the library owns.
  init(_ runtime: OneDNN, copying chosen: OpaquePointer, dims: [Int]) throws {
    self.runtime = runtime
    descriptor = OneDNN.MemoryDescriptor()
    try OneDNN.check(
      runtime.api.memory_desc_reshape(descriptor.pointer, chosen, Int32(dims.count), OneDNN.dims(dims)),
      "copying the layout of \(dims)")
    floats = (runtime.api.memory_desc_get_size(descriptor.pointer) + 3) / 4
  }

  /// The layout `descriptor` describes, holding `floats` floats.
  init(_ runtime: OneDNN, _ descriptor: OneDNN.MemoryDescriptor, floats: Int) {
    (self.runtime, self.descriptor, self.floats) = (runtime, descriptor, floats)
  }

  /// Plain row-major (`NCHW` for a feature map).
  init(_ runtime: OneDNN, plain dims: [Int]) throws {
    self.runtime = runtime
    descriptor = try runtime.plainDescriptor(dims)
    floats = dims.reduce(1, *)
  }

  var pointer: OpaquePointer { descriptor.pointer }

  func matches(_ other: OpaquePointer) -> Bool { runtime.api.memory_desc_equal(pointer, other) != 0 }
}

/// A primitive with its descriptor, released together.
final class OneDNNExecutable {
  let runtime: OneDNN
  let descriptor: OpaquePointer
  let primitive: OpaquePointer

  /// Takes ownership of `descriptor`, which is released here when the primitive cannot be created.
  init(_ runtime: OneDNN, descriptor: OpaquePointer, what: String) throws {
    var primitive: OpaquePointer?
    guard runtime.api.primitive_create(&primitive, descriptor) == 0, let primitive else {
      _ = runtime.api.primitive_desc_destroy(descriptor)
      throw OneDNN.LoadError(message: "oneDNN cannot create \(what)")
    }
    (self.runtime, self.descriptor, self.primitive) = (runtime, descriptor, primitive)
  }

  deinit {
    _ = runtime.api.primitive_destroy(primitive)
    _ = runtime.api.primitive_desc_destroy(descriptor)
  }

  /// A copy of the layout chosen for `argument`, of `dims`.
  func layout(_ argument: Int, dims: [Int]) throws -> OneDNNLayout {
    try OneDNNLayout(runtime, copying: try runtime.chosenLayout(descriptor, argument), dims: dims)
  }
}

/// A reorder primitive from one layout to another, kept with its descriptor (which holds both layouts).
final class OneDNNReorder {
  let executable: OneDNNExecutable

  init(_ runtime: OneDNN, from source: OpaquePointer, to destination: OpaquePointer) throws {
    var descriptor: OpaquePointer?
    try OneDNN.check(
      runtime.api.reorder_primitive_desc_create(
        &descriptor, source, runtime.engine, destination, runtime.engine, nil),
      "choosing a reorder")
    executable = try OneDNNExecutable(runtime, descriptor: descriptor!, what: "a reorder")
  }

  func converts(from source: OpaquePointer, to destination: OpaquePointer) -> Bool {
    let (runtime, descriptor) = (executable.runtime, executable.descriptor)
    guard let own = try? runtime.chosenLayout(descriptor, GLIP_DNNL_ARG_SRC),
      let ownDestination = try? runtime.chosenLayout(descriptor, GLIP_DNNL_ARG_DST)
    else { return false }
    return runtime.api.memory_desc_equal(own, source) != 0
      && runtime.api.memory_desc_equal(ownDestination, destination) != 0
  }
}

/// An argument of one primitive call: its id, layout and buffer.
struct OneDNNArgument {
  let id: Int32
  let layout: OpaquePointer
  let buffer: UnsafeMutableRawPointer
}

extension OneDNN {
  /// The layout the primitive descriptor `descriptor` chose for `argument` (owned by the descriptor).
  func chosenLayout(_ descriptor: OpaquePointer, _ argument: Int) throws -> OpaquePointer {
    guard let layout = api.primitive_desc_query_md(descriptor, Int32(GLIP_DNNL_QUERY_EXEC_ARG_MD), Int32(argument))
    else { throw LoadError(message: "oneDNN primitive has no argument \(argument)") }
    return layout
  }

  /// Runs `primitive` on `arguments`, with a memory object per argument for this call. The caller holds `lock`.
  func execute(_ primitive: OpaquePointer, _ arguments: [OneDNNArgument], what: String) throws {
    var memories: [OpaquePointer] = []
    defer { for memory in memories { _ = api.memory_destroy(memory) } }
    var bound: [glip_dnnl_exec_arg] = []
    for argument in arguments {
      var memory: OpaquePointer?
      try Self.check(
        api.memory_create(&memory, argument.layout, engine, argument.buffer), "binding argument \(argument.id)")
      memories.append(memory!)
      bound.append(glip_dnnl_exec_arg(arg: argument.id, memory: memory))
    }
    try Self.check(api.primitive_execute(primitive, stream, Int32(bound.count), bound), "running \(what)")
    try Self.check(api.stream_wait(stream), "waiting for \(what)")
  }

  /// Writes `source` (in layout `from`) into `destination` (in layout `to`); the reorder primitive is kept for the
  /// next call with the same pair. The caller holds `lock`.
  func reorder(
    _ source: UnsafeRawPointer, from: OpaquePointer, to: OpaquePointer, into destination: UnsafeMutableRawPointer
  ) throws {
    let reorder: OneDNNReorder
    if let index = layoutReorders.firstIndex(where: { $0.converts(from: from, to: to) }) {
      reorder = layoutReorders[index]
    } else {
      reorder = try OneDNNReorder(self, from: from, to: to)
      if layoutReorders.count >= 64 { layoutReorders.removeFirst() }
      layoutReorders.append(reorder)
    }
    try execute(
      reorder.executable.primitive,
      [
        OneDNNArgument(id: Int32(GLIP_DNNL_ARG_SRC), layout: from, buffer: UnsafeMutableRawPointer(mutating: source)),
        OneDNNArgument(id: Int32(GLIP_DNNL_ARG_DST), layout: to, buffer: destination),
      ], what: "a reorder")
  }

  /// `weight` (plain `[O, …]`) times `scale[o]` per output channel (nil: 1), in the layout `wanted`: computed once
  /// and kept while the weight's storage and the scale's values are unchanged (`weightCache`). The caller holds
  /// `lock`.
  func preparedWeights(_ weight: Tensor, scale: Tensor?, _ plain: OneDNNLayout, as wanted: OneDNNLayout) throws
    -> Tensor
  {
    let scales = scale?.scalars ?? []
    return try weightCache.derived(
      from: weight, (scales, wanted), isSame: { $0.scales == scales && $0.layout.matches(wanted.pointer) }
    ) { try inLayout(Self.scaledRows(weight, scales), plain, as: wanted) }
  }

  /// Whether `weight` has a packed copy, or one of `floats` floats still fits in `packedWeightFloats`; copies whose
  /// weight only the store still holds (updated or released) are dropped first. The caller holds `lock`.
  func admitsPackedWeights(_ weight: Tensor, floats: Int) -> Bool {
    if packedWeightStore.count(derivedFrom: weight) > 0 { return true }
    packedWeightStore.dropStale()
    return packedWeightStore.floats + floats <= Self.packedWeightFloats
  }

  /// `weight` (in `plain`) in the blocked layout `wanted`, reordered on first use and kept while the weight's
  /// storage is unchanged. The caller holds `lock` and has asked `admitsPackedWeights`.
  func packedWeights(_ weight: Tensor, _ plain: OneDNNLayout, as wanted: OneDNNLayout) throws -> Tensor {
    try packedWeightStore.derived(from: weight, wanted, isSame: { $0.matches(wanted.pointer) }) {
      try inLayout(weight, plain, as: wanted)
    }
  }

  /// `weight[o, …] · scales[o]` (`weight` itself when `scales` is empty).
  private static func scaledRows(_ weight: Tensor, _ scales: [Float]) -> Tensor {
    guard !scales.isEmpty else { return weight }
    let result = Tensor(uninitializedShape: weight.shape)
    let rowLength = weight.count / scales.count
    let (source, out) = (weight.data, result.mutableData)
    for (row, factor) in scales.enumerated() {
      for index in row * rowLength..<(row + 1) * rowLength { out[index] = source[index] * factor }
    }
    return result
  }

  /// `values` in `layout`, or a copy reordered into `wanted` (from the buffer pool) when the layouts differ.
  func inLayout(_ values: Tensor, _ layout: OneDNNLayout, as wanted: OneDNNLayout) throws -> Tensor {
    guard !layout.matches(wanted.pointer) else { return values }
    let converted = Tensor(uninitializedShape: [wanted.floats])
    try reorder(values.data, from: layout.pointer, to: wanted.pointer, into: converted.mutableData)
    return converted
  }
}

/// An inference convolution with a per-channel scale folded into its weights, the shift as its bias, and the
/// residual add and activation as oneDNN post-ops, on inputs and outputs in the layouts it chose: one link of a
/// `BlockedFeatureMap` chain.
///
/// Per-channel scale and shift as binary post-ops cost ResNet-50 about 10% of its forward time on oneDNN 2.6; a
/// residual as a binary post-op is served only by its reference convolution (hundreds of times slower), so it is
/// copied into the output buffer and added as a sum.
final class OneDNNChainConvolution {
  /// The geometry (with whether there is a shift, the bias) and the epilogue's other steps.
  struct Key: Hashable {
    let geometry: OneDNNConvolution.Key
    let residual: Bool
    let activation: Tensor.FusedActivation
  }

  let runtime: OneDNN
  let g: Tensor.ConvGeometry
  let hasBias: Bool
  let executable: OneDNNExecutable
  let source: OneDNNLayout
  let weights: OneDNNLayout
  let destination: OneDNNLayout
  let plainWeights: OneDNNLayout
  let bias: OneDNNLayout

  /// The convolution for inputs in `inputLayout`: a blocked input is taken as it is, a plain one (a network's image)
  /// in the layout the convolution prefers.
  init(_ runtime: OneDNN, _ g: Tensor.ConvGeometry, _ key: Key, hasBias: Bool, inputLayout: OneDNNLayout) throws {
    self.runtime = runtime
    self.g = g
    self.hasBias = hasBias
    let api = runtime.api
    plainWeights = try OneDNNLayout(runtime, plain: g.oneDNNWeightShape)
    bias = try OneDNNLayout(runtime, plain: [g.outChannels])
    let input = inputLayout.matches(try runtime.plainDescriptor(g.inputShape).pointer) ? nil : inputLayout
    // The output layout first, as the convolution alone chooses it for training: for inference, oneDNN 2.6 prefers
    // channels-last (`acdb`), whose 1×1 kernels measured 14% slower than the blocked ones (`nChw16c`) over
    // ResNet-50, and whose conversion back to NCHW is a transpose. Where that pair of layouts has only the reference
    // implementation (a few channels), the input and then the output are left to the convolution.
    let probe = try Self.create(runtime, g, input: input, output: nil, bias: nil, training: true, key: nil)
    let preferred = try OneDNNLayout(
      runtime, copying: try runtime.chosenLayout(probe, GLIP_DNNL_ARG_DST), dims: g.outputShape)
    _ = api.primitive_desc_destroy(probe)
    var found: OpaquePointer?
    for (source, output) in [(input, preferred), (nil, preferred), (nil, nil)] where found == nil {
      guard
        let candidate = try? Self.create(
          runtime, g, input: source, output: output, bias: hasBias ? bias : nil, training: false, key: key)
      else { continue }
      if runtime.implementationName(candidate).hasPrefix("ref") {
        _ = api.primitive_desc_destroy(candidate)
      } else {
        found = candidate
      }
    }
    guard let descriptor = found else {
      throw OneDNN.LoadError(message: "oneDNN has only its reference convolution for this step")
    }
    executable = try OneDNNExecutable(runtime, descriptor: descriptor, what: "a chained convolution")
    destination = try executable.layout(GLIP_DNNL_ARG_DST, dims: g.outputShape)
    source = try executable.layout(GLIP_DNNL_ARG_SRC, dims: g.inputShape)
    weights = try executable.layout(GLIP_DNNL_ARG_WEIGHTS, dims: g.oneDNNWeightShape)
  }

  /// A forward convolution descriptor (for inference, or for training) with the input in `input` and the output in
  /// `output` (nil: chosen), and the post-ops of `key` (nil: none).
  private static func create(
    _ runtime: OneDNN, _ g: Tensor.ConvGeometry, input: OneDNNLayout?, output: OneDNNLayout?, bias: OneDNNLayout?,
    training: Bool, key: Key?
  ) throws -> OpaquePointer {
    let api = runtime.api
    let any = Int32(GLIP_DNNL_TAG_ANY)
    let source = try input?.descriptor ?? runtime.memoryDescriptor(g.inputShape, tag: any)
    let weights = try runtime.memoryDescriptor(g.oneDNNWeightShape, tag: any)
    let destination = try output?.descriptor ?? runtime.memoryDescriptor(g.outputShape, tag: any)
    var operations: OpaquePointer?
    var attributes: OpaquePointer?
    defer {
      if let operations { _ = api.post_ops_destroy(operations) }
      if let attributes { _ = api.primitive_attr_destroy(attributes) }
    }
    try OneDNN.check(api.post_ops_create(&operations), "creating post-ops")
    if key?.residual == true {
      try OneDNN.check(api.post_ops_append_sum(operations, 1), "adding a residual sum")
    }
    switch key?.activation ?? .none {
    case .none: break
    case .relu:
      try OneDNN.check(api.post_ops_append_eltwise(operations, 1, Int32(GLIP_DNNL_ELTWISE_RELU), 0, 0), "adding ReLU")
    case .relu6:
      try OneDNN.check(api.post_ops_append_eltwise(operations, 1, Int32(GLIP_DNNL_ELTWISE_CLIP), 0, 6), "adding ReLU6")
    }
    try OneDNN.check(api.primitive_attr_create(&attributes), "creating attributes")
    try OneDNN.check(api.primitive_attr_set_post_ops(attributes, operations), "setting post-ops")
    let (strides, dilations, padding) = g.oneDNNWindow
    return try runtime.primitiveDescriptor("a chained convolution", attributes: attributes) { operation in
      api.convolution_forward_desc_init(
        operation, Int32(training ? GLIP_DNNL_FORWARD_TRAINING : GLIP_DNNL_FORWARD_INFERENCE),
        Int32(GLIP_DNNL_CONVOLUTION_DIRECT), source.pointer, weights.pointer, bias?.pointer, destination.pointer,
        strides, dilations, padding, padding)
    }
  }

  /// `activation(conv(input, weight · scale) + shift + residual)` in `destination`'s layout. The caller holds the
  /// runtime's lock.
  func run(
    _ input: BlockedFeatureMap, weight: Tensor, scale: Tensor?, shift: Tensor?, residual: BlockedFeatureMap?
  ) throws -> BlockedFeatureMap {
    let sourceValues = try runtime.inLayout(input.values, input.layout, as: source)
    let weightValues = try runtime.preparedWeights(weight, scale: scale, plainWeights, as: weights)
    let output = Tensor(uninitializedShape: [destination.floats])
    if let residual {
      if residual.layout.matches(destination.pointer) {
        output.mutableData.update(from: residual.values.data, count: destination.floats)
      } else {
        try runtime.reorder(
          residual.values.data, from: residual.layout.pointer, to: destination.pointer, into: output.mutableData)
      }
    }
    var arguments = [
      OneDNNArgument(id: Int32(GLIP_DNNL_ARG_SRC), layout: source.pointer, buffer: sourceValues.mutableData),
      OneDNNArgument(id: Int32(GLIP_DNNL_ARG_WEIGHTS), layout: weights.pointer, buffer: weightValues.mutableData),
      OneDNNArgument(id: Int32(GLIP_DNNL_ARG_DST), layout: destination.pointer, buffer: output.mutableData),
    ]
    if hasBias, let shift {
      arguments.append(OneDNNArgument(id: Int32(GLIP_DNNL_ARG_BIAS), layout: bias.pointer, buffer: shift.mutableData))
    }
    try withExtendedLifetime((sourceValues, weightValues, shift)) {
      try runtime.execute(executable.primitive, arguments, what: "a chained convolution")
    }
    return BlockedFeatureMap(shape: g.outputShape, values: output, layout: destination)
  }
}

/// oneDNN's max pooling for inference, on a map in the layout the pooling chose (the input's, normally).
final class OneDNNChainPooling {
  struct Key: Hashable {
    let input: [Int]
    let kernel: [Int], stride: [Int], padding: [Int]
  }

  let runtime: OneDNN
  let executable: OneDNNExecutable
  let source: OneDNNLayout
  let destination: OneDNNLayout
  let outputShape: [Int]

  init(_ runtime: OneDNN, _ key: Key, inputLayout: OneDNNLayout, outputShape: [Int]) throws {
    self.runtime = runtime
    self.outputShape = outputShape
    let api = runtime.api
    let output = try runtime.memoryDescriptor(outputShape, tag: Int32(GLIP_DNNL_TAG_ANY))
    let padding = OneDNN.dims(key.padding)
    let descriptor = try runtime.primitiveDescriptor("a max pooling") { operation in
      api.pooling_forward_desc_init(
        operation, Int32(GLIP_DNNL_FORWARD_INFERENCE), Int32(GLIP_DNNL_POOLING_MAX), inputLayout.pointer,
        output.pointer, OneDNN.dims(key.stride), OneDNN.dims(key.kernel), padding, padding)
    }
    executable = try OneDNNExecutable(runtime, descriptor: descriptor, what: "a max pooling")
    source = try executable.layout(GLIP_DNNL_ARG_SRC, dims: key.input)
    destination = try executable.layout(GLIP_DNNL_ARG_DST, dims: outputShape)
  }

  /// The pooled map; the caller holds the runtime's lock.
  func run(_ input: BlockedFeatureMap) throws -> BlockedFeatureMap {
    let values = try runtime.inLayout(input.values, input.layout, as: source)
    let output = Tensor(uninitializedShape: [destination.floats])
    try withExtendedLifetime(values) {
      try runtime.execute(
        executable.primitive,
        [
          OneDNNArgument(id: Int32(GLIP_DNNL_ARG_SRC), layout: source.pointer, buffer: values.mutableData),
          OneDNNArgument(id: Int32(GLIP_DNNL_ARG_DST), layout: destination.pointer, buffer: output.mutableData),
        ], what: "a max pooling")
    }
    return BlockedFeatureMap(shape: outputShape, values: output, layout: destination)
  }
}
