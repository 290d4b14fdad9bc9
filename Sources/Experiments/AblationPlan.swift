import Config
import Datasets
import Detection
import Foundation
import Training

/// One point of an ablation grid: a name and the overrides that turn the base config into it.
public struct AblationVariant: Equatable {
  public var name: String
  public var overrides: [ConfigOverride]

  public init(name: String, overrides: [ConfigOverride]) {
    self.name = name
    self.overrides = overrides
  }

  /// The name as a directory name: characters other than letters, digits and `._=+-` become `_`.
  public var directoryName: String {
    String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._=+-".contains($0)) ? $0 : "_" })
  }
}

/// An extra validation source of an ablation (`ablation.val`): each is scored after training.
public struct ValidationSource: Equatable {
  /// A registered dataset format's name.
  public var format: String
  public var annotations: String
  public var images: String

  public init(format: String, annotations: String, images: String) {
    self.format = format
    self.annotations = annotations
    self.images = images
  }
}

/// What `glip ablate` runs: a base config, the variants (the product of `--vary` axes and overlay variants) and the
/// seeds. Built from a config's optional `ablation:` section and the command line, which replaces what it names.
///
/// ```yaml
/// ablation:
///   vary: {model.fusion.type: [none, bi_attention]}       # KEY: [V1, V2]; several keys make a grid
///   variants: {r18: {model: {backbone: {type: resnet, depth: 18}}}}   # named overlays (a list of such
///                                                                      # mappings: several axes of the grid)
///   seeds: [0, 1]                                          # each sets model.seed and train.seed
///   val: [{format: odvg, annotations: ..., images: ...}]   # scored besides data.val
/// ```
public struct AblationPlan {
  public enum Keys {
    public static let seeds = ConfigKey<[Int]>(
      "seeds", "seeds; each run sets model.seed and train.seed to its seed (default: the config's train.seed)")
    public static let all: [KeyDocumentation] = [
      KeyDocumentation(
        name: "vary", type: "a mapping", defaultText: "{}",
        doc: "a dotted key to the list of values it takes; several keys make a grid"),
      KeyDocumentation(
        name: "variants", type: "a mapping", defaultText: "{}",
        doc: "a variant name to an overlay merged over the base config; a list of such mappings makes each one an axis "
          + "of the grid (e.g. tasks × fusion)"),
      seeds.documentation,
      KeyDocumentation(
        name: "val", type: "a list of mappings", defaultText: "[]",
        doc: "extra validation sources {format, annotations, images} scored besides data.val"),
    ]
  }

  /// The config section `glip ablate` reads and everything else ignores.
  public static let sectionName = CheckedExperiment.ablationSection

  /// Path of the base config.
  public var configPath: String
  /// The base config: bases merged, `--set` applied, the `ablation:` section removed.
  public var base: LoadedConfig
  public var variants: [AblationVariant]
  /// Explicit seeds, or nil to keep the config's own.
  public var seeds: [Int]?
  public var validation: [ValidationSource]

  public init(
    configPath: String, overrides: [String] = [], vary: [String] = [], variantFiles: [String] = [],
    seeds: [Int]? = nil
  ) throws {
    Builtins.registerAll()
    self.configPath = configPath
    var loaded = try LoadedConfig(path: configPath, overrides: overrides)
    let section = loaded.root[AblationPlan.sectionName]
    loaded.root[AblationPlan.sectionName] = nil
    base = loaded
    let spec = try AblationPlan.readSection(section)
    let axes = vary.isEmpty ? spec.vary : try vary.map(AblationPlan.parseVary)
    let overlays = variantFiles.isEmpty ? spec.variants : [try variantFiles.map(AblationPlan.loadOverlay)]
    variants = try AblationPlan.grid(axes: overlays + axes)
    self.seeds = seeds ?? spec.seeds
    validation = spec.validation
    if let seeds = self.seeds, seeds.isEmpty { throw ConfigError("seeds: expected at least one seed") }
    if let duplicate = Dictionary(grouping: self.seeds ?? [], by: { $0 }).first(where: { $0.value.count > 1 }) {
      throw ConfigError("seed \(duplicate.key) is listed twice")
    }
  }

