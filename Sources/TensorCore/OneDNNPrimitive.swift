import CDNNL

/// One oneDNN primitive with its arguments bound to our plain (row-major) layouts.
///
/// Where the primitive chose another layout for an argument (a blocked one such as `nChw16c`), a reorder primitive
/// converts it: inputs before the primitive runs, outputs after, through a scratch buffer from the buffer pool.
final class OneDNNPrimitive {
  /// An argument of the primitive and how our plain buffer reaches it.
  struct Argument {
    let id: Int32
    let isOutput: Bool
    /// Memory over our buffer (plain layout); its data handle is set on each call.
    let user: OpaquePointer
    /// Memory in the primitive's layout and the reorder to or from it, when that layout is not plain; `layout` is
    /// the primitive descriptor's own memory descriptor.
    let converted: (memory: OpaquePointer, reorder: OpaquePointer, floats: Int, layout: OpaquePointer)?
  }

  /// Inputs already reordered during one call into the library, for the next primitive that needs the same buffer in
  /// the same layout (the backward passes both read the output gradient).
  final class StagedInputs {
    private let api: glip_dnnl_api
    private var entries: [(source: UnsafeMutablePointer<Float>, layout: OpaquePointer, staging: Tensor)] = []

    init(_ api: glip_dnnl_api) { self.api = api }

    func find(_ source: UnsafeMutablePointer<Float>, layout: OpaquePointer) -> Tensor? {
      entries.first { $0.source == source && api.memory_desc_equal($0.layout, layout) != 0 }?.staging
    }

    func add(_ source: UnsafeMutablePointer<Float>, layout: OpaquePointer, staging: Tensor) {
      entries.append((source, layout, staging))
    }
  }

  let runtime: OneDNN
  let descriptor: OpaquePointer
  let primitive: OpaquePointer
  private(set) var arguments: [Argument] = []
  /// The implementation oneDNN chose, for example `brgconv:avx512_core` or `gemm:jit`.
  let implementation: String

  /// Takes ownership of `descriptor`; `plainShapes` gives each argument's shape in our layout.
  init(_ runtime: OneDNN, descriptor: OpaquePointer, inputs: [Int32: [Int]], outputs: [Int32: [Int]]) throws {
    self.runtime = runtime
    self.descriptor = descriptor
    var primitive: OpaquePointer?
    do {
      try OneDNN.check(runtime.api.primitive_create(&primitive, descriptor), "creating a primitive")
    } catch {
      _ = runtime.api.primitive_desc_destroy(descriptor)
      throw error
    }
    self.primitive = primitive!
    implementation = runtime.implementationName(descriptor)
    // Arguments are bound one by one so that deinit releases whatever was made before a failure.
    for (id, shape) in inputs.sorted(by: { $0.key < $1.key }) {
      arguments.append(try bind(id, shape: shape, isOutput: false))
    }
    for (id, shape) in outputs.sorted(by: { $0.key < $1.key }) {
      arguments.append(try bind(id, shape: shape, isOutput: true))
    }
  }

  deinit {
    let api = runtime.api
    for argument in arguments {
      _ = api.memory_destroy(argument.user)
      if let converted = argument.converted {
        _ = api.memory_destroy(converted.memory)
        _ = api.primitive_destroy(converted.reorder)
      }
    }
    _ = api.primitive_destroy(primitive)
    _ = api.primitive_desc_destroy(descriptor)
  }

