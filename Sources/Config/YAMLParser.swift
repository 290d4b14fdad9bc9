import CYAML
import Foundation

/// Limits on a YAML file's shape, so a hostile config fails with a message instead of exhausting the stack (deep
/// nesting) or memory (aliases that expand exponentially, "billion laughs").
public struct YAMLLimits: Sendable {
  /// The deepest nesting of mappings and sequences; `GLIP_MAX_YAML_DEPTH` overrides the default of 256.
  public var maxDepth: Int
  /// The most values the document may hold once every alias is expanded; `GLIP_MAX_YAML_NODES` overrides the
  /// default of 1,000,000.
  public var maxNodes: Int

  public init(maxDepth: Int = 256, maxNodes: Int = 1_000_000) {
    self.maxDepth = maxDepth
    self.maxNodes = maxNodes
  }

  /// The defaults, or the values of the environment variables when set to positive integers.
  public static var current: YAMLLimits {
    let environment = ProcessInfo.processInfo.environment
    func value(_ name: String) -> Int? { environment[name].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil } }
    let defaults = YAMLLimits()
    return YAMLLimits(
      maxDepth: value("GLIP_MAX_YAML_DEPTH") ?? defaults.maxDepth,
      maxNodes: value("GLIP_MAX_YAML_NODES") ?? defaults.maxNodes)
  }
}

/// Parses YAML text with the system libyaml into `ConfigNode`s that keep source positions.
///
/// Supports block and flow styles, anchors and aliases, and `<<` merge keys. One document per file. Documents beyond
/// `YAMLLimits` are refused.
public enum YAMLParser {
  public static func parse(file path: String, limits: YAMLLimits = .current) throws -> ConfigNode {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ConfigError("cannot read config file '\(path)'")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw ConfigError("config file '\(path)' is not valid UTF-8")
    }
    return try parse(text, file: path, limits: limits)
  }

  /// Parses `text`; `file` names it in positions and errors. An empty document is an empty mapping.
  public static func parse(_ text: String, file: String, limits: YAMLLimits = .current) throws -> ConfigNode {
    var parser = yaml_parser_t()
    guard yaml_parser_initialize(&parser) == 1 else { throw ConfigError("libyaml could not be initialised") }
    defer { yaml_parser_delete(&parser) }
    let bytes = Array(text.utf8)
    return try bytes.withUnsafeBufferPointer { buffer in
      yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
      var builder = TreeBuilder(file: file, limits: limits)
      while true {
        var event = yaml_event_t()
        guard yaml_parser_parse(&parser, &event) == 1 else { throw parserError(parser, file: file) }
        defer { yaml_event_delete(&event) }
        if event.type == YAML_STREAM_END_EVENT { break }
        try builder.handle(event)
      }
      return builder.root ?? ConfigNode(.mapping([]), mark: SourceMark(file: file, line: 1, column: 1))
    }
  }

  private static func parserError(_ parser: yaml_parser_t, file: String) -> ConfigError {
    let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
    let context = parser.context.map { String(cString: $0) + ": " } ?? ""
    let mark = SourceMark(file: file, line: parser.problem_mark.line + 1, column: parser.problem_mark.column + 1)
    return ConfigError("invalid YAML: \(context)\(problem)", at: mark)
  }
}

/// Turns the libyaml event stream into a node tree.
private struct TreeBuilder {
  enum Frame {
    case sequence(items: [ConfigNode], mark: SourceMark, anchor: String?)
    case mapping(
      entries: [ConfigEntry], merges: [ConfigNode], key: (String, SourceMark)?, mark: SourceMark, anchor: String?)
  }

  let file: String
  let limits: YAMLLimits
  var stack: [Frame] = []
  /// Values under each open frame, aliases counted at their expanded size.
  var frameSizes: [Int] = []
  var anchors: [String: (node: ConfigNode, size: Int)] = [:]
  var root: ConfigNode?
  var documents = 0
  /// Values in the document so far, aliases counted at their expanded size.
  var expandedSize = 0

  init(file: String, limits: YAMLLimits) {
    self.file = file
    self.limits = limits
  }

  mutating func open(_ frame: Frame, at position: SourceMark) throws {
    guard stack.count < limits.maxDepth else {
      throw ConfigError(
        "mappings and lists nest deeper than \(limits.maxDepth) levels (raise the limit with GLIP_MAX_YAML_DEPTH)",
        at: position)
    }
    stack.append(frame)
    frameSizes.append(0)
  }

  mutating func count(_ size: Int, at position: SourceMark) throws {
    expandedSize += size
    guard expandedSize <= limits.maxNodes else {
      throw ConfigError(
        "the document expands to more than \(limits.maxNodes) values through its aliases (raise the limit with "
          + "GLIP_MAX_YAML_NODES)", at: position)
    }
  }

