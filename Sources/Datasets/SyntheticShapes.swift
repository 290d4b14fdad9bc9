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
  /// The pre-training shapes' outlines, in category order.
  public static let outlines: [ShapeOutline] = [.circle, .square, .triangle, .star, .ring]
  public static let shapes = outlines.map(\.rawValue)
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
    let canvas = SyntheticCanvas(size: size)
    var image = canvas.texturedBackground(&random)
    let count = 2 + Int(random.next() % 4)
    let placed = canvas.place(count: count, &random) { random, placed -> ((shape: Int, colour: Int), ShapeOutline)? in
      var shape = Int(random.next() % UInt64(SyntheticShapes.shapes.count))
      var colour = Int(random.next() % UInt64(SyntheticShapes.colours.count))
      // Often a distractor: the first object's shape in another colour, so only the colour word tells them apart.
      if placed.count == 1 && random.nextUnitFloat() < 0.6 {
        shape = placed[0].kind.shape
        colour =
          (placed[0].kind.colour + 1 + Int(random.next() % UInt64(SyntheticShapes.colours.count - 1)))
          % SyntheticShapes.colours.count
      }
      guard !holdout.contains("\(SyntheticShapes.colours[colour].name) \(SyntheticShapes.shapes[shape])") else {
        return nil
      }
      return ((shape, colour), SyntheticShapes.outlines[shape])
    }
    let objects = placed.map { kind, shape in
      Object(shape: kind.shape, colour: kind.colour, centre: shape.centre, radius: shape.radius, box: shape.box)
    }
    for (kind, shape) in placed {
      let pixel = SyntheticCanvas.shaded(SyntheticShapes.colours[kind.colour].rgb, 0.85 + 0.3 * random.nextUnitFloat())
      canvas.paint(shape, on: &image) { _, _ in pixel }
    }
    return Sample(image: image, objects: objects, caption: caption(for: objects, &random))
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

}