  /// Every (variant, seed) pair, variants outermost.
  public var runs: [(variant: AblationVariant, seed: Int)] {
    let seedList = seeds ?? [defaultSeed]
    return variants.flatMap { variant in seedList.map { (variant, $0) } }
  }

  /// The base config's `train.seed` (0 when absent).
  public var defaultSeed: Int {
    base.root.node(at: ["train", "seed"]).flatMap(Int.decode) ?? TrainingOptions.Keys.seed.defaultValue ?? 0
  }

  /// The resolved config of one run; `extra` overrides come last.
  public func config(for variant: AblationVariant, seed: Int, extra: [ConfigOverride] = []) throws -> LoadedConfig {
    var overrides = variant.overrides
    if seeds != nil {
      overrides += [
        try AblationPlan.override(["model", "seed"], "\(seed)", origin: "seed \(seed)"),
        try AblationPlan.override(["train", "seed"], "\(seed)", origin: "seed \(seed)"),
      ]
    }
    var loaded = base
    let (root, notes) = try base.root.applying(overrides + extra)
    loaded.root = root
    loaded.notes += notes.map { "\(variant.name): \($0)" }
    return loaded
  }

  /// Assembles every variant from shapes (no weights, no data), so a typo fails before any training. Errors name
  /// the variant and the key's origin (the file and line, or the `--vary` argument).
  public func check() throws -> [(variant: AblationVariant, parameters: Int)] {
    var errors: [ConfigError] = []
    var checked: [(AblationVariant, Int)] = []
    for variant in variants {
      do {
        let experiment = try CheckedExperiment(
          try config(for: variant, seed: (seeds ?? [defaultSeed])[0]), shapesOnly: true)
        checked.append((variant, experiment.detector.parameterCount))
      } catch let error as ConfigErrors {
        errors += error.errors.map { ConfigError("variant \(variant.name): \($0.message)", at: $0.mark) }
      } catch let error as ConfigError {
        errors.append(ConfigError("variant \(variant.name): \(error.message)", at: error.mark))
      } catch {
        errors.append(ConfigError("variant \(variant.name): \(error)"))
      }
    }
    if !errors.isEmpty { throw ConfigErrors(errors) }
    return checked
  }

  /// Whether a config file has an `ablation:` section (`glip config check` then checks every variant).
  public static func isAblation(_ path: String) -> Bool {
    (try? ConfigLoader.load(path: path))?[sectionName] != nil
  }

  // MARK: - Reading the section and the command line

  typealias Axis = [AblationVariant]

  struct Section {
    var vary: [Axis] = []
    /// Overlay axes: one for a mapping of named overlays, one per mapping for a list of them.
    var variants: [Axis] = []
    var seeds: [Int]?
    var validation: [ValidationSource] = []
  }

  static func readSection(_ node: ConfigNode?) throws -> Section {
    var result = Section()
    guard let node, !node.isNull else { return result }
    guard node.entries != nil else {
      throw ConfigError("ablation: expected a mapping, got \(node.kindDescription)", at: node.mark)
    }
    let usage = ConfigUsage()
    let section = ConfigSection(node: node, path: [sectionName], usage: usage)
    if let vary = section.rawNode("vary"), !vary.isNull {
      guard let entries = vary.entries else {
        throw ConfigError(
          "ablation.vary: expected a mapping of KEY: [values], got \(vary.kindDescription)", at: vary.mark)
      }
      result.vary = try entries.map { entry in
        let path = try dottedPath(entry.key, origin: "ablation.vary", mark: entry.keyMark)
        let values = entry.value.items ?? [entry.value]
        guard !values.isEmpty else { throw ConfigError("ablation.vary.\(entry.key): no values", at: entry.value.mark) }
        return try values.map { value in
          AblationVariant(
            name: variantName(path: path, value: value),
            overrides: [try override(path, value: value, text: "ablation.vary \(entry.key)")])
        }
      }
    }
    if let variants = section.rawNode("variants"), !variants.isNull {
      if let axes = variants.items {
        result.variants = try axes.enumerated().map { try overlayAxis($1, origin: "ablation.variants[\($0)]") }
      } else {
        result.variants = [try overlayAxis(variants, origin: "ablation.variants")]
      }
    }
    result.seeds = try section.readOptional(Keys.seeds)
    if let seeds = result.seeds, seeds.isEmpty { throw section.error(Keys.seeds.name, "expected at least one seed") }
    result.validation = try section.sections("val").map { source in
      let annotations = try source.read(DataSource.Keys.annotations)
      guard !annotations.isEmpty else {
        throw ConfigError("\(source.dottedPath): annotations is required", at: source.node?.mark)
      }
      return ValidationSource(
        format: try source.read(DataSource.Keys.format), annotations: annotations,
        images: try source.read(DataSource.Keys.images))
    }
    let unknown = usage.unknownKeys(in: node, under: [sectionName])
    if !unknown.isEmpty { throw ConfigErrors(unknown) }
    return result
  }

