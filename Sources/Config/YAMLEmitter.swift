import Foundation

/// Writes a config tree back out as block-style YAML (mappings in their order, scalar lists in flow style).
public enum YAMLEmitter {
  public static func emit(_ node: ConfigNode) -> String {
    var lines: [String] = []
    emitMapping(node, indent: 0, into: &lines)
    return lines.joined(separator: "\n") + "\n"
  }

  private static func emitMapping(_ node: ConfigNode, indent: Int, into lines: inout [String]) {
    let pad = String(repeating: " ", count: indent)
    for entry in node.entries ?? [] {
      let key = scalar(entry.key)
      switch entry.value.value {
      case .mapping(let entries) where !entries.isEmpty:
        lines.append("\(pad)\(key):")
        emitMapping(entry.value, indent: indent + 2, into: &lines)
      case .sequence(let items) where items.contains(where: { $0.entries != nil || $0.items != nil }):
        lines.append("\(pad)\(key):")
        emitSequence(items, indent: indent + 2, into: &lines)
      default:
        lines.append("\(pad)\(key): \(inline(entry.value))")
      }
    }
  }

  private static func emitSequence(_ items: [ConfigNode], indent: Int, into lines: inout [String]) {
    let pad = String(repeating: " ", count: indent)
    for item in items {
      if item.entries != nil, !(item.entries ?? []).isEmpty {
        var nested: [String] = []
        emitMapping(item, indent: indent + 2, into: &nested)
        if let first = nested.first {
          lines.append(pad + "- " + first.dropFirst(indent + 2))
          lines += nested.dropFirst()
        }
      } else {
        lines.append("\(pad)- \(inline(item))")
      }
    }
  }

  /// A value on one line: scalars, flow lists and flow mappings.
  static func inline(_ node: ConfigNode) -> String {
    switch node.value {
    case .scalar(let text, let quoted): return quoted ? quote(text) : (text.isEmpty ? "null" : text)
    case .sequence(let items): return "[" + items.map(inline).joined(separator: ", ") + "]"
    case .mapping(let entries):
      return "{" + entries.map { "\(scalar($0.key)): \(inline($0.value))" }.joined(separator: ", ") + "}"
    }
  }

  /// A string as a YAML scalar, quoted when it would otherwise read as something else.
  public static func scalar(_ text: String) -> String {
    let plainSafe =
      !text.isEmpty && text.range(of: #"^[A-Za-z_./][A-Za-z0-9_./\- ]*$"#, options: .regularExpression) != nil
      && !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(text.lowercased()) && !text.hasSuffix(" ")
    return plainSafe ? text : quote(text)
  }

  static func quote(_ text: String) -> String {
    "\""
      + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
      .replacingOccurrences(of: "\n", with: "\\n") + "\""
  }
}
