import Foundation

/// Records which keys of a config tree were read, so unread keys can be reported as unknown.
public final class ConfigUsage {
  /// Dotted paths read as values (leaves or whole subtrees).
  private(set) var consumed: Set<String> = []
  /// For each mapping path, the keys components asked for (present or not): the vocabulary for "did you mean".
  private(set) var known: [String: Set<String>] = [:]

  public init() {}

  /// The keys components asked for in the mapping at a dotted path.
  public func askedKeys(at path: String) -> Set<String> { known[path] ?? [] }

  func consume(_ path: [String]) { consumed.insert(path.joined(separator: ".")) }

  func ask(_ key: String, in path: [String]) { known[path.joined(separator: "."), default: []].insert(key) }

  /// Every key in `root` that no component read, with a suggestion among the keys asked for at that level.
  public func unknownKeys(in root: ConfigNode, under prefix: [String] = []) -> [ConfigError] {
    guard let entries = root.entries else { return [] }
    var errors: [ConfigError] = []
    for entry in entries {
      let path = prefix + [entry.key]
      if consumed.contains(path.joined(separator: ".")) { continue }
      let askedHere = known[prefix.joined(separator: ".")] ?? []
      if askedHere.contains(entry.key) {
        if let items = entry.value.items {
          for (index, item) in items.enumerated() {
            errors += unknownKeys(in: item, under: prefix + ["\(entry.key)[\(index)]"])
          }
        } else {
          errors += unknownKeys(in: entry.value, under: path)
        }
        continue
      }
      let location = prefix.isEmpty ? "at the top level" : "in \(prefix.joined(separator: "."))"
      let suggestion = ConfigUsage.didYouMean(entry.key, among: askedHere)
      errors.append(ConfigError("unknown key '\(entry.key)' \(location)\(suggestion)", at: entry.keyMark))
    }
    return errors
  }

  /// ` (did you mean 'x'?)` for the nearest candidate (see `closest`), or "" when none is near: the tail of an
  /// "unknown name" message.
  public static func didYouMean(_ word: String, among candidates: some Sequence<String>) -> String {
    closest(word, among: candidates).map { " (did you mean '\($0)'?)" } ?? ""
  }

  /// The nearest candidate within an edit distance of max(2, a third of the word), if any.
  public static func closest(_ word: String, among candidates: some Sequence<String>) -> String? {
    let limit = max(2, word.count / 3)
    return candidates.map { ($0, editDistance(word, $0)) }.filter { $0.1 <= limit }
      .min { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }?.0
  }

  static func editDistance(_ lhs: String, _ rhs: String) -> Int {
    let a = Array(lhs), b = Array(rhs)
    if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
    var previous = Array(0...b.count)
    var current = previous
    for i in 1...a.count {
      current[0] = i
      for j in 1...b.count {
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
      }
      swap(&previous, &current)
    }
    return previous[b.count]
  }
}

/// A view of one mapping in a config tree that reads typed values and records what it read.
///
/// ```swift
/// let depth = try options.read(ResNet.Keys.depth)      // default used when absent
/// let weights: String? = try options.readOptional(ResNet.Keys.weights)
/// ```
public struct ConfigSection {
  public let node: ConfigNode?
  public let path: [String]
  public let usage: ConfigUsage

  public init(node: ConfigNode?, path: [String], usage: ConfigUsage) {
    self.node = node
    self.path = path
    self.usage = usage
  }

  /// The root of a loaded config.
  public init(root: ConfigNode, usage: ConfigUsage = ConfigUsage()) {
    self.init(node: root, path: [], usage: usage)
  }

  public var dottedPath: String { path.joined(separator: ".") }

  func qualified(_ key: String) -> String { (path + [key]).joined(separator: ".") }

  /// Whether the key is present (and not null). Counts as asking for it.
  public func contains(_ key: String) -> Bool {
    usage.ask(key, in: path)
    return node?[key].map { !$0.isNull } ?? false
  }

  /// The raw node of a key, marked as read in full.
  public func rawNode(_ key: String) -> ConfigNode? {
    usage.ask(key, in: path)
    guard let child = node?[key] else { return nil }
    usage.consume(path + [key])
    return child
  }

  /// Reads a key, falling back to its default; a missing required key or a wrong type is an error with position.
  public func read<Value: ConfigDecodable>(_ key: ConfigKey<Value>) throws -> Value {
    if let value = try readOptional(key) { return value }
    if let fallback = key.defaultValue { return fallback }
    throw ConfigError("missing required key '\(qualified(key.name))' (\(key.doc))", at: node?.mark)
  }

  /// Reads a key that may be absent or null; the default is not applied.
  public func readOptional<Value: ConfigDecodable>(_ key: ConfigKey<Value>) throws -> Value? {
    usage.ask(key.name, in: path)
    guard let child = node?[key.name], !child.isNull else { return nil }
    usage.consume(path + [key.name])
    guard let value = Value.decode(child) else {
      throw ConfigError(
        "\(qualified(key.name)): expected \(Value.typeDescription), got \(child.kindDescription)", at: child.mark)
    }
    if let outlier = key.outOfRange(value), let range = key.range {
      throw ConfigError(
        "\(qualified(key.name)): \(outlier) is outside the allowed range \(range.lowerBound)…\(range.upperBound)",
        at: child.mark)
    }
    return value
  }

  /// A nested mapping (absent reads as empty). A present non-mapping is an error.
  public func section(_ key: String) throws -> ConfigSection {
    usage.ask(key, in: path)
    guard let child = node?[key], !child.isNull else {
      return ConfigSection(node: nil, path: path + [key], usage: usage)
    }
    guard child.entries != nil else {
      throw ConfigError("\(qualified(key)): expected a mapping, got \(child.kindDescription)", at: child.mark)
    }
    return ConfigSection(node: child, path: path + [key], usage: usage)
  }

  /// A list of mappings, each as a section (e.g. `param_groups`).
  public func sections(_ key: String) throws -> [ConfigSection] {
    usage.ask(key, in: path)
    guard let child = node?[key], !child.isNull else { return [] }
    guard let items = child.items else {
      throw ConfigError("\(qualified(key)): expected a list of mappings, got \(child.kindDescription)", at: child.mark)
    }
    return try items.enumerated().map { index, item in
      guard item.entries != nil else {
        throw ConfigError("\(qualified(key))[\(index)]: expected a mapping, got \(item.kindDescription)", at: item.mark)
      }
      return ConfigSection(node: item, path: path + ["\(key)[\(index)]"], usage: usage)
    }
  }

  /// Position of a key's value, or of this mapping, for errors raised by components.
  public func mark(of key: String) -> SourceMark? { node?[key]?.mark ?? node?.mark }

  /// An error about a key's value, placed at its position.
  public func error(_ key: String, _ message: String) -> ConfigError {
    ConfigError("\(qualified(key)): \(message)", at: mark(of: key))
  }
}
