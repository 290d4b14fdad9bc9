import CDNNL
import Foundation

/// oneDNN 2.x opened at run time: its engine and stream, primitive creation, and bounded caches of primitives.
///
/// All calls into the library hold `lock`: a primitive's library-managed scratchpad is not safe to share between
/// threads, and the library spreads each call over every core anyway.
final class OneDNN: @unchecked Sendable {
  struct LoadError: Error {
    let message: String
  }

  let api: glip_dnnl_api
  let engine: OpaquePointer
  let stream: OpaquePointer
  let version: String
  /// The OpenMP team size, when the library runs on OpenMP.
  let threads: Int?
  /// OMP_WAIT_POLICY as the OpenMP runtime read it (nil: unset, OpenMP's default spin-then-sleep).
  let waitPolicy: String?
  let lock = NSLock()
  /// Convolution primitives by geometry; touched only under `lock`.
  var convolutions = LRUCache<OneDNNConvolution.Key, OneDNNConvolution>(capacity: 256)
  /// Geometries oneDNN failed on (they run our kernels from then on); touched only under `lock`.
  var failedConvolutions: Set<OneDNNConvolution.Key> = []
  /// Matrix-product primitives by shape, and the shapes oneDNN failed on; touched only under `lock`.
  var products = LRUCache<OneDNNMatMul.Key, OneDNNMatMul>(capacity: 256)
  var failedProducts: Set<OneDNNMatMul.Key> = []
  /// The steps of blocked-layout chains (`BlockedFeatureMap`), the layout reorders between them, and the steps oneDNN
  /// failed on; touched only under `lock`.
  var chainConvolutions = LRUCache<OneDNNChainConvolution.Key, OneDNNChainConvolution>(capacity: 256)
  var chainPoolings = LRUCache<OneDNNChainPooling.Key, OneDNNChainPooling>(capacity: 32)
  var layoutReorders: [OneDNNReorder] = []
  /// Convolution weights scaled and reordered for a chain (`preparedWeights`), at most 64 Mi floats (256 MB),
  /// ResNet-101's weights twice over.
  var weightCache = DerivedWeights<(scales: [Float], layout: OneDNNLayout)>(limitFloats: 64 << 20)
  var failedChainSteps: Set<AnyHashable> = []
  /// Linear weights in the blocked layout their products chose (`OneDNNMatMul.packedWeightRows`). Nothing is
  /// evicted: once `packedWeightFloats` is reached, further weights are read plain (`admitsPackedWeights`), so a
  /// model whose weights do not fit is not reordered on every call.
  var packedWeightStore = DerivedWeights<OneDNNLayout>(limitFloats: .max)
  static let packedWeightFloats = 16 << 20

  /// The library once loaded, or why it could not be (`GLIP_ONEDNN_LIBRARY` names another file to open).
  static let loaded: Result<OneDNN, LoadError> = {
    do {
      return .success(try OneDNN())
    } catch let error as LoadError {
      return .failure(error)
    } catch {
      return .failure(LoadError(message: "\(error)"))
    }
  }()

  static var shared: OneDNN? { try? loaded.get() }

  private init() throws {
    Self.configureOpenMP()
    var api = glip_dnnl_api()
    let path = ProcessInfo.processInfo.environment["GLIP_ONEDNN_LIBRARY"].flatMap { $0.isEmpty ? nil : $0 }
    if let message = glip_dnnl_load(path, &api) { throw LoadError(message: String(cString: message)) }
    self.api = api
    var engine: OpaquePointer?
    try Self.check(api.engine_create(&engine, Int32(GLIP_DNNL_ENGINE_CPU), 0), "creating the CPU engine")
    var stream: OpaquePointer?
    try Self.check(api.stream_create(&stream, engine, UInt32(GLIP_DNNL_STREAM_DEFAULT)), "creating a stream")
    self.engine = engine!
    self.stream = stream!
    guard let info = api.version()?.pointee else { throw LoadError(message: "oneDNN reports no version") }
    version = "\(info.major).\(info.minor).\(info.patch)"
    threads = info.cpu_runtime == UInt32(GLIP_DNNL_CPU_RUNTIME_OMP) ? api.omp_get_max_threads.map { Int($0()) } : nil
    waitPolicy = ProcessInfo.processInfo.environment["OMP_WAIT_POLICY"]
  }

  /// Sets OpenMP's variables, unless the user set them, before the library brings libgomp in.
  ///
  /// Without `OMP_WAIT_POLICY=PASSIVE`, OpenMP's threads spin for a while after each parallel region and take the
  /// cores from our own threads (and from any other process on a shared machine); the team size follows the cores our
  /// own loops use. When an OpenMP runtime is already loaded it has read its variables, and these come too late.
  private static func configureOpenMP() {
    guard glip_dnnl_openmp_loaded() == 0 else { return }
    setenv("OMP_WAIT_POLICY", "PASSIVE", 0)
    setenv("OMP_NUM_THREADS", String(Parallel.coreCount), 0)
  }

