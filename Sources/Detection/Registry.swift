import Config
import NN
import TensorCore

/// A shared, seeded random source for initialising a whole model from one seed.
public final class RandomSource {
  public var generator: SeededGenerator
  public init(seed: UInt64) { generator = SeededGenerator(seed: seed) }
}

/// What a plugin's builder gets besides its own options: the previous slot's output contract and shared resources.
public struct BuildContext {
  public let random: RandomSource
  /// Output specs of the slot feeding this one (backbone → neck, neck → head); empty for the first slots.
  public var inputSpecs: [FeatureSpec] = []
  /// The text encoder's hidden size, for fusion blocks and heads.
  public var textHiddenSize: Int = 0
  /// Number of head tower blocks; deep fusion initialises its layer scale to 1/blocks.
  public var towerBlocks: Int = 1
  /// Builds one fusion block for a head tower of the given block count (nil when fusion is absent or `late`).
  public var makeFusion: ((_ towerBlocks: Int) throws -> any FusionBlock)?

  public init(random: RandomSource) { self.random = random }
}

/// Documentation of a registered plugin: its name, what it is, and the keys it reads.
public struct PluginInfo: Sendable {
  public let name: String
  public let summary: String
  public let keys: [KeyDocumentation]
  /// Registered by the toolkit itself (`Builtins`) rather than by a user's package.
  public let isBuiltin: Bool
}

/// Errors from plugin registration and lookup.
public struct RegistryError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
}

/// The plugins of one slot, by name. Built-in plugins register in `Experiments/Builtins.swift`; a user's package can
/// register more before assembly.
public final class Registry<Product> {
  public typealias Builder = (ConfigSection, BuildContext) throws -> Product

  public let slot: String
  private var order: [String] = []
  private var entries: [String: (info: PluginInfo, build: Builder)] = [:]

  public init(slot: String) { self.slot = slot }

  public static var typeKey: ConfigKey<String> { ConfigKey("type", "the registered plugin to use") }

  /// Registers `name`; a name already taken is an error.
  public func register(
    _ name: String, summary: String, keys: [KeyDocumentation], builtin: Bool = false, build: @escaping Builder
  ) throws {
    guard entries[name] == nil else {
      throw RegistryError(message: "\(slot) plugin '\(name)' is already registered")
    }
    order.append(name)
    entries[name] = (PluginInfo(name: name, summary: summary, keys: keys, isBuiltin: builtin), build)
  }

  public func contains(_ name: String) -> Bool { entries[name] != nil }
  public var names: [String] { order }
  public var plugins: [PluginInfo] { order.map { entries[$0]!.info } }

  /// Reads the plugin name from `key` of the section (`type` for the model slots) and runs that plugin's builder on
  /// the section.
  public func build(_ section: ConfigSection, context: BuildContext, selectedBy key: ConfigKey<String> = typeKey)
    throws -> Product
  {
    let name = try section.read(key)
    guard let entry = entries[name] else {
      let suggestion = ConfigUsage.closest(name, among: order).map { "did you mean '\($0)'? " } ?? ""
      throw ConfigError(
        "\(section.dottedPath).\(key.name): unknown \(slot) '\(name)'; \(suggestion)registered: "
          + order.joined(separator: ", "),
        at: section.mark(of: key.name))
    }
    return try entry.build(section, context)
  }
}

/// One registry per slot.
public enum Registries {
  public static let backbones = Registry<any Backbone>(slot: "backbone")
  public static let necks = Registry<any Neck>(slot: "neck")
  public static let textEncoders = Registry<any TextEncoder>(slot: "text_encoder")
  public static let fusions = Registry<any FusionBlock>(slot: "fusion")
  public static let heads = Registry<any DenseHead>(slot: "head")
  /// The `classifier` sub-slot of dense heads, selected by the head's `classifier:` key.
  public static let classifiers = Registry<any RegionClassifier>(slot: "classifier")
}
