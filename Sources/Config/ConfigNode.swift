/// Where a config value came from: file, 1-based line and column.
public struct SourceMark: Equatable, Hashable, Sendable, CustomStringConvertible {
  public var file: String
  public var line: Int
  public var column: Int

  public init(file: String, line: Int, column: Int) {
    self.file = file
    self.line = line
    self.column = column
  }

  /// A value given on the command line rather than in a file.
  public static func commandLine(_ argument: String) -> SourceMark {
    SourceMark(file: "--set \(argument)", line: 0, column: 0)
  }

  public var description: String { line > 0 ? "\(file):\(line):\(column)" : file }
}

/// A config problem with the position it refers to: `configs/x.yaml:12:5: unknown key 'dpeth' in model.backbone`.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
  public var mark: SourceMark?
  public var message: String

  public init(_ message: String, at mark: SourceMark? = nil) {
    self.mark = mark
    self.message = message
  }

  public var description: String { mark.map { "\($0): \(message)" } ?? message }
}

/// Several config problems reported together.
public struct ConfigErrors: Error, CustomStringConvertible {
  public var errors: [ConfigError]
  public init(_ errors: [ConfigError]) { self.errors = errors }
  public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A YAML value with its source position. Mappings keep their key order.
public indirect enum ConfigValue: Equatable, Sendable {
  /// A scalar's text and whether it was quoted (quoted scalars are always strings).
  case scalar(String, quoted: Bool)
  case sequence([ConfigNode])
  case mapping([ConfigEntry])
}

public struct ConfigEntry: Equatable, Sendable {
  public var key: String
  public var keyMark: SourceMark
  public var value: ConfigNode

  public init(key: String, keyMark: SourceMark, value: ConfigNode) {
    self.key = key
    self.keyMark = keyMark
    self.value = value
  }
}

public struct ConfigNode: Equatable, Sendable {
  public var value: ConfigValue
  public var mark: SourceMark

  public init(_ value: ConfigValue, mark: SourceMark) {
    self.value = value
    self.mark = mark
  }

  public static func mapping(_ entries: [ConfigEntry], mark: SourceMark) -> ConfigNode {
    ConfigNode(.mapping(entries), mark: mark)
  }

  public var entries: [ConfigEntry]? {
    if case .mapping(let entries) = value { return entries }
    return nil
  }

  public var items: [ConfigNode]? {
    if case .sequence(let items) = value { return items }
    return nil
  }

  public var scalarText: String? {
    if case .scalar(let text, _) = value { return text }
    return nil
  }

  /// A plain (unquoted) `null`, `~` or empty scalar.
  public var isNull: Bool {
    if case .scalar(let text, let quoted) = value {
      return !quoted && ["", "~", "null", "Null", "NULL"].contains(text)
    }
    return false
  }

  public subscript(key: String) -> ConfigNode? {
    get { entries?.last { $0.key == key }?.value }
    set {
      guard case .mapping(var entries) = value else { return }
      if let index = entries.lastIndex(where: { $0.key == key }) {
        if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
      } else if let newValue {
        entries.append(ConfigEntry(key: key, keyMark: newValue.mark, value: newValue))
      }
      value = .mapping(entries)
    }
  }

  /// The node at a dotted path such as `model.backbone.depth`.
  public func node(at path: [String]) -> ConfigNode? {
    guard let first = path.first else { return self }
    return self[first]?.node(at: Array(path.dropFirst()))
  }

  /// A short human description of the value kind, for type errors.
  public var kindDescription: String {
    switch value {
    case .scalar(let text, _): return "'\(text)'"
    case .sequence: return "a list"
    case .mapping: return "a mapping"
    }
  }
}