  /// `--vary KEY=V1,V2`: one axis; values split at commas outside brackets and quotes, each parsed as YAML.
  public static func parseVary(_ argument: String) throws -> [AblationVariant] {
    guard let equals = argument.firstIndex(of: "=") else {
      throw ConfigError("--vary expects KEY=V1,V2,…, got '\(argument)'")
    }
    let key = String(argument[..<equals]).trimmingCharacters(in: .whitespaces)
    let path = try dottedPath(key, origin: "--vary", mark: nil)
    let values = splitValues(String(argument[argument.index(after: equals)...]))
    guard !values.isEmpty, !values.contains(where: { $0.isEmpty }) else {
      throw ConfigError("--vary \(argument): expected one or more comma-separated values")
    }
    return try values.map { text in
      let mark = SourceMark(file: "--vary \(key)=\(text)", line: 0, column: 0)
      let value = remarked(try YAMLParser.parse(text, file: "--vary \(key)=\(text)"), mark)
      return AblationVariant(
        name: variantName(path: path, value: value), overrides: [try override(path, value: value, text: mark.file)])
    }
  }

  /// An overlay YAML file (`_base_` allowed) as one variant named after the file.
  public static func loadOverlay(_ path: String) throws -> AblationVariant {
    guard FileManager.default.fileExists(atPath: path) else { throw ConfigError("overlay file not found: \(path)") }
    let node = try ConfigLoader.load(path: path)
    let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    return AblationVariant(name: name, overrides: try overlayOverrides(node, origin: path))
  }

  /// Splits `a,[1, 2],'x,y'` into `a`, `[1, 2]`, `'x,y'`.
  static func splitValues(_ text: String) -> [String] {
    var parts: [String] = [], current = "", depth = 0
    var quote: Character?
    for character in text {
      if let open = quote {
        if character == open { quote = nil }
      } else if character == "\"" || character == "'" {
        quote = character
      } else if "[{".contains(character) {
        depth += 1
      } else if "]}".contains(character) {
        depth -= 1
      } else if character == "," && depth == 0 {
        parts.append(current.trimmingCharacters(in: .whitespaces))
        current = ""
        continue
      }
      current.append(character)
    }
    parts.append(current.trimmingCharacters(in: .whitespaces))
    return parts
  }

  /// A mapping of NAME: overlay as one axis of variants.
  static func overlayAxis(_ node: ConfigNode, origin: String) throws -> Axis {
    guard let entries = node.entries else {
      throw ConfigError("\(origin): expected a mapping of NAME: overlay, got \(node.kindDescription)", at: node.mark)
    }
    return try entries.map { entry in
      guard entry.value.entries != nil else {
        throw ConfigError(
          "\(origin).\(entry.key): expected an overlay mapping, got \(entry.value.kindDescription)",
          at: entry.value.mark)
      }
      return AblationVariant(name: entry.key, overrides: try overlayOverrides(entry.value, origin: entry.key))
    }
  }