  func mark(_ raw: yaml_mark_t) -> SourceMark { SourceMark(file: file, line: raw.line + 1, column: raw.column + 1) }

  static func string(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
    pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
  }

  mutating func handle(_ event: yaml_event_t) throws {
    let position = mark(event.start_mark)
    switch event.type {
    case YAML_DOCUMENT_START_EVENT:
      documents += 1
      if documents > 1 { throw ConfigError("a config file holds one YAML document; found a second", at: position) }
    case YAML_SCALAR_EVENT:
      let scalar = event.data.scalar
      let text = String(
        decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
      let quoted =
        scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE || scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE
        || scalar.style == YAML_LITERAL_SCALAR_STYLE || scalar.style == YAML_FOLDED_SCALAR_STYLE
      let node = ConfigNode(.scalar(text, quoted: quoted), mark: position)
      if let anchor = TreeBuilder.string(scalar.anchor) { anchors[anchor] = (node, 1) }
      try count(1, at: position)
      try add(node, size: 1, isKeyCandidate: true)
    case YAML_ALIAS_EVENT:
      let name = TreeBuilder.string(event.data.alias.anchor) ?? ""
      guard let (node, size) = anchors[name] else { throw ConfigError("unknown alias '*\(name)'", at: position) }
      try count(size, at: position)
      try add(node, size: size, isKeyCandidate: false)
    case YAML_SEQUENCE_START_EVENT:
      try open(
        .sequence(items: [], mark: position, anchor: TreeBuilder.string(event.data.sequence_start.anchor)),
        at: position)
    case YAML_MAPPING_START_EVENT:
      try open(
        .mapping(
          entries: [], merges: [], key: nil, mark: position, anchor: TreeBuilder.string(event.data.mapping_start.anchor)
        ), at: position)
    case YAML_SEQUENCE_END_EVENT:
      let size = frameSizes.removeLast() + 1
      guard case .sequence(let items, let start, let anchor) = stack.removeLast() else { return }
      let node = ConfigNode(.sequence(items), mark: start)
      if let anchor { anchors[anchor] = (node, size) }
      try count(1, at: position)
      try add(node, size: size, isKeyCandidate: false)
    case YAML_MAPPING_END_EVENT:
      let size = frameSizes.removeLast() + 1
      guard case .mapping(let entries, let merges, _, let start, let anchor) = stack.removeLast() else { return }
      let node = ConfigNode(.mapping(try TreeBuilder.applyMerges(entries, merges)), mark: start)
      if let anchor { anchors[anchor] = (node, size) }
      try count(1, at: position)
      try add(node, size: size, isKeyCandidate: false)
    default:
      break
    }
  }

  /// `<<: *base` entries fill in keys the mapping does not set itself; earlier merge sources win.
  static func applyMerges(_ entries: [ConfigEntry], _ merges: [ConfigNode]) throws -> [ConfigEntry] {
    var result = entries
    var present = Set(entries.map(\.key))
    for source in merges {
      let sources = source.items ?? [source]
      for mapping in sources {
        guard let merged = mapping.entries else {
          throw ConfigError("a '<<' merge key needs a mapping or a list of mappings", at: mapping.mark)
        }
        for entry in merged where present.insert(entry.key).inserted { result.append(entry) }
      }
    }
    return result
  }

  mutating func add(_ node: ConfigNode, size: Int, isKeyCandidate: Bool) throws {
    guard let top = stack.popLast() else {
      root = node
      return
    }
    frameSizes[frameSizes.count - 1] += size
    switch top {
    case .sequence(var items, let mark, let anchor):
      items.append(node)
      stack.append(.sequence(items: items, mark: mark, anchor: anchor))
    case .mapping(var entries, var merges, let key, let mark, let anchor):
      if let (keyText, keyMark) = key {
        if keyText == "<<" {
          merges.append(node)
        } else {
          if entries.contains(where: { $0.key == keyText }) {
            throw ConfigError("duplicate key '\(keyText)'", at: keyMark)
          }
          entries.append(ConfigEntry(key: keyText, keyMark: keyMark, value: node))
        }
        stack.append(.mapping(entries: entries, merges: merges, key: nil, mark: mark, anchor: anchor))
      } else {
        guard isKeyCandidate, let text = node.scalarText else {
          throw ConfigError("mapping keys must be plain scalars", at: node.mark)
        }
        stack.append(.mapping(entries: entries, merges: merges, key: (text, node.mark), mark: mark, anchor: anchor))
      }
    }
  }
}
