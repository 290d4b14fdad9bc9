/// Where a dense head's locations sit in the input image: one reference per feature-map cell.
public protocol LocationScheme: Sendable {
  /// The reference of cell `position` (row-major) of `level`, a level `width` cells wide, in input pixels: a point
  /// `(x, y, x, y)` or an anchor box `(x1, y1, x2, y2)`.
  func reference(level: Int, position: Int, width: Int) -> [Float]
}

/// Every location of a batch's feature levels: the level sizes and each location's reference, levels in order and
/// row-major within a level (the order of the head's flattened outputs).
public struct LocationGrid {
  public let levelSizes: [(height: Int, width: Int)]
  /// `references[i]`: the reference of location `i`.
  public let references: [[Float]]
  /// Index of each level's first location.
  public let levelStarts: [Int]

  public init(levelSizes: [(height: Int, width: Int)], scheme: any LocationScheme) {
    self.levelSizes = levelSizes
    references = levelSizes.enumerated().flatMap { level, size in
      (0..<(size.height * size.width)).map { scheme.reference(level: level, position: $0, width: size.width) }
    }
    var starts: [Int] = [], start = 0
    for size in levelSizes {
      starts.append(start)
      start += size.height * size.width
    }
    levelStarts = starts
  }

  /// The grid of a head's outputs: one level per box-regression map `[N, 4, H, W]`.
  public init(_ outputs: HeadOutputs, scheme: any LocationScheme) {
    self.init(levelSizes: outputs.boxRegression.map { ($0.shape[2], $0.shape[3]) }, scheme: scheme)
  }

  public var count: Int { references.count }

  /// The locations of `level`.
  public func locations(ofLevel level: Int) -> Range<Int> {
    levelStarts[level]..<(levelStarts[level] + levelSizes[level].height * levelSizes[level].width)
  }
}
