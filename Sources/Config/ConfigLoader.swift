import Foundation

/// Loads a config file: parses it, resolves `_base_` inheritance and applies `--set` overrides.
///
/// `_base_` paths resolve against the file that names them. Bases merge in order, then the file itself; mappings
/// merge key by key, anything else is replaced. `_delete_: true` in a mapping replaces instead of merging.
public enum ConfigLoader {
  public static func load(path: String) throws -> ConfigNode {
    let canonical = try canonicalPath(URL(fileURLWithPath: path).standardizedFileURL.path, display: path, at: nil)
    return try load(path: canonical, displayPath: path, chain: [])
  }

  /// The path with every symlink resolved, so inheritance cycles through links are seen as cycles. A missing file
  /// or a symlink loop is an error naming the path as the user wrote it.
  static func canonicalPath(_ path: String, display: String, at mark: SourceMark?) throws -> String {
    guard let resolved = realpath(path, nil) else {
      let kind = mark == nil ? "config file" : "_base_ file"
      switch errno {
      case ELOOP: throw ConfigError("\(kind) \(display) is a symlink loop", at: mark)
      case ENOENT where mark != nil: throw ConfigError("_base_ file not found: \(display)", at: mark)
      case ENOENT: throw ConfigError("config file not found: \(display)")
      default: throw ConfigError("cannot read \(kind) \(display): \(String(cString: strerror(errno)))", at: mark)
      }
    }
    defer { free(resolved) }
    return String(cString: resolved)
  }

  private static func load(path: String, displayPath: String, chain: [String]) throws -> ConfigNode {
    if chain.contains(path) {
      let cycle = (chain.drop { $0 != path } + [path]).joined(separator: " -> ")
      throw ConfigError("_base_ inheritance cycle: \(cycle)")
    }
    let node = try YAMLParser.parse(file: displayPath)
    guard var entries = node.entries else {
      throw ConfigError("a config file must be a mapping at the top level, got \(node.kindDescription)", at: node.mark)
    }
    guard let baseIndex = entries.firstIndex(where: { $0.key == "_base_" }) else { return stripDeleteMarkers(node) }
    let baseEntry = entries.remove(at: baseIndex)
    let basePaths: [(String, SourceMark)]
    if let text = baseEntry.value.scalarText {
      basePaths = [(text, baseEntry.value.mark)]
    } else if let items = baseEntry.value.items {
      basePaths = try items.map { item in
        guard let text = item.scalarText else { throw ConfigError("_base_ entries must be paths", at: item.mark) }
        return (text, item.mark)
      }
    } else {
      throw ConfigError("_base_ must be a path or a list of paths", at: baseEntry.value.mark)
    }
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
    let displayDirectory = URL(fileURLWithPath: displayPath).deletingLastPathComponent().relativePath
    var merged: ConfigNode?
    for (relative, mark) in basePaths {
      let resolved =
        relative.hasPrefix("/") ? URL(fileURLWithPath: relative) : directory.appendingPathComponent(relative)
      let display = relative.hasPrefix("/") ? relative : normalize(displayDirectory + "/" + relative)
      let absolute = try canonicalPath(resolved.standardizedFileURL.path, display: display, at: mark)
      let base = try load(path: absolute, displayPath: display, chain: chain + [path])
      merged = merged.map { merge($0, base) } ?? base
    }
    let own = ConfigNode(.mapping(entries), mark: node.mark)
    return stripDeleteMarkers(merged.map { merge($0, own) } ?? own)
  }

  /// Collapses `a/./b/../c` to `a/c` for display without resolving symlinks or making it absolute.
  static func normalize(_ path: String) -> String {
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
      if part == "." { continue }
      if part == "..", let last = parts.last, last != ".." { parts.removeLast() } else { parts.append(part) }
    }
    return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
  }

  /// Deep merge: `override`'s mapping keys merge into `base`'s recursively; other values replace.
  public static func merge(_ base: ConfigNode, _ override: ConfigNode) -> ConfigNode {
    guard var baseEntries = base.entries, let overrideEntries = override.entries,
      override["_delete_"]?.scalarText != "true"
    else { return override }
    for entry in overrideEntries {
      if let index = baseEntries.firstIndex(where: { $0.key == entry.key }) {
        baseEntries[index].value = merge(baseEntries[index].value, entry.value)
        baseEntries[index].keyMark = entry.keyMark
      } else {
        baseEntries.append(entry)
      }
    }
    return ConfigNode(.mapping(baseEntries), mark: override.mark)
  }

  static func stripDeleteMarkers(_ node: ConfigNode) -> ConfigNode {
    switch node.value {
    case .mapping(let entries):
      let kept = entries.filter { $0.key != "_delete_" }.map {
        ConfigEntry(key: $0.key, keyMark: $0.keyMark, value: stripDeleteMarkers($0.value))
      }
      return ConfigNode(.mapping(kept), mark: node.mark)
    case .sequence(let items):
      return ConfigNode(.sequence(items.map(stripDeleteMarkers)), mark: node.mark)
    case .scalar:
      return node
    }
  }
}

