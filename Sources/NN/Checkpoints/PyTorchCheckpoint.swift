import Foundation
import TensorCore
import ZIPFoundation

/// Reads PyTorch `.pth`/`.pt` checkpoints without Python: the zip format (torch ≥ 1.6: `*/data.pkl` plus
/// `*/data/<key>` storages) and the legacy format (pickles followed by raw storages). Only tensors, ordered dicts and
/// plain values are rebuilt; any other global in the pickle is refused by name.
public enum PyTorchCheckpoint {
  static let storageTypes: [String: (bytes: Int, decode: (UnsafeRawBufferPointer, Int) -> Float)] = [
    "FloatStorage": (4, { Float(bitPattern: $0.loadUnaligned(fromByteOffset: 4 * $1, as: UInt32.self).littleEndian) }),
    "DoubleStorage": (
      8, { Float(Double(bitPattern: $0.loadUnaligned(fromByteOffset: 8 * $1, as: UInt64.self).littleEndian)) }
    ),
    "HalfStorage": (2, { halfToFloat($0.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self).littleEndian) }),
    "BFloat16Storage": (
      2, { Float(bitPattern: UInt32($0.loadUnaligned(fromByteOffset: 2 * $1, as: UInt16.self).littleEndian) << 16) }
    ),
    "LongStorage": (8, { Float(Int64(littleEndian: $0.loadUnaligned(fromByteOffset: 8 * $1, as: Int64.self))) }),
    "IntStorage": (4, { Float(Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * $1, as: Int32.self))) }),
    "ShortStorage": (2, { Float(Int16(littleEndian: $0.loadUnaligned(fromByteOffset: 2 * $1, as: Int16.self))) }),
    "CharStorage": (1, { Float($0.load(fromByteOffset: $1, as: Int8.self)) }),
    "ByteStorage": (1, { Float($0.load(fromByteOffset: $1, as: UInt8.self)) }),
    "BoolStorage": (1, { Float($0.load(fromByteOffset: $1, as: UInt8.self)) }),
  ]

  static let allowedGlobals: Set<String> = Set(
    [
      "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter",
      "torch._utils._rebuild_tensor", "torch.Size",
    ]
      + storageTypes.keys.map { "torch.\($0)" })

  /// A storage not yet read: its element type and where its bytes are.
  final class StorageReference {
    let type: String
    let key: String
    var values: [Float]?
    init(type: String, key: String) {
      self.type = type
      self.key = key
    }
  }

  /// Storages by key, shared by every tensor that views them.
  final class StorageRegistry {
    var byKey: [String: StorageReference] = [:]
  }

  /// A tensor view over a storage, resolved once every storage is read.
  final class TensorReference {
    let storage: StorageReference
    let offset: Int
    let shape: [Int]
    let strides: [Int]
    init(storage: StorageReference, offset: Int, shape: [Int], strides: [Int]) {
      self.storage = storage
      self.offset = offset
      self.shape = shape
      self.strides = strides
    }
  }

  /// Every tensor in the checkpoint by dotted key (nested dicts joined with "."), e.g. `{"model": {...}}` gives
  /// `model.backbone.…`. Use `stateDict(from:)` to pick the state dict inside common wrappers.
  public static func read(path: String) throws -> [String: Tensor] {
    func fail(_ reason: String) -> PickleError { PickleError(message: "\(path): \(reason)") }
    guard FileManager.default.fileExists(atPath: path) else { throw fail("file not found") }
    do {
      try ZipPreflight.check(try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped))
      if let archive = try? Archive(url: URL(fileURLWithPath: path), accessMode: .read),
        let pickleEntry = archive.first(where: { $0.path.hasSuffix("data.pkl") })
      {
        return try readZip(archive, pickleEntry: pickleEntry)
      }
      let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
      return try readLegacy(data)
    } catch let error as PickleError {
      throw fail(error.message)
    } catch {
      throw fail("\(error)")
    }
  }

  /// The state dict inside a checkpoint: the top level, or a `model` / `state_dict` / `module` wrapper. A `model` or
  /// `state_dict` entry is taken even beside training state (`optimizer`, `scheduler`, `iteration`, …, as official
  /// GLIP files hold), which is left out.
  public static func stateDict(from tensors: [String: Tensor]) -> [String: Tensor] {
    for wrapper in ["model.", "state_dict.", "module."] {
      let inner = tensors.filter { $0.key.hasPrefix(wrapper) }
      let others = tensors.keys.filter { !$0.hasPrefix(wrapper) }
      let besideTrainingState =
        wrapper != "module." && others.allSatisfy { trainingStateEntries.contains(String($0.prefix { $0 != "." })) }
      if !inner.isEmpty && (inner.count == tensors.count || besideTrainingState) {
        return Dictionary(uniqueKeysWithValues: inner.map { (String($0.key.dropFirst(wrapper.count)), $0.value) })
      }
    }
    return tensors
  }

  /// Top-level checkpoint entries that hold training state rather than model weights.
  static let trainingStateEntries: Set<String> = [
    "optimizer", "scheduler", "lr_scheduler", "iteration", "epoch", "step", "scaler", "amp", "ema", "meta",
  ]

  // MARK: Formats

  private static func readZip(_ archive: Archive, pickleEntry: Entry) throws -> [String: Tensor] {
    let prefix = String(pickleEntry.path.dropLast("data.pkl".count))
    let pickle = try extract(pickleEntry, from: archive, limit: InputLimits.maxPickleBytes)
    let registry = StorageRegistry()
    var unpickler = makeUnpickler(pickle, registry: registry)
    let root = try unpickler.load()
    for (key, storage) in registry.byKey {
      guard let entry = archive[prefix + "data/" + key] else { throw PickleError(message: "storage '\(key)' missing") }
      let bytes = try extract(entry, from: archive, limit: InputLimits.maxTensorElements * 8)
      storage.values = try decode(bytes, type: storage.type, key: key)
    }
    return try flatten(root)
  }

  /// An entry's bytes, refusing more than `limit` (checked against the declared size first, then while inflating,
  /// since a compressed entry can claim any size: a few kilobytes may inflate to gigabytes).
  private static func extract(_ entry: Entry, from archive: Archive, limit: Int) throws -> Data {
    func tooLarge() -> PickleError {
      PickleError(message: "zip entry '\(entry.path)' inflates to more than \(limit) bytes")
    }
    guard entry.uncompressedSize <= UInt64(limit) else { throw tooLarge() }
    var bytes = Data()
    _ = try archive.extract(entry, skipCRC32: true) { chunk in
      guard bytes.count + chunk.count <= limit else { throw tooLarge() }
      bytes.append(chunk)
    }
    return bytes
  }

  private static func readLegacy(_ data: Data) throws -> [String: Tensor] {
    let registry = StorageRegistry()
    var unpickler = makeUnpickler(data, registry: registry)
    for _ in 0..<3 { _ = try unpickler.load() }  // magic number, protocol version, system info
    let root = try unpickler.load()
    guard case .list(let keyList) = try unpickler.load() else {
      throw PickleError(message: "legacy storage key list missing")
    }
    var position = unpickler.position
    for item in keyList.items {
      guard let key = item.stringValue, let storage = registry.byKey[key] else {
        throw PickleError(message: "legacy storage key \(item) unknown")
      }
      guard let (size, _) = storageTypes[storage.type], position + 8 <= data.count else {
        throw PickleError(message: "storage '\(key)' truncated")
      }
      let count = data.subdata(in: position..<(position + 8)).withUnsafeBytes {
        Int(Int64(littleEndian: $0.loadUnaligned(as: Int64.self)))
      }
      position += 8
      guard count >= 0, count <= (data.count - position) / size else {
        throw PickleError(message: "storage '\(key)' of \(count) elements runs past the end of the file")
      }
      storage.values = try decode(data.subdata(in: position..<(position + count * size)), type: storage.type, key: key)
      position += count * size
    }
    return try flatten(root)
  }

  // MARK: Pieces

  private static func makeUnpickler(_ data: Data, registry: StorageRegistry) -> RestrictedUnpickler {
    RestrictedUnpickler(data: data, allowedGlobals: allowedGlobals) { module, name, arguments in
      switch (module, name) {
      case ("collections", "OrderedDict"):
        return .dict(PickleDict())
      case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
        return try rebuildTensor(arguments, registry: registry)
      case ("torch._utils", "_rebuild_parameter"):
        guard let data = arguments.first else { throw PickleError(message: "_rebuild_parameter without data") }
        return data
      case ("torch", "Size"):
        return arguments.first ?? .tuple([])
      default:
        throw PickleError(message: "call to \(module).\(name) is not allowed")
      }
    }
  }

  private static func rebuildTensor(_ arguments: [PickleValue], registry: StorageRegistry) throws -> PickleValue {
    guard arguments.count >= 4, case .persistent(let descriptor) = arguments[0],
      let fields = descriptor.tupleItems, fields.count >= 3,
      case .global(_, let storageType) = fields[1],
      let key = fields[2].stringValue ?? fields[2].intValue.map(String.init),
      let offset = arguments[1].intValue, let shape = integers(arguments[2]), let strides = integers(arguments[3]),
      shape.count == strides.count
    else { throw PickleError(message: "malformed tensor record in the pickle") }
    guard storageTypes[storageType] != nil else {
      throw PickleError(message: "unsupported storage type \(storageType)")
    }
    let storage = registry.byKey[key] ?? StorageReference(type: storageType, key: key)
    registry.byKey[key] = storage
    return .object(TensorReference(storage: storage, offset: offset, shape: shape, strides: strides))
  }

  /// The items of a tuple of integers (a shape or strides); nil if any item is not an integer.
  private static func integers(_ value: PickleValue) -> [Int]? {
    guard let items = value.tupleItems else { return nil }
    let integers = items.compactMap(\.intValue)
    return integers.count == items.count ? integers : nil
  }

  private static func decode(_ bytes: Data, type: String, key: String) throws -> [Float] {
    guard let (size, read) = storageTypes[type], bytes.count % size == 0 else {
      throw PickleError(message: "storage '\(key)' has \(bytes.count) bytes, not a whole number of \(type) elements")
    }
    if type == "FloatStorage" {
      return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
    return bytes.withUnsafeBytes { raw in (0..<(bytes.count / size)).map { read(raw, $0) } }
  }

  private static func flatten(_ root: PickleValue) throws -> [String: Tensor] {
    var result: [String: Tensor] = [:]
    // A dict that holds itself (through the memo) would otherwise be visited forever.
    func visit(_ value: PickleValue, _ prefix: String, depth: Int) throws {
      guard depth <= InputLimits.maxPickleDepth else {
        throw PickleError(message: "dicts nest deeper than \(InputLimits.maxPickleDepth) levels at '\(prefix)'")
      }
      switch value {
      case .dict(let dict):
        for (key, child) in dict.entries {
          guard let name = key.stringValue ?? key.intValue.map(String.init) else { continue }
          try visit(child, prefix.isEmpty ? name : prefix + "." + name, depth: depth + 1)
        }
      case .object(let object as TensorReference):
        guard let values = object.storage.values else {
          throw PickleError(message: "tensor '\(prefix)' refers to storage '\(object.storage.key)', which was not read")
        }
        result[prefix] = try materialise(object, values: values, name: prefix)
      default:
        break
      }
    }
    try visit(root, "", depth: 1)
    return result
  }

  private static func materialise(_ reference: TensorReference, values: [Float], name: String) throws -> Tensor {
    guard let count = InputLimits.elementCount(reference.shape) else {
      throw PickleError(message: "tensor '\(name)': \(InputLimits.elementCountProblem(reference.shape))")
    }
    guard reference.offset >= 0, reference.strides.allSatisfy({ $0 >= 0 }) else {
      throw PickleError(
        message: "tensor '\(name)' has a negative storage offset or stride (offset \(reference.offset), strides "
          + "\(reference.strides))")
    }
    guard count == 0 || lastIndex(reference).map({ $0 < values.count }) == true else {
      throw PickleError(
        message: "tensor '\(name)' \(reference.shape) with strides \(reference.strides) at offset \(reference.offset) "
          + "reads past its storage of \(values.count) elements")
    }
    if reference.strides == Tensor.contiguousStrides(reference.shape) || count <= 1 {
      return Tensor(shape: reference.shape, values: Array(values[reference.offset..<(reference.offset + count)]))
    }
    var output = [Float](repeating: 0, count: count)
    var index = [Int](repeating: 0, count: reference.shape.count)
    for flat in 0..<count {
      var source = reference.offset
      for axis in index.indices { source += index[axis] * reference.strides[axis] }
      output[flat] = values[source]
      var axis = index.count - 1
      while axis >= 0 {
        index[axis] += 1
        if index[axis] < reference.shape[axis] { break }
        index[axis] = 0
        axis -= 1
      }
    }
    return Tensor(shape: reference.shape, values: output)
  }

  /// The storage index of a view's last element, or nil when it overflows `Int`.
  private static func lastIndex(_ reference: TensorReference) -> Int? {
    var last = reference.offset
    for (size, stride) in zip(reference.shape, reference.strides) where size > 0 {
      let (step, stepOverflow) = (size - 1).multipliedReportingOverflow(by: stride)
      let (sum, sumOverflow) = last.addingReportingOverflow(step)
      guard !stepOverflow, !sumOverflow else { return nil }
      last = sum
    }
    return last
  }

  static func halfToFloat(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int((bits >> 10) & 0x1F), mantissa = Float(bits & 0x3FF)
    if exponent == 0 { return sign * mantissa * Float(sign: .plus, exponent: -24, significand: 1) }
    if exponent == 31 { return mantissa == 0 ? sign * .infinity : .nan }
    return sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
  }
}
