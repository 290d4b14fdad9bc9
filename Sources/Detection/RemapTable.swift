import Config
import Foundation
import NN
import TensorCore

/// A checkpoint key-remap table, as data: prefixes to strip, substring renames, and patterns to ignore.
///
/// ```yaml
/// strip_prefixes: ["bert."]
/// renames: [{from: "LayerNorm.gamma", to: "LayerNorm.weight"}]
/// ignore: ["embeddings.position_ids", "pooler.*", "cls.*"]
/// ```
public struct RemapTable: Equatable {
  public enum Keys {
    static let stripPrefixes = ConfigKey<[String]>(
      "strip_prefixes", default: [], "prefixes removed from keys (first match)")
    static let ignore = ConfigKey<[String]>("ignore", default: [], "key patterns (after renaming) that are not loaded")
    static let from = ConfigKey<String>("from", "text to replace in a key")
    static let to = ConfigKey<String>("to", "replacement")
  }

  public var stripPrefixes: [String]
  public var renames: [(from: String, to: String)]
  public var ignore: [String]

  public static func == (lhs: RemapTable, rhs: RemapTable) -> Bool {
    lhs.stripPrefixes == rhs.stripPrefixes && lhs.ignore == rhs.ignore
      && lhs.renames.map { "\($0.from)→\($0.to)" } == rhs.renames.map { "\($0.from)→\($0.to)" }
  }

  /// Parses a table; unknown keys and wrong types are errors with positions.
  public init(yaml text: String, file: String) throws {
    let root = try YAMLParser.parse(text, file: file)
    let usage = ConfigUsage()
    let section = ConfigSection(root: root, usage: usage)
    stripPrefixes = try section.read(Keys.stripPrefixes)
    ignore = try section.read(Keys.ignore)
    renames = try section.sections("renames").map { (try $0.read(Keys.from), try $0.read(Keys.to)) }
    let unknown = usage.unknownKeys(in: root)
    if !unknown.isEmpty { throw ConfigErrors(unknown) }
  }

  public init(file path: String) throws {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      throw ConfigError("cannot read remap table '\(path)'")
    }
    try self.init(yaml: text, file: path)
  }

  /// The model key for a checkpoint key, or nil when the table ignores it.
  public func map(_ key: String) -> String? {
    var mapped = key
    if let prefix = stripPrefixes.first(where: { mapped.hasPrefix($0) }) { mapped.removeFirst(prefix.count) }
    for rename in renames { mapped = mapped.replacingOccurrences(of: rename.from, with: rename.to) }
    return ignore.contains { KeyPattern($0).matches(mapped) } ? nil : mapped
  }

  /// Applies the table to a checkpoint: the tensors to load by model key, and the checkpoint keys it ignored.
  public func apply(_ tensors: [String: Tensor]) -> (mapped: [String: Tensor], ignored: [String]) {
    var mapped: [String: Tensor] = [:]
    var ignored: [String] = []
    for (key, tensor) in tensors {
      if let target = map(key) { mapped[target] = tensor } else { ignored.append(key) }
    }
    return (mapped, ignored.sorted())
  }
}