/// One `--set path.to.key=value` override. The value is parsed as a YAML scalar or flow collection.
public struct ConfigOverride: Equatable {
  public var path: [String]
  public var value: ConfigNode
  public var text: String

  public init(parsing argument: String) throws {
    guard let equals = argument.firstIndex(of: "=") else {
      throw ConfigError("--set expects KEY=VALUE, got '\(argument)'")
    }
    let key = String(argument[..<equals]).trimmingCharacters(in: .whitespaces)
    let valueText = String(argument[argument.index(after: equals)...])
    path = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    guard !key.isEmpty, !path.contains(where: \.isEmpty) else {
      throw ConfigError("--set: malformed key '\(key)' in '\(argument)'")
    }
    let mark = SourceMark.commandLine(argument)
    let parsed = try YAMLParser.parse(valueText.isEmpty ? "''" : valueText, file: "--set \(argument)")
    value = ConfigNode(parsed.value, mark: mark).withMarks(mark)
    text = argument
  }
}

extension ConfigNode {
  /// The same tree with every position replaced (for values from the command line).
  func withMarks(_ mark: SourceMark) -> ConfigNode {
    switch value {
    case .scalar: return ConfigNode(value, mark: mark)
    case .sequence(let items): return ConfigNode(.sequence(items.map { $0.withMarks(mark) }), mark: mark)
    case .mapping(let entries):
      return ConfigNode(
        .mapping(entries.map { ConfigEntry(key: $0.key, keyMark: mark, value: $0.value.withMarks(mark)) }), mark: mark)
    }
  }

  /// Applies overrides in order. Setting `X.type` to a different value resets mapping `X` to `{type: new}` plus the
  /// other keys under `X` set by the same overrides; the returned notes list what each reset dropped.
  public func applying(_ overrides: [ConfigOverride]) throws -> (ConfigNode, notes: [String]) {
    var result = self
    var notes: [String] = []
    for override in overrides where override.path.last == "type" {
      let slotPath = Array(override.path.dropLast())
      guard let slot = node(at: slotPath), let entries = slot.entries, let oldType = slot["type"]?.scalarText,
        oldType != override.value.scalarText
      else { continue }
      let setTogether = Set(
        overrides.filter { $0.path.count > slotPath.count && Array($0.path.prefix(slotPath.count)) == slotPath }
          .map { $0.path[slotPath.count] })
      let dropped = entries.map(\.key).filter { $0 != "type" && !setTogether.contains($0) }
      try result.set(ConfigNode(.mapping([]), mark: override.value.mark), at: slotPath)
      let slotName = slotPath.joined(separator: ".")
      notes.append(
        "\(slotName).type: \(oldType) -> \(override.value.scalarText ?? "?"); reset \(slotName) to the new plugin's "
          + "defaults, dropped: \(dropped.isEmpty ? "(nothing)" : dropped.joined(separator: ", "))")
    }
    for override in overrides { try result.set(override.value, at: override.path) }
    return (result, notes)
  }

  /// Sets the node at `path`, creating intermediate mappings.
  public mutating func set(_ newValue: ConfigNode, at path: [String]) throws {
    guard let first = path.first else {
      self = newValue
      return
    }
    guard entries != nil else {
      throw ConfigError("cannot set '\(first)': the value here is \(kindDescription), not a mapping", at: mark)
    }
    var child = self[first] ?? ConfigNode(.mapping([]), mark: newValue.mark)
    if path.count > 1 && child.entries == nil {
      throw ConfigError(
        "cannot set '\(path.joined(separator: "."))': '\(first)' is \(child.kindDescription), not a mapping",
        at: child.mark)
    }
    try child.set(newValue, at: Array(path.dropFirst()))
    self[first] = child
  }
}
