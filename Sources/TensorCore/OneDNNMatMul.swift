import CDNNL
import Foundation

/// oneDNN's matrix-product primitive for one shape and memory layout, working on our row-major buffers directly
/// (strided memory descriptors stand for the transposes and leading dimensions; nothing is reordered).
final class OneDNNMatMul {
  /// Transposes, sizes and leading dimensions of a `gemm` call, whether a bias row is added, what is applied to
  /// each element of the result before it is stored, and whether B is a weight read from a copy in the layout the
  /// product chose (`packsWeights`).
  struct Key: Hashable {
    let transposeA: Bool, transposeB: Bool
    let m: Int, n: Int, k: Int
    let lda: Int, ldb: Int, ldc: Int
    let hasBias: Bool
    let epilogue: Tensor.ProductEpilogue
    var packsWeights: Bool

    init(
      _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ lda: Int, _ ldb: Int, _ ldc: Int,
      hasBias: Bool, epilogue: Tensor.ProductEpilogue = .none, packsWeights: Bool = false
    ) {
      (self.transposeA, self.transposeB, self.m, self.n, self.k) = (transposeA, transposeB, m, n, k)
      (self.lda, self.ldb, self.ldc, self.hasBias, self.epilogue) = (lda, ldb, ldc, hasBias, epilogue)
      self.packsWeights = packsWeights
    }
  }

  /// Products of at most this many rows read a weight from a packed copy (`OneDNN.packedWeights`): the product
  /// otherwise reorders the weight into its blocked layout on every call. MiniLM at 64 tokens took 8% less time
  /// that way (three alternating pairs of 400 runs); at 256 tokens it did not gain (1.01–1.13× in three rounds).
  static let packedWeightRows = 128

  /// Whether `auto` runs a product on oneDNN rather than on OpenBLAS. Measured on 2-core AVX-512 machines, oneDNN's
  /// time / ours (a 2-way split of single-threaded OpenBLAS calls; docs/PERFORMANCE.md, "Matrix products"):
  /// - up to 1,024 rows of C with both other sides at least 64: 0.73–0.89 alone (BERT and MiniLM layers at 32–256
  ///   tokens, 1024³), and BERT-base and MiniLM forward passes 0.90 in the whole model;
  /// - 3,136 rows: 0.89–0.96; taller ones (12,544 and 22,400 rows): 1.07–1.08 alone where OpenBLAS ran its
  ///   Cooperlake kernel; but on an Emerald Rapids machine, with Swin-T's 16,384- and 17,689-row stage-1 layers on
  ///   oneDNN its forward pass took 0.97× the time (0.85× where OpenBLAS runs its AVX2 kernel), so there is no row
  ///   limit;
  /// - weight gradients (`Aᵀ·B`): Swin-T's training step took 0.95× the time with them on oneDNN;
  /// - products under 2²⁴ multiply-adds (one attention head's 256×256×64): 0.82–0.89 alone, but slower in the model,
  ///   where each call wakes oneDNN's OpenMP threads between our own loops.
  /// Products with `alpha ≠ 1` or `beta ≠ 0` stay on OpenBLAS.
  static func prefers(_ key: Key) -> Bool {
    key.n >= 64 && key.k >= 64 && key.m * key.n * key.k >= 1 << 24
  }

  let implementation: String
  private let runtime: OneDNN
  private let descriptor: OpaquePointer
  private let primitive: OpaquePointer
  private var memories: [OpaquePointer] = []
  /// With `packsWeights`: B as the caller holds it, and the layout the product reads it in.
  private let plainWeights: OneDNNLayout?
  private let packedWeights: OneDNNLayout?

  init(_ runtime: OneDNN, _ key: Key) throws {
    self.runtime = runtime
    let api = runtime.api
    let source = try runtime.stridedDescriptor([key.m, key.k], strides: key.transposeA ? [1, key.lda] : [key.lda, 1])
    let plain = try runtime.stridedDescriptor([key.k, key.n], strides: key.transposeB ? [1, key.ldb] : [key.ldb, 1])
    let weights =
      key.packsWeights ? try runtime.memoryDescriptor([key.k, key.n], tag: Int32(GLIP_DNNL_TAG_ANY)) : plain
    let destination = try runtime.stridedDescriptor([key.m, key.n], strides: [key.ldc, 1])
    let bias = key.hasBias ? try runtime.stridedDescriptor([1, key.n], strides: [key.n, 1]) : nil
    let attributes = try Self.attributes(runtime, key.epilogue)
    defer { if let attributes { _ = api.primitive_attr_destroy(attributes) } }
    descriptor = try runtime.primitiveDescriptor("a matrix product", attributes: attributes) { operation in
      api.matmul_desc_init(operation, source.pointer, weights.pointer, bias?.pointer, destination.pointer)
    }
    var primitive: OpaquePointer?
    do {
      try OneDNN.check(api.primitive_create(&primitive, descriptor), "creating a matrix product")
    } catch {
      _ = api.primitive_desc_destroy(descriptor)
      throw error
    }
    self.primitive = primitive!
    implementation = runtime.implementationName(descriptor)
    if key.packsWeights {
      let packed = try OneDNNLayout(
        runtime, copying: runtime.chosenLayout(descriptor, GLIP_DNNL_ARG_WEIGHTS), dims: [key.k, key.n])
      (plainWeights, packedWeights) = (OneDNNLayout(runtime, plain, floats: key.k * key.n), packed)
    } else {
      (plainWeights, packedWeights) = (nil, nil)
    }
    let weightsLayout = packedWeights?.pointer ?? weights.pointer
    for layout in [source.pointer, weightsLayout, destination.pointer] + (bias.map { [$0.pointer] } ?? []) {
      var memory: OpaquePointer?
      try OneDNN.check(api.memory_create(&memory, layout, runtime.engine, nil), "creating product memory")
      memories.append(memory!)
    }
  }

