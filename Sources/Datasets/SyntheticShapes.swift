import Foundation
import Imaging
import TensorCore

/// A problem with the synthetic dataset's options.
public struct SyntheticDataError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
  public init(_ message: String) { self.message = message }
}

/// The built-in synthetic grounding dataset: coloured shapes on textured backgrounds, with COCO detection files (shape
/// categories, and colour+shape phrase categories) and ODVG grounding captions with referring expressions.
///
/// Deterministic for a seed. Captions name a target by size, colour and shape and relate it to another object
/// ("the small red circle left of a blue square"); images often hold a distractor of the target's shape in another
/// colour, so grounding needs the colour word. `holdout` colour–shape pairs never appear (for compositional tests).
public struct SyntheticShapes {
  public static let shapes = ["circle", "square", "triangle", "star", "ring"]
  public static let colours: [(name: String, rgb: (Float, Float, Float))] = [
    ("red", (220, 40, 40)), ("green", (40, 170, 60)), ("blue", (40, 80, 220)), ("yellow", (235, 210, 40)),
    ("purple", (140, 60, 180)), ("orange", (240, 140, 30)),
  ]

  /// One object on an image.
  public struct Object: Equatable, Sendable {
    public var shape: Int
    public var colour: Int
    public var centre: (x: Float, y: Float)
    public var radius: Float
    public var box: [Float]  // x1, y1, x2, y2

    public static func == (lhs: Object, rhs: Object) -> Bool {
      lhs.shape == rhs.shape && lhs.colour == rhs.colour && lhs.box == rhs.box
    }

    public var phrase: String { "\(SyntheticShapes.colours[colour].name) \(SyntheticShapes.shapes[shape])" }
  }

  /// A grounding caption with character spans of its phrases and the object each phrase refers to.
  public struct Caption: Sendable {
    public var text: String
    public var regions: [(object: Int, span: Range<Int>, phrase: String)]
  }

  public struct Sample: Sendable {
    public var image: RGBImage
    public var objects: [Object]
    public var caption: Caption
  }

  public let size: Int
  public let holdout: Set<String>

  public init(size: Int = 320, holdout: Set<String> = []) {
    self.size = size
    self.holdout = holdout
  }

  /// Every colour+shape phrase, colour-major: "red circle", "red square", …
  public static var phrases: [String] { colours.flatMap { colour in shapes.map { "\(colour.name) \($0)" } } }

  /// Colour–shape pairs written as `"red circle, blue star"`: each must be one of `phrases` (case and extra spaces
  /// do not matter), and at least one pair must stay.
  public static func holdout(parsing text: String) throws -> Set<String> {
    var pairs = Set<String>()
    for item in text.split(separator: ",") {
      let words = item.split(whereSeparator: \.isWhitespace).map { $0.lowercased() }
      guard !words.isEmpty else { continue }
      let pair = words.joined(separator: " ")
      guard phrases.contains(pair) else {
        throw SyntheticDataError(
          "held-out pair '\(item.trimmingCharacters(in: .whitespaces))' is not a colour and a shape; colours: "
            + colours.map(\.name).joined(separator: ", ") + "; shapes: " + shapes.joined(separator: ", "))
      }
      pairs.insert(pair)
    }
    guard pairs.count < phrases.count else { throw SyntheticDataError("every colour–shape pair is held out") }
    return pairs
  }

  /// The sample for image `index` of a dataset with `seed` (independent of the other images).
  public func sample(index: Int, seed: UInt64) -> Sample {
    var random = SeededGenerator(seed: seed &* 0x9E37_79B9 &+ UInt64(index))
    var image = background(&random)
    var objects: [Object] = []
    let count = 2 + Int(random.next() % 4)
    var attempts = 0
    while objects.count < count && attempts < 60 {
      attempts += 1
      var shape = Int(random.next() % UInt64(SyntheticShapes.shapes.count))
      var colour = Int(random.next() % UInt64(SyntheticShapes.colours.count))
      // Often a distractor: the first object's shape in another colour, so only the colour word tells them apart.
      if objects.count == 1 && random.nextUnitFloat() < 0.6 {
        shape = objects[0].shape
        colour =
          (objects[0].colour + 1 + Int(random.next() % UInt64(SyntheticShapes.colours.count - 1)))
          % SyntheticShapes.colours.count
      }
      guard !holdout.contains("\(SyntheticShapes.colours[colour].name) \(SyntheticShapes.shapes[shape])") else {
        continue
      }
      let radius = Float(size) * (0.06 + 0.1 * random.nextUnitFloat())
      let x = radius + (Float(size) - 2 * radius) * random.nextUnitFloat()
      let y = radius + (Float(size) - 2 * radius) * random.nextUnitFloat()
      var candidate = Object(
        shape: shape, colour: colour, centre: (x, y), radius: radius,
        box: [x - radius, y - radius, x + radius, y + radius])
      candidate.box = tightBox(candidate)
      // Overlaps are allowed, but each object stays mostly visible.
      if objects.contains(where: { overlap($0.box, candidate.box) > 0.25 }) { continue }
      objects.append(candidate)
    }
    for object in objects { draw(object, on: &image, &random) }
    return Sample(image: image, objects: objects, caption: caption(for: objects, &random))
  }

