import Foundation

/// Errors reading or writing safetensors files; each names the file.
public struct SafetensorsError: Error, CustomStringConvertible {
  public let path: String
  public let reason: String
  public var description: String { "\(path): \(reason)" }

  public init(path: String, reason: String) {
    self.path = path
    self.reason = reason
  }
}

/// A safetensors file: an 8-byte little-endian header length, a JSON header, then raw little-endian data.
///
/// Every floating and integer dtype is read into Float32 tensors (integers up to 2^24 are exact).
public struct SafetensorsFile {
  public var tensors: [String: Tensor]
  /// Tensor names in file order (by data offset).
  public var names: [String]
  public var metadata: [String: String]

  public init(tensors: [String: Tensor], metadata: [String: String] = [:]) {
    self.tensors = tensors
    self.names = tensors.keys.sorted()
    self.metadata = metadata
  }

  public subscript(name: String) -> Tensor? { tensors[name] }

  public static func read(path: String) throws -> SafetensorsFile {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
    } catch {
      throw SafetensorsError(path: path, reason: "cannot read file")
    }
    return try parse(data, path: path)
  }

  public static func parse(_ data: Data, path: String = "<memory>") throws -> SafetensorsFile {
    func fail(_ reason: String) -> SafetensorsError { SafetensorsError(path: path, reason: reason) }
    guard data.count >= 8 else { throw fail("file is \(data.count) bytes, too short for a safetensors header") }
    let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
    guard headerLength <= UInt64(data.count - 8) else {
      throw fail("header length \(headerLength) exceeds file size \(data.count)")
    }
    let headerEnd = 8 + Int(headerLength)
    let header: [String: Any]
    do {
      guard let object = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd)) as? [String: Any]
      else {
        throw fail("header is not a JSON object")
      }
      header = object
    } catch let error as SafetensorsError {
      throw error
    } catch {
      throw fail("header is not valid JSON (\(error.localizedDescription))")
    }
    var tensors: [String: Tensor] = [:]
    var ordered: [(begin: Int, end: Int, name: String)] = []
    var metadata: [String: String] = [:]
    let payloadSize = data.count - headerEnd
    for (name, value) in header {
      if name == "__metadata__" {
        metadata = (value as? [String: String]) ?? [:]
        continue
      }
      guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
        let shape = StrictJSON.integers(entry["shape"]), let offsets = StrictJSON.integers(entry["data_offsets"]),
        offsets.count == 2
      else { throw fail("tensor '\(name)': malformed header entry") }
      guard let scalarType = ScalarType(rawValue: dtype) else {
        throw fail("tensor '\(name)': unsupported dtype \(dtype)")
      }
      guard let elementCount = InputLimits.elementCount(shape) else {
        throw fail("tensor '\(name)': \(InputLimits.elementCountProblem(shape))")
      }
      let (begin, end) = (offsets[0], offsets[1])
      let (expectedBytes, overflow) = elementCount.multipliedReportingOverflow(by: scalarType.byteSize)
      guard !overflow, begin >= 0, end >= begin, end <= payloadSize, end - begin == expectedBytes else {
        throw fail(
          "tensor '\(name)': data_offsets [\(begin), \(end)] do not hold \(shape) of \(dtype) "
            + "within \(payloadSize) payload bytes")
      }
      let bytes = data.subdata(in: (headerEnd + begin)..<(headerEnd + end))
      tensors[name] = scalarType.decode(bytes, shape: shape)
      ordered.append((begin, end, name))
    }
    try checkLayout(ordered, payloadSize: payloadSize, fail: fail)
    var file = SafetensorsFile(tensors: tensors, metadata: metadata)
    file.names = ordered.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }.map(\.name)
    return file
  }

  /// Tensors must tile the payload: sorted by offset, without overlaps or gaps, ending at the file's end.
  private static func checkLayout(
    _ ordered: [(begin: Int, end: Int, name: String)], payloadSize: Int, fail: (String) -> SafetensorsError
  ) throws {
    var expectedBegin = 0
    for (begin, end, name) in ordered.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
      guard begin == expectedBegin else {
        throw fail(
          begin < expectedBegin
            ? "tensor '\(name)' overlaps the previous tensor (starts at \(begin), previous ends at \(expectedBegin))"
            : "gap before tensor '\(name)' (starts at \(begin), previous ends at \(expectedBegin))")
      }
      expectedBegin = end
    }
    guard expectedBegin == payloadSize else {
      throw fail("payload is \(payloadSize) bytes but tensors cover \(expectedBegin); the file is truncated or padded")
    }
  }

  /// Writes Float32 tensors through `AtomicFile`: a failed or interrupted write leaves any previous file in place.
  public func write(path: String) throws {
    let sortedNames = tensors.keys.sorted()
    var header: [String: Any] = [:]
    if !metadata.isEmpty { header["__metadata__"] = metadata }
    var offset = 0
    for name in sortedNames {
      let tensor = tensors[name]!
      header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + tensor.count * 4]]
      offset += tensor.count * 4
    }
    var headerData = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while (8 + headerData.count) % 8 != 0 { headerData.append(0x20) }
    var output = Data(capacity: 8 + headerData.count + offset)
    withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { output.append(contentsOf: $0) }
    output.append(headerData)
    for name in sortedNames {
      tensors[name]!.withUnsafeBufferPointer { output.append(Data(buffer: $0)) }
    }
    do {
      try AtomicFile.write(output, to: path)
    } catch let error as AtomicFile.WriteError {
      throw SafetensorsError(path: path, reason: error.reason + "; any previous file at this path is unchanged")
    }
  }
}

enum ScalarType: String {
  case f32 = "F32", f64 = "F64", f16 = "F16", bf16 = "BF16"
  case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

  var byteSize: Int {
    switch self {
    case .f64, .i64: return 8
    case .f32, .i32: return 4
    case .f16, .bf16, .i16: return 2
    case .i8, .u8, .bool: return 1
    }
  }

  func decode(_ bytes: Data, shape: [Int]) -> Tensor {
    let tensor = Tensor(uninitializedShape: shape)
    let out = tensor.mutableData
    let count = tensor.count
    bytes.withUnsafeBytes { raw in
      switch self {
      case .f32:
        for i in 0..<count {
          out[i] = Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self).littleEndian)
        }
      case .f64:
        for i in 0..<count {
          out[i] = Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self).littleEndian))
        }
      case .f16:
        for i in 0..<count {
          out[i] = ScalarType.halfToFloat(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian)
        }
      case .bf16:
        for i in 0..<count {
          out[i] = Float(
            bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self).littleEndian) << 16)
        }
      case .i64:
        for i in 0..<count {
          out[i] = Float(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
        }
      case .i32:
        for i in 0..<count {
          out[i] = Float(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
        }
      case .i16:
        for i in 0..<count {
          out[i] = Float(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self)))
        }
      case .i8: for i in 0..<count { out[i] = Float(raw.load(fromByteOffset: i, as: Int8.self)) }
      case .u8, .bool: for i in 0..<count { out[i] = Float(raw.load(fromByteOffset: i, as: UInt8.self)) }
      }
    }
    return tensor
  }

  static func halfToFloat(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0 {
      let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
      return sign == 0 ? magnitude : -magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
  }
}