  /// Post-ops for `epilogue` (nil for none): GELU (erf form) between optional clips to ±bound.
  private static func attributes(_ runtime: OneDNN, _ epilogue: Tensor.ProductEpilogue) throws -> OpaquePointer? {
    guard case .gelu(let clampBound) = epilogue else { return nil }
    let api = runtime.api
    var operations: OpaquePointer?
    defer { if let operations { _ = api.post_ops_destroy(operations) } }
    try OneDNN.check(api.post_ops_create(&operations), "creating post-ops")
    func clip() throws {
      guard let clampBound else { return }
      try OneDNN.check(
        api.post_ops_append_eltwise(operations, 1, Int32(GLIP_DNNL_ELTWISE_CLIP), -clampBound, clampBound),
        "adding a clamp")
    }
    try clip()
    try OneDNN.check(api.post_ops_append_eltwise(operations, 1, Int32(GLIP_DNNL_ELTWISE_GELU_ERF), 0, 0), "adding GELU")
    try clip()
    var attributes: OpaquePointer?
    try OneDNN.check(api.primitive_attr_create(&attributes), "creating attributes")
    do {
      try OneDNN.check(api.primitive_attr_set_post_ops(attributes, operations), "setting post-ops")
    } catch {
      _ = api.primitive_attr_destroy(attributes)
      throw error
    }
    return attributes
  }

  deinit {
    let api = runtime.api
    for memory in memories { _ = api.memory_destroy(memory) }
    _ = api.primitive_destroy(primitive)
    _ = api.primitive_desc_destroy(descriptor)
  }

  /// `c = op(a) · op(b) (+ bias in every row)`, overwriting `c`; with `packsWeights`, B is read from `weight`'s
  /// packed copy. The caller holds `runtime.lock`.
  func run(
    a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?,
    weight: Tensor?
  ) throws {
    guard let plainWeights, let packedWeights else {
      try execute(a: a, b: b, c: c, bias: bias)
      return
    }
    guard let weight else { throw OneDNN.LoadError(message: "a product on packed weights was given none") }
    let packed = try runtime.packedWeights(weight, plainWeights, as: packedWeights)
    try withExtendedLifetime(packed) { try execute(a: a, b: packed.data, c: c, bias: bias) }
  }

  private func execute(
    a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?
  ) throws {
    let api = runtime.api
    let buffers = [a, b, UnsafePointer(c)] + (bias.map { [$0] } ?? [])
    let ids = [GLIP_DNNL_ARG_SRC, GLIP_DNNL_ARG_WEIGHTS, GLIP_DNNL_ARG_DST, GLIP_DNNL_ARG_BIAS].map { Int32($0) }
    guard buffers.count == memories.count else { throw OneDNN.LoadError(message: "product bias does not match") }
    var arguments: [glip_dnnl_exec_arg] = []
    for index in buffers.indices {
      try OneDNN.check(
        api.memory_set_data_handle(memories[index], UnsafeMutablePointer(mutating: buffers[index])),
        "binding a product argument")
      arguments.append(glip_dnnl_exec_arg(arg: ids[index], memory: memories[index]))
    }
    try OneDNN.check(
      api.primitive_execute(primitive, runtime.stream, Int32(arguments.count), arguments), "running \(implementation)")
    try OneDNN.check(api.stream_wait(runtime.stream), "waiting for \(implementation)")
  }
}

extension OneDNN {
  /// A float32 memory descriptor of `dims` whose elements lie `strides` apart.
  func stridedDescriptor(_ dims: [Int], strides: [Int]) throws -> MemoryDescriptor {
    let descriptor = MemoryDescriptor()
    try Self.check(
      api.memory_desc_init_by_strides(
        descriptor.pointer, Int32(dims.count), Self.dims(dims), Int32(GLIP_DNNL_F32), Self.dims(strides)),
      "describing memory \(dims) with strides \(strides)")
    return descriptor
  }

  /// Runs the product `key` on oneDNN under the lock; false when oneDNN failed on it, now or before (the shape is
  /// then left to OpenBLAS, and said once on standard error).
  func runProduct(
    _ key: OneDNNMatMul.Key, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>,
    bias: UnsafePointer<Float>?, weight: Tensor?
  ) -> Bool {
    lock.lock()
    defer { lock.unlock() }
    var key = key
    if key.packsWeights, weight.map({ !admitsPackedWeights($0, floats: key.k * key.n) }) ?? true {
      key.packsWeights = false
    }
    guard !failedProducts.contains(key) else { return false }
    do {
      let product = try products.value(for: key) { try OneDNNMatMul(self, key) }
      try product.run(a: a, b: b, c: c, bias: bias, weight: key.packsWeights ? weight : nil)
      return true
    } catch {
      failedProducts.insert(key)
      let message = (error as? LoadError)?.message ?? "\(error)"
      FileHandle.standardError.write(
        Data("gemm: oneDNN failed (\(message)) on \(key); using OpenBLAS\n".utf8))
      return false
    }
  }
}

extension Tensor {
  /// `c = op(a) · op(b) (+ bias in every row)` on oneDNN when `KernelBackend.products` chooses it for this
  /// product; false (and `c` untouched) otherwise.
  static func oneDNNProduct(
    _ key: OneDNNMatMul.Key, alpha: Float, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
    c: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, weight: Tensor? = nil
  ) -> Bool {
    guard alpha == 1, let runtime = KernelBackend.products.oneDNN(preferred: { OneDNNMatMul.prefers(key) }) else {
      return false
    }
    return runtime.runProduct(key, a: a, b: b, c: c, bias: bias, weight: weight)
  }
}