  /// `oneDNN 2.6.3 (OpenMP 2 threads, OMP_WAIT_POLICY=PASSIVE)`.
  var summary: String {
    let runtime = threads.map { "OpenMP \($0) threads, OMP_WAIT_POLICY=\(waitPolicy ?? "unset")" } ?? "threadpool"
    return "oneDNN \(version) (\(runtime))"
  }

  static func check(_ status: Int32?, _ what: @autoclosure () -> String) throws {
    guard let status else { throw LoadError(message: "oneDNN entry point missing while \(what())") }
    guard status == Int32(GLIP_DNNL_SUCCESS) else {
      throw LoadError(message: "oneDNN status \(status) while \(what())")
    }
  }

  // MARK: Descriptors

  /// Heap storage for one memory descriptor; the library fills it.
  final class MemoryDescriptor {
    let pointer: OpaquePointer
    private let raw: UnsafeMutableRawPointer

    init() {
      raw = UnsafeMutableRawPointer.allocate(
        byteCount: Int(GLIP_DNNL_MEMORY_DESC_BYTES), alignment: Int(GLIP_DNNL_DESC_ALIGNMENT))
      raw.initializeMemory(as: UInt8.self, repeating: 0, count: Int(GLIP_DNNL_MEMORY_DESC_BYTES))
      pointer = OpaquePointer(raw)
    }

    deinit { raw.deallocate() }
  }

  /// A float32 memory descriptor of `dims` in layout `tag` (`GLIP_DNNL_TAG_ANY`: the primitive chooses).
  func memoryDescriptor(_ dims: [Int], tag: Int32) throws -> MemoryDescriptor {
    let descriptor = MemoryDescriptor()
    let extents = Self.dims(dims)
    try Self.check(
      api.memory_desc_init_by_tag(descriptor.pointer, Int32(dims.count), extents, Int32(GLIP_DNNL_F32), tag),
      "describing memory \(dims)")
    return descriptor
  }

  /// A plain (row-major) float32 descriptor of `dims`.
  func plainDescriptor(_ dims: [Int]) throws -> MemoryDescriptor {
    let tags: [Int: Int32] = [1: Int32(GLIP_DNNL_TAG_A), 4: Int32(GLIP_DNNL_TAG_ABCD), 5: Int32(GLIP_DNNL_TAG_ABCDE)]
    guard let tag = tags[dims.count] else { throw LoadError(message: "no plain layout for rank \(dims.count)") }
    return try memoryDescriptor(dims, tag: tag)
  }

  /// `values` padded to oneDNN's fixed dims array.
  static func dims(_ values: [Int]) -> [Int64] {
    values.map(Int64.init) + Array(repeating: 0, count: Int(GLIP_DNNL_MAX_DIMS) - values.count)
  }

  // MARK: Primitives

  /// A primitive descriptor created by `create` (which fills an operation descriptor first).
  func primitiveDescriptor(
    _ what: String, hint: OpaquePointer? = nil, attributes: OpaquePointer? = nil,
    _ describe: (OpaquePointer) throws -> Int32?
  ) throws -> OpaquePointer {
    let raw = UnsafeMutableRawPointer.allocate(
      byteCount: Int(GLIP_DNNL_OP_DESC_BYTES), alignment: Int(GLIP_DNNL_DESC_ALIGNMENT))
    defer { raw.deallocate() }
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: Int(GLIP_DNNL_OP_DESC_BYTES))
    try Self.check(try describe(OpaquePointer(raw)), "describing \(what)")
    var descriptor: OpaquePointer?
    try Self.check(
      api.primitive_desc_create(&descriptor, OpaquePointer(raw), attributes, engine, hint), "choosing \(what)")
    return descriptor!
  }

  /// The implementation oneDNN chose for a primitive descriptor (for example `brgconv:avx512_core`).
  func implementationName(_ descriptor: OpaquePointer) -> String {
    var name: UnsafePointer<CChar>?
    guard api.primitive_desc_query(descriptor, Int32(GLIP_DNNL_QUERY_IMPL_INFO_STR), 0, &name) == 0, let name else {
      return "unknown"
    }
    return String(cString: name)
  }
}

/// A fixed-capacity map that drops its least recently used entry when full.
struct LRUCache<Key: Hashable, Value> {
  let capacity: Int
  private var entries: [Key: (value: Value, lastUse: Int)] = [:]
  private var clock = 0

  init(capacity: Int) { self.capacity = capacity }

  var count: Int { entries.count }

  func contains(_ key: Key) -> Bool { entries[key] != nil }

  mutating func value(for key: Key, orInsert make: () throws -> Value) rethrows -> Value {
    clock += 1
    if let entry = entries[key] {
      entries[key] = (entry.value, clock)
      return entry.value
    }
    let value = try make()
    if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
      entries[oldest] = nil
    }
    entries[key] = (value, clock)
    return value
  }

  mutating func removeAll() { entries.removeAll() }
}
