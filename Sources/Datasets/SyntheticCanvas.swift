import Foundation
import Imaging
import TensorCore

/// The outline of a synthetic shape. The first five are the pre-training shapes of ``SyntheticShapes``; the others
/// are drawn only by the `new_shapes` transfer task (``NewShapesTask``).
public enum ShapeOutline: String, CaseIterable, Sendable {
  case circle, square, triangle, star, ring
  case hexagon, cross, heart, diamond, crescent

  /// Whether the point at offset (`dx`, `dy`) from the centre (image coordinates: y grows downwards) lies inside the
  /// outline of a shape of radius `r`. Every outline fits in the square of half-side `r` around the centre.
  public func contains(dx: Float, dy: Float, radius r: Float) -> Bool {
    switch self {
    case .circle: return dx * dx + dy * dy <= r * r
    case .square: return abs(dx) <= r * 0.9 && abs(dy) <= r * 0.9
    case .ring:
      let d = (dx * dx + dy * dy).squareRoot()
      return d <= r && d >= r * 0.55
    case .triangle:
      // Upward triangle with apex at the top and base at the bottom of the box.
      let t = (dy + r) / (2 * r)
      return t >= 0 && t <= 1 && abs(dx) <= r * t
    case .star:  // five points, inner radius 0.45 r
      let angle = atan2(dy, dx) + Float.pi / 2
      let sector = (angle / (2 * Float.pi / 5)).truncatingRemainder(dividingBy: 1)
      let phase = abs(((sector < 0 ? sector + 1 : sector) - 0.5) * 2)  // 1 at points, 0 between them
      let limit = r * (0.45 + 0.55 * phase)
      return (dx * dx + dy * dy).squareRoot() <= limit
    case .hexagon:  // regular, corners left and right
      let root3: Float = 1.732_050_8
      return abs(dy) <= r * root3 / 2 && root3 * abs(dx) + abs(dy) <= root3 * r
    case .cross:  // a plus sign; arms 0.6 r wide, so it is no square
      return (abs(dx) <= r * 0.3 && abs(dy) <= r * 0.9) || (abs(dy) <= r * 0.3 && abs(dx) <= r * 0.9)
    case .diamond:  // a rhombus, taller than wide, so it is no rotated square
      return abs(dx) / (r * 0.75) + abs(dy) / r <= 1
    case .heart:
      // (u² + v² − 1)³ ≤ u² v³, scaled so its lobes and tip stay within the radius (v up, tip at the bottom).
      let u = 1.2 * dx / r, v = -1.2 * dy / r + 0.12
      let s = u * u + v * v - 1
      return s * s * s <= u * u * v * v * v
    case .crescent:  // a disc with a smaller disc bitten out of its right side
      let (bx, by) = (dx - 0.4 * r, dy)
      return dx * dx + dy * dy <= r * r && bx * bx + by * by > 0.64 * r * r
    }
  }
}

/// A shape placed on an image: its outline, centre and radius, and `box`, the pixel-exact extent
/// (`[x1, y1, x2, y2]`, pixel edges) of the pixels whose centres fall inside it — what painting it covers.
public struct PlacedShape: Sendable {
  /// The outline drawn.
  public var outline: ShapeOutline
  /// The centre, in pixels from the image's top-left corner.
  public var centre: (x: Float, y: Float)
  /// The half-side of the square the outline fits in, in pixels.
  public var radius: Float
  /// `[x1, y1, x2, y2]` in pixel edges: tight around the painted pixels once the shape is placed.
  public var box: [Float]

  public init(outline: ShapeOutline, centre: (x: Float, y: Float), radius: Float, box: [Float]) {
    self.outline = outline
    self.centre = centre
    self.radius = radius
    self.box = box
  }

  /// Whether the pixel centre at (x, y) lies inside the shape.
  public func contains(x: Float, y: Float) -> Bool {
    outline.contains(dx: x - centre.x, dy: y - centre.y, radius: radius)
  }
}

/// The rendering pieces every synthetic image shares: the textured background, placing non-overlapping shapes at
/// the pre-training's sizes, tight boxes and painting. The pre-training data (``SyntheticShapes``) and the transfer
/// tasks (``SyntheticTask``) draw through it, so their shapes, sizes and boxes follow the same rules.
struct SyntheticCanvas {
  let size: Int

