import Config
import Foundation
import NN

/// A config file resolved with its bases and overrides, plus the notes the overrides produced.
public struct LoadedConfig {
  public var path: String
  public var root: ConfigNode
  public var notes: [String]

  /// Loads `path`, merges `_base_` files and applies `--set` overrides.
  public init(path: String, overrides: [String] = []) throws {
    guard FileManager.default.fileExists(atPath: path) else { throw ConfigError("config file not found: \(path)") }
    self.path = path
    let parsed = try ConfigLoader.load(path: path)
    (root, notes) = try parsed.applying(try overrides.map(ConfigOverride.init(parsing:)))
  }
}

/// Key patterns written as one string or a list of strings.
public struct KeyPatterns: ConfigDecodable {
  public var patterns: [String]
  public static var typeDescription: String { "a pattern or a list of patterns" }
  public static func decode(_ node: ConfigNode) -> KeyPatterns? {
    if let single = String.decode(node) { return KeyPatterns(patterns: [single]) }
    return [String].decode(node).map { KeyPatterns(patterns: $0) }
  }
  public var yamlText: String { patterns.yamlText }
}

/// The `train` keys that shape which parameters learn: GLIP's tuning mode, extra patterns and parameter groups.
public struct TuningOptions {
  public enum Keys {
    public static let mode = ConfigKey<TuningMode>("mode", default: .full, "tuning preset: which parameters train")
    public static let freeze = ConfigKey<[String]>("freeze", default: [], "key patterns to freeze after the preset")
    public static let unfreeze = ConfigKey<[String]>("unfreeze", default: [], "key patterns to unfreeze after freezing")
    public static let match = ConfigKey<KeyPatterns>("match", "key patterns of the group (a string or a list)")
    public static let lrMult = ConfigKey<Float>("lr_mult", default: 1, "learning-rate multiplier of the group")
    public static let decayMult = ConfigKey<Float>("decay_mult", default: 1, "weight-decay multiplier of the group")
    public static let all: [KeyDocumentation] = [
      mode.documentation, freeze.documentation, unfreeze.documentation,
      KeyDocumentation(
        name: "param_groups", type: "a list of mappings", defaultText: "[]",
        doc: "per-pattern multipliers: [{match, lr_mult, decay_mult}]; the first matching group wins"),
    ]
    public static let groupKeys: [KeyDocumentation] = [
      match.documentation, lrMult.documentation, decayMult.documentation,
    ]
  }

  public var mode: TuningMode
  public var freeze: [String]
  public var unfreeze: [String]
  public var parameterGroups: [ParameterGroupRule]

  public init(_ train: ConfigSection) throws {
    mode = try train.read(Keys.mode)
    freeze = try train.read(Keys.freeze)
    unfreeze = try train.read(Keys.unfreeze)
    parameterGroups = try train.sections("param_groups").map { group in
      ParameterGroupRule(
        match: try group.read(Keys.match).patterns, lrMult: try group.read(Keys.lrMult),
        decayMult: try group.read(Keys.decayMult))
    }
  }

  /// Applies the preset and patterns; errors name the config position of the offending list.
  public func apply(to model: Module, train: ConfigSection) throws {
    do {
      try mode.apply(to: model, freeze: freeze, unfreeze: unfreeze)
    } catch let error as ModuleError {
      let key = freeze.contains { error.description.contains("'\($0)'") } ? "freeze" : "unfreeze"
      throw train.error(key, error.description)
    }
    for (index, group) in parameterGroups.enumerated() {
      do {
        _ = try model.parameters(matching: group.patterns)
      } catch {
        throw ConfigError(
          "train.param_groups[\(index)].match: \(error)", at: train.node?["param_groups"]?.items?[index].mark)
      }
    }
  }
}

/// Everything `glip config check` verifies: the model assembles (from shapes), the training options apply to it,
/// and no key is left unread.
public struct CheckedExperiment {
  public static let sections = ["model", "data", "train", "eval"]

  public let detector: GroundingDetector
  public let tuning: TuningOptions

  public init(_ config: LoadedConfig, shapesOnly: Bool = true) throws {
    let usage = ConfigUsage()
    let root = ConfigSection(root: config.root, usage: usage)
    var sections: [String: ConfigSection] = [:]
    for name in CheckedExperiment.sections { sections[name] = try root.section(name) }
    guard sections["model"]?.node != nil else { throw ConfigError("\(config.path): no 'model' section") }
    detector = try Assembler.assemble(sections["model"]!, shapesOnly: shapesOnly)
    tuning = try TuningOptions(sections["train"]!)
    try tuning.apply(to: detector, train: sections["train"]!)
    let unknown = usage.unknownKeys(in: config.root)
    if !unknown.isEmpty { throw ConfigErrors(unknown) }
  }
}
