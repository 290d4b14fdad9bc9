import Foundation

/// Reference-counted, 64-byte aligned Float32 buffer behind a `Tensor`.
///
/// `Tensor` is a value type; it shares a `TensorStorage` until one copy is mutated (copy-on-write).
public final class TensorStorage: @unchecked Sendable {
  public let count: Int
  public let pointer: UnsafeMutablePointer<Float>
  private let capacity: Int

  public init(count: Int) {
    self.count = count
    (pointer, capacity) = BufferPool.shared.allocate(count: count, of: Float.self)
  }

  deinit { BufferPool.shared.release(UnsafeMutableRawPointer(pointer), capacity: capacity) }

  func copy() -> TensorStorage {
    let result = TensorStorage(count: count)
    result.pointer.update(from: pointer, count: count)
    return result
  }
}

/// An n-dimensional, contiguous, row-major Float32 array that can take part in reverse-mode autograd.
///
/// ```swift
/// let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6], requiresGrad: true)
/// let loss = (x * x).sum()
/// loss.backward()
/// x.grad  // 2 * x
/// ```
public struct Tensor: @unchecked Sendable {
  public private(set) var shape: [Int]
  var storage: TensorStorage
  /// Autograd node: set for leaves that require grad and for results of recorded ops.
  var node: GradNode?

  // MARK: Construction

  /// Uninitialised storage; only for kernels that overwrite every element.

  public init(uninitializedShape shape: [Int]) {
    self.shape = shape
    self.storage = TensorStorage(count: Tensor.elementCount(shape))
    self.node = nil
  }

  public init(shape: [Int], values: [Float], requiresGrad: Bool = false) {
    precondition(
      values.count == Tensor.elementCount(shape),
      "Tensor(shape: \(shape)) needs \(Tensor.elementCount(shape)) values, got \(values.count)")
    self.init(uninitializedShape: shape)
    values.withUnsafeBufferPointer { storage.pointer.update(from: $0.baseAddress!, count: values.count) }
    if requiresGrad { self.requiresGrad = true }
  }

  public init(_ values: [Float]) { self.init(shape: [values.count], values: values) }

  public init(scalar: Float) { self.init(shape: [], values: [scalar]) }

  init(shape: [Int], storage: TensorStorage, node: GradNode? = nil) {
    self.shape = shape
    self.storage = storage
    self.node = node
  }

  public static func full(_ shape: [Int], _ value: Float) -> Tensor {
    let result = Tensor(uninitializedShape: shape)
    if !ShapeOnlyMode.isEnabled { result.storage.pointer.update(repeating: value, count: result.count) }
    return result
  }

  public static func zeros(_ shape: [Int]) -> Tensor { full(shape, 0) }
  public static func ones(_ shape: [Int]) -> Tensor { full(shape, 1) }
  public static func zeros(like other: Tensor) -> Tensor { full(other.shape, 0) }
  public static func ones(like other: Tensor) -> Tensor { full(other.shape, 1) }

  /// Values `start, start+step, …` strictly below `end` (PyTorch `arange`).
  public static func arange(_ start: Float, _ end: Float, step: Float = 1) -> Tensor {
    precondition(step != 0, "arange: step must be non-zero")
    let count = Swift.max(0, Int(((end - start) / step).rounded(.up)))
    let result = Tensor(uninitializedShape: [count])
    for index in 0..<count { result.storage.pointer[index] = start + Float(index) * step }
    return result
  }

  public static func arange(_ end: Int) -> Tensor { arange(0, Float(end)) }

  // MARK: Properties

  public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

  public var count: Int { storage.count }
  public var rank: Int { shape.count }

  /// Row-major strides of `shape`, in elements.
  public var strides: [Int] { Tensor.contiguousStrides(shape) }

  public static func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
      strides[axis] = running
      running *= shape[axis]
    }
    return strides
  }

  /// A copy of the values as a Swift array.
  public var scalars: [Float] { Array(UnsafeBufferPointer(start: storage.pointer, count: count)) }

  /// The single value of a one-element tensor.
  public var item: Float {
    precondition(count == 1, "item: tensor of shape \(shape) has \(count) elements")
    return storage.pointer[0]
  }

  public subscript(flat index: Int) -> Float {
    get { storage.pointer[index] }
    set {
      makeUnique()
      storage.pointer[index] = newValue
    }
  }

  /// Normalises a possibly negative axis against `rank`.

  public func axis(_ axis: Int) -> Int {
    // A 0-d tensor accepts axis 0 and -1, as PyTorch does.
    let resolved = axis < 0 ? axis + Swift.max(rank, 1) : axis
    precondition(resolved >= 0 && resolved < Swift.max(rank, 1), "axis \(axis) out of range for shape \(shape)")
    return resolved
  }

  // MARK: Raw access for kernels

  public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
    try body(UnsafeBufferPointer(start: storage.pointer, count: count))
  }

  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    makeUnique()
    return try body(UnsafeMutableBufferPointer(start: storage.pointer, count: count))
  }

  /// Read-only pointer for kernels; valid while `self` is alive.
  public var data: UnsafePointer<Float> { UnsafePointer(storage.pointer) }

  /// Writable pointer for kernels writing into a freshly created result tensor.
  public var mutableData: UnsafeMutablePointer<Float> { storage.pointer }

  mutating func makeUnique() {
    if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
  }

  /// The same values under a new shape with no autograd history (shares storage until written).
  func sharingStorage(shape newShape: [Int]) -> Tensor {
    Tensor(shape: newShape, storage: storage)
  }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    let preview = scalars.prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
    let ellipsis = count > 8 ? ", …" : ""
    let grad = requiresGrad ? ", requiresGrad" : ""
    return "Tensor(shape: \(shape), [\(preview)\(ellipsis)]\(grad))"
  }
}