  /// The product of the axes, the first outermost; names joined with `+`.
  static func grid(axes: [Axis]) throws -> [AblationVariant] {
    var result = [AblationVariant(name: "", overrides: [])]
    for axis in axes where !axis.isEmpty {
      result = result.flatMap { prefix in
        axis.map {
          AblationVariant(
            name: prefix.name.isEmpty ? $0.name : prefix.name + "+" + $0.name,
            overrides: prefix.overrides + $0.overrides)
        }
      }
    }
    if result.count == 1 && result[0].name.isEmpty { result[0].name = "base" }
    var seen: [String: String] = [:]
    for variant in result {
      if let other = seen[variant.directoryName] {
        throw ConfigError(
          "variants '\(other)' and '\(variant.name)' would share the run directory '\(variant.directoryName)'")
      }
      seen[variant.directoryName] = variant.name
    }
    return result
  }

  /// An overlay mapping as leaf overrides, so changing a slot's `type` resets that slot just as `--set` does.
  static func overlayOverrides(_ node: ConfigNode, origin: String) throws -> [ConfigOverride] {
    var result: [ConfigOverride] = []
    func walk(_ node: ConfigNode, _ path: [String]) throws {
      for entry in node.entries ?? [] {
        if entry.key == sectionName && path.isEmpty { continue }
        if let children = entry.value.entries {
          if !children.isEmpty { try walk(entry.value, path + [entry.key]) }
        } else {
          result.append(try override(path + [entry.key], value: entry.value, text: origin))
        }
      }
    }
    try walk(node, [])
    return result
  }

  static func dottedPath(_ key: String, origin: String, mark: SourceMark?) throws -> [String] {
    let path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    guard !key.isEmpty, !path.contains(where: \.isEmpty) else {
      throw ConfigError("\(origin): malformed key '\(key)'", at: mark)
    }
    return path
  }

  /// A short variant name: the key without its section, `=`, the value on one line.
  static func variantName(path: [String], value: ConfigNode) -> String {
    let key = CheckedExperiment.sections.contains(path[0]) && path.count > 1 ? path.dropFirst() : path[...]
    return key.joined(separator: ".") + "=" + ConfigText.inline(value)
  }

  static func override(_ path: [String], value: ConfigNode, text: String) throws -> ConfigOverride {
    var result = try ConfigOverride(parsing: "\(path.joined(separator: "."))=null")
    result.path = path
    result.value = value
    result.text = text
    return result
  }

  static func override(_ path: [String], _ yaml: String, origin: String) throws -> ConfigOverride {
    let mark = SourceMark(file: origin, line: 0, column: 0)
    return try override(path, value: remarked(try YAMLParser.parse(yaml, file: origin), mark), text: origin)
  }

  /// The same tree with every position replaced by `mark`.
  static func remarked(_ node: ConfigNode, _ mark: SourceMark) -> ConfigNode {
    switch node.value {
    case .scalar: return ConfigNode(node.value, mark: mark)
    case .sequence(let items): return ConfigNode(.sequence(items.map { remarked($0, mark) }), mark: mark)
    case .mapping(let entries):
      return ConfigNode(
        .mapping(entries.map { ConfigEntry(key: $0.key, keyMark: mark, value: remarked($0.value, mark)) }), mark: mark)
    }
  }
}

/// Config values as short text, for names, tables and diffs.
public enum ConfigText {
  /// A value on one line: scalars as written, flow lists and mappings.
  public static func inline(_ node: ConfigNode) -> String {
    switch node.value {
    case .scalar(let text, let quoted): return quoted ? "\"\(text)\"" : (text.isEmpty ? "null" : text)
    case .sequence(let items): return "[" + items.map(inline).joined(separator: ", ") + "]"
    case .mapping(let entries):
      return "{" + entries.map { "\($0.key): \(inline($0.value))" }.joined(separator: ", ") + "}"
    }
  }

  /// Every leaf of a tree as `dotted.path → text` (lists are leaves).
  public static func leaves(_ node: ConfigNode, prefix: [String] = []) -> [(key: String, value: String)] {
    guard let entries = node.entries else { return [(prefix.joined(separator: "."), inline(node))] }
    return entries.flatMap { entry -> [(key: String, value: String)] in
      if let children = entry.value.entries, !children.isEmpty {
        return leaves(entry.value, prefix: prefix + [entry.key])
      }
      return [((prefix + [entry.key]).joined(separator: "."), inline(entry.value))]
    }
  }
}
