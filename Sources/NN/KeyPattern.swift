import Foundation

/// Glob patterns over dotted parameter keys: `*` matches any run of characters (dots included), `?` one character,
/// and `[0-2]` a character class, as in `backbone.*`, `*.bias` or `head.tower.[0-2].*`.
public struct KeyPattern: CustomStringConvertible, Hashable {
  public let pattern: String

  public init(_ pattern: String) { self.pattern = pattern }

  public func matches(_ key: String) -> Bool { fnmatch(pattern, key, 0) == 0 }

  public var description: String { pattern }

  /// The keys most similar to the pattern, for "did you mean" messages.
  public func closeMatches(in keys: [String], limit: Int = 3) -> [String] {
    let literal = pattern.replacingOccurrences(of: "*", with: "")
    let candidates = Set(keys.flatMap { KeyPattern.prefixes(of: $0) })
    return candidates.map { ($0, KeyPattern.editDistance(literal, $0)) }
      .sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
      .prefix(limit).map { $0.0 }
  }

  /// "a.b.c" → ["a", "a.b", "a.b.c"], so a pattern for a sub-tree is compared with sub-tree names.
  static func prefixes(of key: String) -> [String] {
    let parts = key.split(separator: ".")
    return parts.indices.map { parts[...$0].joined(separator: ".") }
  }

  /// Levenshtein distance over Unicode scalars.
  public static func editDistance(_ lhs: String, _ rhs: String) -> Int {
    let a = Array(lhs.unicodeScalars), b = Array(rhs.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
      current[0] = i
      for j in 1...b.count {
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
      }
      swap(&previous, &current)
    }
    return previous[b.count]
  }
}
