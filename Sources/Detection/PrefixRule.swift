import Config

/// An anchored key rename of a remap table: `from` must match the start of a key, and that start is replaced by
/// `to`. Integer placeholders map numbered modules onto each other without one rule per index:
///
/// ```yaml
/// prefixes:
///   - {from: "rpn.head.dyhead_tower.{3b+1}.", to: "head.tower.{b}.text_layer."}
///   - {from: "backbone.fpn.fpn_inner{n+2}.", to: "neck.lateral.{n}."}
/// ```
///
/// In `from`, `{b}`, `{3b}` or `{3b+1}` match a decimal index i and bind b = (i − offset) / multiple when that
/// division is exact and b ≥ 0; in `to`, `{b}` or `{b+1}` writes the bound value (plus an offset).
public struct PrefixRule: Equatable, Sendable {
  /// One integer placeholder: `multiple · variable + offset`.
  struct Placeholder: Equatable, Sendable {
    var variable: String
    var multiple: Int
    var offset: Int
  }

  /// A piece of a pattern: literal text or a placeholder.
  enum Piece: Equatable, Sendable {
    case text(String)
    case index(Placeholder)
  }

  public let from: String
  public let to: String
  let source: [Piece]
  let target: [Piece]

  /// Parses both sides; every variable in `to` must be bound in `from`, and `to` takes no multiples.
  public init(from: String, to: String) throws {
    self.from = from
    self.to = to
    source = try PrefixRule.pieces(from)
    target = try PrefixRule.pieces(to)
    let bound = Set(source.compactMap { if case .index(let p) = $0 { return p.variable } else { return nil } })
    for case .index(let placeholder) in target {
      guard bound.contains(placeholder.variable) else {
        throw ConfigError("prefix rule '\(from)' → '\(to)': '{\(placeholder.variable)}' is not bound in 'from'")
      }
      guard placeholder.multiple == 1 else {
        throw ConfigError("prefix rule '\(from)' → '\(to)': 'to' writes an index as {name} or {name+offset}")
      }
    }
  }

  public static func == (lhs: PrefixRule, rhs: PrefixRule) -> Bool { lhs.from == rhs.from && lhs.to == rhs.to }

  /// The key with its matching start rewritten, or nil when the rule does not match the key's start.
  public func apply(_ key: String) -> String? {
    var rest = Substring(key)
    var values: [String: Int] = [:]
    for piece in source {
      switch piece {
      case .text(let literal):
        guard rest.hasPrefix(literal) else { return nil }
        rest = rest.dropFirst(literal.count)
      case .index(let placeholder):
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 9, let index = Int(digits) else { return nil }
        let scaled = index - placeholder.offset
        guard scaled >= 0, scaled % placeholder.multiple == 0 else { return nil }
        let value = scaled / placeholder.multiple
        if let earlier = values[placeholder.variable], earlier != value { return nil }
        values[placeholder.variable] = value
        rest = rest.dropFirst(digits.count)
      }
    }
    let head = target.map { piece -> String in
      switch piece {
      case .text(let literal): return literal
      case .index(let placeholder): return String(values[placeholder.variable]! + placeholder.offset)
      }
    }
    return head.joined() + rest
  }

  /// Splits a pattern into literals and `{[multiple]name[+offset]}` placeholders.
  static func pieces(_ pattern: String) throws -> [Piece] {
    var pieces: [Piece] = []
    var literal = ""
    var index = pattern.startIndex
    while index < pattern.endIndex {
      let character = pattern[index]
      guard character == "{" else {
        literal.append(character)
        index = pattern.index(after: index)
        continue
      }
      guard let close = pattern[index...].firstIndex(of: "}") else {
        throw ConfigError("prefix rule '\(pattern)': '{' without a closing '}'")
      }
      if !literal.isEmpty { pieces.append(.text(literal)) }
      literal = ""
      pieces.append(.index(try placeholder(String(pattern[pattern.index(after: index)..<close]), in: pattern)))
      if case .index = pieces.dropLast().last {
        throw ConfigError("prefix rule '\(pattern)': two placeholders need text between them")
      }
      index = pattern.index(after: close)
    }
    if !literal.isEmpty { pieces.append(.text(literal)) }
    return pieces
  }

  /// `b`, `3b`, `3b+1` or `b+2`.
  static func placeholder(_ text: String, in pattern: String) throws -> Placeholder {
    let parts = text.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)
    let term = parts[0]
    let digits = term.prefix { $0.isASCII && $0.isNumber }
    let variable = String(term.dropFirst(digits.count))
    let multiple = digits.isEmpty ? 1 : Int(digits) ?? 0
    let offset = parts.count == 2 ? Int(parts[1]) : 0
    guard !variable.isEmpty, variable.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "_") }), multiple > 0,
      multiple < 1000, let offset, offset >= 0, offset < 1_000_000
    else {
      throw ConfigError(
        "prefix rule '\(pattern)': '{\(text)}' is not an index placeholder ({name}, {3name} or {3name+1})")
    }
    return Placeholder(variable: variable, multiple: multiple, offset: offset)
  }
}
