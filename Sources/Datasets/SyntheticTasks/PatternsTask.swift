import Foundation
import Imaging
import TensorCore

/// A fill pattern of the `patterns` task, in coordinates measured in pattern periods.
public enum FillPattern: String, CaseIterable, Sendable {
  case striped, dotted, checkered

  /// Whether the point (u, v), in periods from the shape's centre along the pattern's axes, takes the ink colour.
  func isInk(u: Float, v: Float) -> Bool {
    func fraction(_ value: Float) -> Float { value - value.rounded(.down) }
    switch self {
    case .striped: return fraction(u) < 0.5
    case .dotted:
      let (du, dv) = (fraction(u) - 0.5, fraction(v) - 0.5)
      return du * du + dv * dv <= 0.32 * 0.32
    case .checkered: return (Int(u.rounded(.down)) + Int(v.rounded(.down))) & 1 == 0
    }
  }
}

/// `patterns`: four of the pre-training shapes (circle, square, triangle, star — the ring's band is too thin to show
/// a pattern at small sizes) filled with patterns the pre-training never had — striped, dotted, checkered — in a known
/// colour on a pale ground. The 12 categories are pattern+shape phrases ("striped circle", pattern-major), and the
/// second object is often the first one's shape in another pattern, so the texture word must be read.
public struct PatternsTask: SyntheticTask {
  public static let name = "patterns"
  public static let summary =
    "known shapes filled with patterns never seen in pre-training (striped, dotted, checkered); \"striped circle\""
  /// The shapes drawn, in category order within each pattern.
  public static let outlines: [ShapeOutline] = [.circle, .square, .triangle, .star]

  public let size: Int
  public var categories: [String] {
    FillPattern.allCases.flatMap { pattern in Self.outlines.map { "\(pattern.rawValue) \($0.rawValue)" } }
  }

  /// The task at image side `size`; it draws on the synthetic texture, so `backgrounds` is not used.
  public init(size: Int, backgrounds: String? = nil) {
    self.size = size
  }

  public func sample(index: Int, seed: UInt64) -> SyntheticTaskSample {
    var random = randomStream(index: index, seed: seed)
    var image = SyntheticCanvas(size: size).texturedBackground(&random)
    let (patterns, shapeCount) = (FillPattern.allCases, Self.outlines.count)
    let objects = compose(on: &image, &random) { random, placed in
      var shape = Self.pick(shapeCount, &random)
      var pattern = Self.pick(patterns.count, &random)
      if placed.count == 1 && random.nextUnitFloat() < 0.6 {
        shape = placed[0].kind.category % shapeCount
        pattern = Self.other(than: placed[0].kind.category / shapeCount, of: patterns.count, &random)
      }
      let colour = SyntheticShapes.colours[Self.pick(SyntheticShapes.colours.count, &random)].rgb
      let shade = Self.shade(&random)
      let ink = SyntheticCanvas.shaded(colour, shade)
      // A pale ground of the same hue keeps the silhouette apart from the background and the pattern visible.
      let ground = SyntheticCanvas.shaded((colour.0 * 0.3 + 170, colour.1 * 0.3 + 170, colour.2 * 0.3 + 170), 1)
      // Stripes and checks turn by a multiple of 45°, so no one direction stands for the word.
      let angle = Float(Self.pick(4, &random)) * Float.pi / 4
      let fill = ShapeFill.pattern(patterns[pattern], ink: ink, ground: ground, angle: angle)
      return (pattern * shapeCount + shape, Self.outlines[shape], fill)
    }
    return SyntheticTaskSample(image: image, objects: objects)
  }
}
