import Foundation

/// Limits on what untrusted files may ask for, checked before anything is allocated.
///
/// Each limit has a default that fits every real checkpoint and image this toolkit reads, and an environment
/// variable that raises (or lowers) it for one run:
///
/// | limit | default | environment variable |
/// |---|---|---|
/// | pixels of one decoded image (width × height) | 8192 × 8192 | `GLIP_MAX_IMAGE_PIXELS` |
/// | elements of one tensor in a checkpoint | 2^31 | `GLIP_MAX_TENSOR_ELEMENTS` |
/// | nesting depth of a pickle (`.pth`) | 1000 | `GLIP_MAX_PICKLE_DEPTH` |
/// | memo entries of a pickle | 2^24 | `GLIP_MAX_PICKLE_MEMO` |
/// | bytes of a `.pth` archive's pickle, inflated | 2^30 | `GLIP_MAX_PICKLE_BYTES` |
public enum InputLimits {
  public static let maxImagePixels = limit("GLIP_MAX_IMAGE_PIXELS", default: 8192 * 8192)
  public static let maxTensorElements = limit("GLIP_MAX_TENSOR_ELEMENTS", default: 1 << 31)
  public static let maxPickleDepth = limit("GLIP_MAX_PICKLE_DEPTH", default: 1000)
  public static let maxPickleMemo = limit("GLIP_MAX_PICKLE_MEMO", default: 1 << 24)
  public static let maxPickleBytes = limit("GLIP_MAX_PICKLE_BYTES", default: 1 << 30)

  /// A positive integer from the environment variable `name`, or `fallback` when it is unset or not a positive
  /// integer.
  public static func limit(_ name: String, default fallback: Int) -> Int {
    guard let text = ProcessInfo.processInfo.environment[name], let value = Int(text), value > 0 else {
      return fallback
    }
    return value
  }

  /// The element count of `shape`, or nil when an extent is negative or the product exceeds `limit` (checked
  /// without overflowing, so a shape such as [2^62, 4] cannot wrap around to a small count).
  public static func elementCount(_ shape: [Int], limit: Int = maxTensorElements) -> Int? {
    var count = 1
    for extent in shape {
      guard extent >= 0 else { return nil }
      let (product, overflow) = count.multipliedReportingOverflow(by: extent)
      guard !overflow, product <= limit else { return nil }
      count = product
    }
    return count
  }

  /// Why `shape` is refused, for error messages: a negative extent or a count above the limit.
  public static func elementCountProblem(_ shape: [Int], limit: Int = maxTensorElements) -> String {
    if shape.contains(where: { $0 < 0 }) { return "shape \(shape) has a negative extent" }
    return "shape \(shape) has more than \(limit) elements (raise the limit with GLIP_MAX_TENSOR_ELEMENTS)"
  }
}

/// Numbers read from `JSONSerialization` output without silent coercion: booleans are not numbers, and an integer
/// field must hold an integral value within range (`2.5`, `true` and `1e30` are refused rather than read as 2, 1
/// and `Int.min`).
public enum StrictJSON {
  /// The integer in `value`, if it is a JSON number with an integral value that fits in `Int` exactly.
  public static func integer(_ value: Any?) -> Int? {
    guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
    switch String(cString: number.objCType) {
    case "c", "C", "s", "S", "i", "I", "l", "q":
      return number.intValue
    case "L", "Q":
      return number.uint64Value <= UInt64(Int.max) ? Int(number.uint64Value) : nil
    default:
      let real = number.doubleValue
      guard real.isFinite, real == real.rounded(), Swift.abs(real) <= 9_007_199_254_740_992 else { return nil }
      return Int(real)
    }
  }

  /// The value of a JSON number (integral or not), excluding booleans and non-finite values.
  public static func number(_ value: Any?) -> Double? {
    guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
    let real = number.doubleValue
    return real.isFinite ? real : nil
  }

  /// A list of numbers, or nil if any element is not one.
  public static func numbers(_ value: Any?) -> [Double]? {
    guard let items = value as? [Any] else { return nil }
    var result: [Double] = []
    result.reserveCapacity(items.count)
    for item in items {
      guard let real = number(item) else { return nil }
      result.append(real)
    }
    return result
  }

  /// A list of integers, or nil if any element is not one.
  public static func integers(_ value: Any?) -> [Int]? {
    guard let items = value as? [Any] else { return nil }
    var result: [Int] = []
    result.reserveCapacity(items.count)
    for item in items {
      guard let integer = integer(item) else { return nil }
      result.append(integer)
    }
    return result
  }

  /// JSON `true`/`false` arrive as NSNumber too, as the CoreFoundation boolean singleton's class.
  static func isBoolean(_ number: NSNumber) -> Bool {
    #if canImport(ObjectiveC)
      return CFGetTypeID(number) == CFBooleanGetTypeID()
    #else
      return String(describing: type(of: number)) == "__NSCFBoolean"
    #endif
  }
}
