import Config
import Foundation

/// A named subset of a COCO validation set's categories whose metrics are reported beside the overall ones, as
/// LVIS reports rare, common and frequent categories apart: `data.val.category_groups: {rare: [purple star, …]}`
/// or `glip eval --group rare="purple star,green ring"`.
public struct CategoryGroup: Equatable, Sendable {
  public var name: String
  /// Category names as the annotation file spells them.
  public var categories: [String]

  public init(name: String, categories: [String]) {
    self.name = name
    self.categories = categories
  }

  /// `NAME=CATEGORY,CATEGORY,…` as `glip eval --group` takes it; nil when the text is not of that form.
  public init?(argument: String) {
    let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      .map { $0.trimmingCharacters(in: .whitespaces) }
    guard parts.count == 2, !parts[0].isEmpty else { return nil }
    let categories = parts[1].split(separator: ",", omittingEmptySubsequences: false)
      .map { $0.trimmingCharacters(in: .whitespaces) }
    guard !categories.contains(where: \.isEmpty) else { return nil }
    self.init(name: parts[0], categories: categories)
  }

  /// The `category_groups` mapping of a validation source: each key a group name, each value a list of category
  /// names.
  static func read(_ section: ConfigSection, key: String) throws -> [CategoryGroup] {
    guard let node = section.rawNode(key), !node.isNull else { return [] }
    guard let entries = node.entries else {
      throw section.error(key, "expected a mapping of group names to lists of category names")
    }
    return try entries.map { entry in
      guard let items = entry.value.items, !items.isEmpty else {
        throw ConfigError(
          "\(section.dottedPath).\(key).\(entry.key): expected a non-empty list of category names", at: entry.value.mark
        )
      }
      let names = try items.map { item in
        guard let text = item.scalarText, !text.isEmpty else {
          throw ConfigError(
            "\(section.dottedPath).\(key).\(entry.key): expected category names, got \(item.kindDescription)",
            at: item.mark)
        }
        return text
      }
      return CategoryGroup(name: entry.key, categories: names)
    }
  }

  /// The ids of the group's categories among `categories` (id, name); an unknown name is an error that names the
  /// closest category.
  public func ids(in categories: [(id: Int, name: String)], file: String) throws -> [Int] {
    try self.categories.map { name in
      guard let match = categories.first(where: { $0.name == name }) else {
        let hint = ConfigUsage.didYouMean(name, among: categories.map(\.name))
        throw DatasetError(
          path: file, record: nil,
          reason: "category group '\(self.name)' names '\(name)', which is not a category\(hint)")
      }
      return match.id
    }
  }
}
