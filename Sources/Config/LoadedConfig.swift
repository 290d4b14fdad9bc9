import Foundation

/// A config file resolved with its bases and overrides, plus the notes the overrides produced.
public struct LoadedConfig {
  public var path: String
  public var root: ConfigNode
  public var notes: [String]

  /// Loads `path`, merges `_base_` files and applies `--set` overrides.
  public init(path: String, overrides: [String] = []) throws {
    self.path = path
    let parsed = try ConfigLoader.load(path: path)
    (root, notes) = try parsed.applying(try overrides.map(ConfigOverride.init(parsing:)))
  }

  /// A config held as text (a checkpoint's resolved config); `displayPath` names it in errors. The text must be
  /// resolved already: `_base_` is not followed.
  public init(text: String, displayPath: String, overrides: [String] = []) throws {
    path = displayPath
    let parsed = try YAMLParser.parse(text, file: displayPath)
    guard parsed.entries != nil else {
      throw ConfigError("a config must be a mapping at the top level, got \(parsed.kindDescription)", at: parsed.mark)
    }
    (root, notes) = try parsed.applying(try overrides.map(ConfigOverride.init(parsing:)))
  }
}