  // MARK: Rendering

  private func background(_ random: inout SeededGenerator) -> RGBImage {
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

  private func draw(_ object: Object, on image: inout RGBImage, _ random: inout SeededGenerator) {
    let colour = SyntheticShapes.colours[object.colour].rgb
    let shade = 0.85 + 0.3 * random.nextUnitFloat()
    let (x0, y0) = (max(0, Int(object.box[0])), max(0, Int(object.box[1])))
    let (x1, y1) = (min(size - 1, Int(object.box[2])), min(size - 1, Int(object.box[3])))
    guard x0 <= x1 && y0 <= y1 else { return }
    for y in y0...y1 {
      for x in x0...x1 where contains(object, x: Float(x) + 0.5, y: Float(y) + 0.5) {
        image[x, y] = (clampByte(colour.0 * shade), clampByte(colour.1 * shade), clampByte(colour.2 * shade))
      }
    }
  }

  /// The pixel-exact box of what `draw` paints: the extent of the pixels whose centres fall inside the shape.
  func tightBox(_ object: Object) -> [Float] {
    var (minX, minY, maxX, maxY) = (Int.max, Int.max, Int.min, Int.min)
    let (x0, y0) = (max(0, Int(object.box[0])), max(0, Int(object.box[1])))
    let (x1, y1) = (min(size - 1, Int(object.box[2])), min(size - 1, Int(object.box[3])))
    for y in y0...max(y0, y1) {
      for x in x0...max(x0, x1) where contains(object, x: Float(x) + 0.5, y: Float(y) + 0.5) {
        (minX, minY, maxX, maxY) = (min(minX, x), min(minY, y), max(maxX, x), max(maxY, y))
      }
    }
    guard minX <= maxX else { return object.box }
    return [Float(minX), Float(minY), Float(maxX + 1), Float(maxY + 1)]
  }

  /// Whether (x, y) lies inside the object's shape.
  func contains(_ object: Object, x: Float, y: Float) -> Bool {
    let (dx, dy) = (x - object.centre.x, y - object.centre.y)
    let r = object.radius
    switch SyntheticShapes.shapes[object.shape] {
    case "circle": return dx * dx + dy * dy <= r * r
    case "square": return abs(dx) <= r * 0.9 && abs(dy) <= r * 0.9
    case "ring":
      let d = (dx * dx + dy * dy).squareRoot()
      return d <= r && d >= r * 0.55
    case "triangle":
      // Upward triangle with apex at the top and base at the bottom of the box.
      let t = (dy + r) / (2 * r)
      return t >= 0 && t <= 1 && abs(dx) <= r * t
    default:  // star: five points, inner radius 0.45 r
      let angle = atan2(dy, dx) + Float.pi / 2
      let sector = (angle / (2 * Float.pi / 5)).truncatingRemainder(dividingBy: 1)
      let phase = abs(((sector < 0 ? sector + 1 : sector) - 0.5) * 2)  // 1 at points, 0 between them
      let limit = r * (0.45 + 0.55 * phase)
      return (dx * dx + dy * dy).squareRoot() <= limit
    }
  }

  private func overlap(_ a: [Float], _ b: [Float]) -> Float {
    let width = max(0, min(a[2], b[2]) - max(a[0], b[0])), height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    let smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / max(smaller, 1)
  }

  // MARK: Captions

  private func caption(for objects: [Object], _ random: inout SeededGenerator) -> Caption {
    // Prefer a target whose shape has a distractor of another colour.
    let shared = objects.indices.filter { index in
      objects.indices.contains { $0 != index && objects[$0].shape == objects[index].shape }
    }
    guard let targetIndex = (shared.isEmpty ? Array(objects.indices) : shared).randomElement(using: &random) else {
      return Caption(text: "", regions: [])
    }
    let target = objects[targetIndex]
    let sizes = objects.map(\.radius)
    let size =
      target.radius <= sizes.min()! && objects.count > 1
      ? "small " : (target.radius >= sizes.max()! && objects.count > 1 ? "large " : "")
    let targetPhrase = "\(size)\(target.phrase)"
    var text = "the "
    var regions: [(object: Int, span: Range<Int>, phrase: String)] = []
    regions.append((targetIndex, text.count..<(text.count + targetPhrase.count), targetPhrase))
    text += targetPhrase
    let others = objects.indices.filter { $0 != targetIndex }
    if let referenceIndex = others.randomElement(using: &random) {
      let reference = objects[referenceIndex]
      let (dx, dy) = (target.centre.x - reference.centre.x, target.centre.y - reference.centre.y)
      let relation = abs(dx) >= abs(dy) ? (dx < 0 ? "left of" : "right of") : (dy < 0 ? "above" : "below")
      let article = "aeiou".contains(reference.phrase.first ?? "x") ? "an" : "a"
      text += " \(relation) \(article) "
      regions.append((referenceIndex, text.count..<(text.count + reference.phrase.count), reference.phrase))
      text += reference.phrase
    }
    return Caption(text: text, regions: regions)
  }

  private func clampByte(_ value: Float) -> UInt8 { UInt8(max(0, min(255, value.rounded()))) }
}