  private func bind(_ id: Int32, shape: [Int], isOutput: Bool) throws -> Argument {
    let api = runtime.api
    let plain = try runtime.plainDescriptor(shape)
    guard let chosen = api.primitive_desc_query_md(descriptor, Int32(GLIP_DNNL_QUERY_EXEC_ARG_MD), id) else {
      throw OneDNN.LoadError(message: "oneDNN primitive has no argument \(id)")
    }
    let user = try memory(plain.pointer)
    guard api.memory_desc_equal(plain.pointer, chosen) == 0 else {
      return Argument(id: id, isOutput: isOutput, user: user, converted: nil)
    }
    let converted: OpaquePointer
    do {
      converted = try memory(chosen)
    } catch {
      _ = api.memory_destroy(user)
      throw error
    }
    var reorderDescriptor: OpaquePointer?
    var reorder: OpaquePointer?
    let (source, destination) = isOutput ? (chosen, plain.pointer) : (plain.pointer, chosen)
    let created =
      api.reorder_primitive_desc_create(
        &reorderDescriptor, source, runtime.engine, destination, runtime.engine, nil) == 0
      && api.primitive_create(&reorder, reorderDescriptor) == 0
    if let reorderDescriptor { _ = api.primitive_desc_destroy(reorderDescriptor) }
    guard created, let reorder else {
      _ = api.memory_destroy(user)
      _ = api.memory_destroy(converted)
      throw OneDNN.LoadError(message: "oneDNN cannot reorder argument \(id) of shape \(shape)")
    }
    let floats = (api.memory_desc_get_size(chosen) + 3) / 4
    return Argument(id: id, isOutput: isOutput, user: user, converted: (converted, reorder, floats, chosen))
  }

  /// Memory over `descriptor` without a buffer yet.
  private func memory(_ descriptor: OpaquePointer) throws -> OpaquePointer {
    var memory: OpaquePointer?
    try OneDNN.check(runtime.api.memory_create(&memory, descriptor, runtime.engine, nil), "creating memory")
    return memory!
  }

  /// Runs the primitive on our buffers: `buffers[id]` for every argument (outputs are written). Inputs found in
  /// `staged` are not reordered again; those reordered here are added to it. The caller holds `runtime.lock`.
  func execute(_ buffers: [Int32: UnsafeMutablePointer<Float>], staged: StagedInputs) throws {
    let api = runtime.api
    var primitiveArguments: [glip_dnnl_exec_arg] = []
    var outputs: [(argument: Argument, staging: Tensor)] = []
    for argument in arguments {
      guard let buffer = buffers[argument.id] else {
        throw OneDNN.LoadError(message: "oneDNN argument \(argument.id) has no buffer")
      }
      try OneDNN.check(api.memory_set_data_handle(argument.user, buffer), "binding argument \(argument.id)")
      guard let converted = argument.converted else {
        primitiveArguments.append(glip_dnnl_exec_arg(arg: argument.id, memory: argument.user))
        continue
      }
      let reused = argument.isOutput ? nil : staged.find(buffer, layout: converted.layout)
      let staging = reused ?? Tensor(uninitializedShape: [converted.floats])
      try OneDNN.check(api.memory_set_data_handle(converted.memory, staging.mutableData), "binding a reorder")
      if argument.isOutput {
        outputs.append((argument, staging))
      } else if reused == nil {
        try run(converted.reorder, from: argument.user, to: converted.memory)
        staged.add(buffer, layout: converted.layout, staging: staging)
      }
      primitiveArguments.append(glip_dnnl_exec_arg(arg: argument.id, memory: converted.memory))
    }
    try OneDNN.check(
      api.primitive_execute(primitive, runtime.stream, Int32(primitiveArguments.count), primitiveArguments),
      "running \(implementation)")
    for (argument, staging) in outputs {
      try withExtendedLifetime(staging) {
        try run(argument.converted!.reorder, from: argument.converted!.memory, to: argument.user)
      }
    }
    try OneDNN.check(api.stream_wait(runtime.stream), "waiting for \(implementation)")
  }

  private func run(_ reorder: OpaquePointer, from source: OpaquePointer, to destination: OpaquePointer) throws {
    let reorderArguments = [
      glip_dnnl_exec_arg(arg: Int32(GLIP_DNNL_ARG_SRC), memory: source),
      glip_dnnl_exec_arg(arg: Int32(GLIP_DNNL_ARG_DST), memory: destination),
    ]
    try OneDNN.check(runtime.api.primitive_execute(reorder, runtime.stream, 2, reorderArguments), "reordering")
  }
}
