import Config
import Foundation
import NN
import TensorCore

/// A checkpoint key-remap table, as data: prefixes to strip, anchored prefix rules, substring renames, and patterns
/// to ignore, applied in that order.
///
/// ```yaml
/// strip_prefixes: ["bert."]
/// prefixes: [{from: "rpn.head.dyhead_tower.{3b+1}.", to: "head.tower.{b}.text_layer."}]
/// renames: [{from: "LayerNorm.gamma", to: "LayerNorm.weight"}]
/// ignore: ["embeddings.position_ids", "pooler.*", "cls.*"]
/// transforms: [{match: "*.downsample.reduction.weight", reorder_blocks: [0, 2, 1, 3], axis: 1, deinterleave: true}]
/// ```
/// A key is rewritten by the first `prefixes` rule whose `from` matches its start (see `PrefixRule`), so one rule
/// never rewrites another's output or a key that merely contains its text; `renames` then replace text anywhere in
/// the key, in order. A transform splits the matched tensor along `axis` into as many equal blocks as `reorder_blocks` lists and puts
/// them in that order. With `deinterleave`, the axis is first read as `[C, blocks]` (block index fastest, as
/// `nn.Unfold` lays out MMDetection's Swin patch merging) and regrouped into `[blocks, C]`.
public struct RemapTable: Equatable {
  public enum Keys {
    static let stripPrefixes = ConfigKey<[String]>(
      "strip_prefixes", default: [], "prefixes removed from keys (first match)")
    static let ignore = ConfigKey<[String]>("ignore", default: [], "key patterns (after renaming) that are not loaded")
    static let from = ConfigKey<String>("from", "text to replace in a key (prefixes: the key's start)")
    static let to = ConfigKey<String>("to", "replacement")
    static let match = ConfigKey<String>("match", "key pattern (after renaming) the transform applies to")
    static let reorderBlocks = ConfigKey<[Int]>("reorder_blocks", "new order of equal blocks along the axis")
    static let axis = ConfigKey<Int>("axis", default: 0, "axis split into blocks")
    static let deinterleave = ConfigKey<Bool>(
      "deinterleave", default: false, "read the axis as [C, blocks] (interleaved) before reordering")
  }

  /// A per-key tensor transform.
  public struct Transform: Equatable {
    public var match: String
    public var order: [Int]
    public var axis: Int
    public var deinterleave: Bool

    func apply(_ tensor: Tensor, key: String) throws -> Tensor {
      let axis = self.axis < 0 ? self.axis + tensor.rank : self.axis
      guard axis >= 0 && axis < tensor.rank, tensor.shape[axis] % order.count == 0 else {
        throw ConfigError(
          "remap transform on '\(key)': axis \(self.axis) of \(tensor.shape) does not split into \(order.count) blocks")
      }
      var grouped = tensor
      if deinterleave {
        let (before, after) = (Array(tensor.shape[..<axis]), Array(tensor.shape[(axis + 1)...]))
        let width = tensor.shape[axis] / order.count
        grouped = tensor.reshaped(before + [width, order.count] + after).transposed(axis, axis + 1)
          .reshaped(tensor.shape)
      }
      let blocks = grouped.chunk(order.count, axis: axis)
      return Tensor.concat(order.map { blocks[$0] }, axis: axis)
    }
  }

  public var stripPrefixes: [String]
  public var prefixes: [PrefixRule]
  public var renames: [(from: String, to: String)]
  public var ignore: [String]
  public var transforms: [Transform]

  public static func == (lhs: RemapTable, rhs: RemapTable) -> Bool {
    lhs.stripPrefixes == rhs.stripPrefixes && lhs.prefixes == rhs.prefixes && lhs.ignore == rhs.ignore
      && lhs.renames.map { "\($0.from)→\($0.to)" } == rhs.renames.map { "\($0.from)→\($0.to)" }
      && lhs.transforms == rhs.transforms
  }

  /// Parses a table; unknown keys and wrong types are errors with positions.
  public init(yaml text: String, file: String) throws {
    let root = try YAMLParser.parse(text, file: file)
    let usage = ConfigUsage()
    let section = ConfigSection(root: root, usage: usage)
    stripPrefixes = try section.read(Keys.stripPrefixes)
    ignore = try section.read(Keys.ignore)
    prefixes = try section.sections("prefixes").map { rule in
      do {
        return try PrefixRule(from: try rule.read(Keys.from), to: try rule.read(Keys.to))
      } catch let error as ConfigError where error.mark == nil {
        throw ConfigError(error.message, at: rule.node?.mark)
      }
    }
    renames = try section.sections("renames").map { (try $0.read(Keys.from), try $0.read(Keys.to)) }
    transforms = try section.sections("transforms").map { entry in
      let order = try entry.read(Keys.reorderBlocks)
      guard Set(order) == Set(0..<order.count) else {
        throw entry.error("reorder_blocks", "expected a permutation of 0…\(order.count - 1), got \(order)")
      }
      return Transform(
        match: try entry.read(Keys.match), order: order, axis: try entry.read(Keys.axis),
        deinterleave: try entry.read(Keys.deinterleave))
    }
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
    if let renamed = prefixes.lazy.compactMap({ $0.apply(mapped) }).first { mapped = renamed }
    for rename in renames { mapped = mapped.replacingOccurrences(of: rename.from, with: rename.to) }
    return ignore.contains { KeyPattern($0).matches(mapped) } ? nil : mapped
  }

  /// Applies the table to a checkpoint: the tensors to load by model key, and the checkpoint keys it ignored.
  public func apply(_ tensors: [String: Tensor]) throws -> (mapped: [String: Tensor], ignored: [String]) {
    var mapped: [String: Tensor] = [:]
    var ignored: [String] = []
    for (key, tensor) in tensors {
      guard let target = map(key) else {
        ignored.append(key)
        continue
      }
      var value = tensor
      for transform in transforms where KeyPattern(transform.match).matches(target) {
        value = try transform.apply(value, key: target)
      }
      mapped[target] = value
    }
    return (mapped, ignored.sorted())
  }
}
