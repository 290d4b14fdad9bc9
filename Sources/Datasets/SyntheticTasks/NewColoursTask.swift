import Foundation
import Imaging
import TensorCore

/// `new_colours`: the five pre-training shapes in four colour words the pre-training never used — pink, cyan,
/// brown, white, each far from the six known colours — with the 20 colour+shape phrases as categories ("pink star"),
/// colour-major like `instances_phrases.json`. As in the pre-training, the second object is often the first one's
/// shape in another new colour, so the colour word decides which box a phrase names.
public struct NewColoursTask: SyntheticTask {
  public static let name = "new_colours"
  public static let summary =
    "the known shapes in colour words never used in pre-training (pink, cyan, brown, white); \"pink star\""
  /// The new colours and their RGB values.
  public static let colours: [(name: String, rgb: (Float, Float, Float))] = [
    ("pink", (250, 130, 200)), ("cyan", (40, 210, 220)), ("brown", (125, 75, 35)), ("white", (245, 245, 245)),
  ]

  public let size: Int
  public var categories: [String] {
    Self.colours.flatMap { colour in SyntheticShapes.shapes.map { "\(colour.name) \($0)" } }
  }

  /// The task at image side `size`; it draws on the synthetic texture, so `backgrounds` is not used.
  public init(size: Int, backgrounds: String? = nil) {
    self.size = size
  }

  public func sample(index: Int, seed: UInt64) -> SyntheticTaskSample {
    var random = randomStream(index: index, seed: seed)
    var image = SyntheticCanvas(size: size).texturedBackground(&random)
    let shapeCount = SyntheticShapes.shapes.count
    let objects = compose(on: &image, &random) { random, placed in
      var shape = Self.pick(shapeCount, &random)
      var colour = Self.pick(Self.colours.count, &random)
      if placed.count == 1 && random.nextUnitFloat() < 0.6 {
        shape = placed[0].kind.category % shapeCount
        colour = Self.other(than: placed[0].kind.category / shapeCount, of: Self.colours.count, &random)
      }
      let fill = ShapeFill.solid(SyntheticCanvas.shaded(Self.colours[colour].rgb, Self.shade(&random)))
      return (colour * shapeCount + shape, SyntheticShapes.outlines[shape], fill)
    }
    return SyntheticTaskSample(image: image, objects: objects)
  }
}