  /// A noisy wave texture on a random base colour.
  func texturedBackground(_ random: inout SeededGenerator) -> RGBImage {
    var image = RGBImage(width: size, height: size)
    let base = (60 + 120 * random.nextUnitFloat(), 60 + 120 * random.nextUnitFloat(), 60 + 120 * random.nextUnitFloat())
    let (frequencyX, frequencyY) = (0.01 + 0.05 * random.nextUnitFloat(), 0.01 + 0.05 * random.nextUnitFloat())
    for y in 0..<size {
      for x in 0..<size {
        let wave = 25 * sin(Float(x) * frequencyX) * cos(Float(y) * frequencyY)
        let noise = 30 * (random.nextUnitFloat() - 0.5)
        image[x, y] = (clampByte(base.0 + wave + noise), clampByte(base.1 - wave + noise), clampByte(base.2 + noise))
      }
    }
    return image
  }

  /// Up to `count` shapes of radius 6–16 % of the side, each at most a quarter covered by another's box, in at most
  /// `attempts` tries. `propose` picks each shape's kind and outline from those placed so far, or nil to skip a try.
  func place<Kind>(
    count: Int, attempts maximum: Int = 60, _ random: inout SeededGenerator,
    propose: (inout SeededGenerator, [(kind: Kind, shape: PlacedShape)]) -> (Kind, ShapeOutline)?
  ) -> [(kind: Kind, shape: PlacedShape)] {
    var placed: [(kind: Kind, shape: PlacedShape)] = []
    var attempts = 0
    while placed.count < count && attempts < maximum {
      attempts += 1
      guard let (kind, outline) = propose(&random, placed) else { continue }
      let radius = Float(size) * (0.06 + 0.1 * random.nextUnitFloat())
      let x = radius + (Float(size) - 2 * radius) * random.nextUnitFloat()
      let y = radius + (Float(size) - 2 * radius) * random.nextUnitFloat()
      var shape = PlacedShape(
        outline: outline, centre: (x, y), radius: radius, box: [x - radius, y - radius, x + radius, y + radius])
      shape.box = tightBox(shape)
      // Overlaps are allowed, but each object stays mostly visible.
      if placed.contains(where: { Self.overlap($0.shape.box, shape.box) > 0.25 }) { continue }
      placed.append((kind, shape))
    }
    return placed
  }

  /// The pixel-exact box of what `paint` covers, searched within `shape.box` (before tightening: centre ± radius).
  func tightBox(_ shape: PlacedShape) -> [Float] {
    var (minX, minY, maxX, maxY) = (Int.max, Int.max, Int.min, Int.min)
    let (x0, y0) = (max(0, Int(shape.box[0])), max(0, Int(shape.box[1])))
    let (x1, y1) = (min(size - 1, Int(shape.box[2])), min(size - 1, Int(shape.box[3])))
    for y in y0...max(y0, y1) {
      for x in x0...max(x0, x1) where shape.contains(x: Float(x) + 0.5, y: Float(y) + 0.5) {
        (minX, minY, maxX, maxY) = (min(minX, x), min(minY, y), max(maxX, x), max(maxY, y))
      }
    }
    guard minX <= maxX else { return shape.box }
    return [Float(minX), Float(minY), Float(maxX + 1), Float(maxY + 1)]
  }

  /// Paints the pixels whose centres fall inside the shape with `colour(x, y)`.
  func paint(
    _ shape: PlacedShape, on image: inout RGBImage, colour: (_ x: Int, _ y: Int) -> (UInt8, UInt8, UInt8)
  ) {
    let (x0, y0) = (max(0, Int(shape.box[0])), max(0, Int(shape.box[1])))
    let (x1, y1) = (min(size - 1, Int(shape.box[2])), min(size - 1, Int(shape.box[3])))
    guard x0 <= x1 && y0 <= y1 else { return }
    for y in y0...y1 {
      for x in x0...x1 where shape.contains(x: Float(x) + 0.5, y: Float(y) + 0.5) { image[x, y] = colour(x, y) }
    }
  }

  /// The part of the smaller box covered by the other.
  static func overlap(_ a: [Float], _ b: [Float]) -> Float {
    let width = max(0, min(a[2], b[2]) - max(a[0], b[0])), height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    let smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(smaller, 1)
  }

  /// `rgb` times `shade`, rounded and clamped to bytes.
  static func shaded(_ rgb: (Float, Float, Float), _ shade: Float) -> (UInt8, UInt8, UInt8) {
    (clampByte(rgb.0 * shade), clampByte(rgb.1 * shade), clampByte(rgb.2 * shade))
  }
}

func clampByte(_ value: Float) -> UInt8 { UInt8(max(0, min(255, value.rounded()))) }
