import Foundation

/// A value type that can be read from a config node.
public protocol ConfigDecodable {
  /// A short type name for error messages and docs ("an integer", "a list of strings").
  static var typeDescription: String { get }
  static func decode(_ node: ConfigNode) -> Self?
  /// The value as YAML text, for docs and `config show`.
  var yamlText: String { get }
}

extension Int: ConfigDecodable {
  public static var typeDescription: String { "an integer" }
  public static func decode(_ node: ConfigNode) -> Int? {
    guard case .scalar(let text, let quoted) = node.value, !quoted else { return nil }
    return Int(text.replacingOccurrences(of: "_", with: ""))
  }
  public var yamlText: String { String(self) }
}

extension Double: ConfigDecodable {
  public static var typeDescription: String { "a number" }
  public static func decode(_ node: ConfigNode) -> Double? {
    guard case .scalar(let text, let quoted) = node.value, !quoted else { return nil }
    switch text.lowercased() {
    case ".inf", "+.inf": return .infinity
    case "-.inf": return -.infinity
    case ".nan": return .nan
    default: return Double(text.replacingOccurrences(of: "_", with: ""))
    }
  }
  public var yamlText: String {
    if self == rounded() && Swift.abs(self) < 1e15 { return String(format: "%.1f", self) }
    return "\(self)"
  }
}

extension Float: ConfigDecodable {
  public static var typeDescription: String { "a number" }
  public static func decode(_ node: ConfigNode) -> Float? { Double.decode(node).map(Float.init) }
  /// The shortest text that reads back as this Float (`0.001`, not the Double expansion `0.0010000000474974513`).
  public var yamlText: String {
    if self == rounded() && Swift.abs(self) < 1e7 { return String(format: "%.1f", self) }
    return "\(self)"
  }
}

extension Bool: ConfigDecodable {
  public static var typeDescription: String { "true or false" }
  public static func decode(_ node: ConfigNode) -> Bool? {
    guard case .scalar(let text, let quoted) = node.value, !quoted else { return nil }
    switch text {
    case "true", "True", "TRUE": return true
    case "false", "False", "FALSE": return false
    default: return nil
    }
  }
  public var yamlText: String { self ? "true" : "false" }
}

extension String: ConfigDecodable {
  public static var typeDescription: String { "a string" }
  public static func decode(_ node: ConfigNode) -> String? { node.isNull ? nil : node.scalarText }
  public var yamlText: String { YAMLEmitter.scalar(self) }
}

extension Array: ConfigDecodable where Element: ConfigDecodable {
  public static var typeDescription: String {
    "a list of "
      + Element.typeDescription.replacingOccurrences(of: "an ", with: "").replacingOccurrences(of: "a ", with: "")
      + "s"
  }
  public static func decode(_ node: ConfigNode) -> [Element]? {
    guard let items = node.items else { return nil }
    var result: [Element] = []
    for item in items {
      guard let value = Element.decode(item) else { return nil }
      result.append(value)
    }
    return result
  }
  public var yamlText: String { "[" + map(\.yamlText).joined(separator: ", ") + "]" }
}

/// String enums read from configs; unknown values list the allowed ones.
public protocol ConfigEnum: ConfigDecodable, CaseIterable, RawRepresentable where RawValue == String {}

extension ConfigEnum {
  public static var typeDescription: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
  public static func decode(_ node: ConfigNode) -> Self? { node.scalarText.flatMap(Self.init(rawValue:)) }
  public var yamlText: String { rawValue }
}

/// Values made of integers (`Int`, `[Int]`), which a key can bound with a range.
public protocol ConfigIntegers {
  var integers: [Int] { get }
}

extension Int: ConfigIntegers {
  public var integers: [Int] { [self] }
}

extension Array: ConfigIntegers where Element == Int {
  public var integers: [Int] { self }
}

/// One documented config key: name, type, default (nil when required) and meaning.
public struct ConfigKey<Value: ConfigDecodable> {
  public let name: String
  public let defaultValue: Value?
  public let doc: String
  /// The integers allowed (for `Int` and `[Int]` keys): sizes that drive allocation are bounded, so a huge value in
  /// a config is an error instead of an attempt to allocate terabytes.
  public let range: ClosedRange<Int>?

  public init(_ name: String, default defaultValue: Value? = nil, _ doc: String) {
    self.name = name
    self.defaultValue = defaultValue
    self.doc = doc
    self.range = nil
  }

  public var documentation: KeyDocumentation {
    let bounds = range.map { " in \($0.lowerBound)…\($0.upperBound)" } ?? ""
    return KeyDocumentation(
      name: name, type: Value.typeDescription + bounds, defaultText: defaultValue.map(\.yamlText) ?? "required",
      doc: doc)
  }

  /// The first integer of `value` outside `range`, if any.
  func outOfRange(_ value: Value) -> Int? {
    guard let range, let integers = (value as? ConfigIntegers)?.integers else { return nil }
    return integers.first { !range.contains($0) }
  }
}

extension ConfigKey where Value: ConfigIntegers {
  /// A key whose integers must lie in `range`.
  public init(_ name: String, default defaultValue: Value? = nil, range: ClosedRange<Int>, _ doc: String) {
    self.name = name
    self.defaultValue = defaultValue
    self.doc = doc
    self.range = range
  }
}

/// A key's documentation row.
public struct KeyDocumentation: Equatable, Sendable {
  public var name: String
  public var type: String
  public var defaultText: String
  public var doc: String

  public init(name: String, type: String, defaultText: String, doc: String) {
    self.name = name
    self.type = type
    self.defaultText = defaultText
    self.doc = doc
  }
}
