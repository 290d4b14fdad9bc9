import Foundation
import Imaging
import TensorCore

/// `new_shapes`: five shapes the pre-training never drew — hexagon, cross, heart, diamond, crescent — in the
/// pre-training's six colours on its textured backgrounds. The categories are the shape names, so only the new nouns
/// are unseen: the test of grounding a word the model has not been trained to find.
public struct NewShapesTask: SyntheticTask {
  public static let name = "new_shapes"
  public static let summary =
    "shapes never drawn in pre-training (hexagon, cross, heart, diamond, crescent) in the known colours"
  /// The new outlines, in category order.
  public static let outlines: [ShapeOutline] = [.hexagon, .cross, .heart, .diamond, .crescent]

  public let size: Int
  public var categories: [String] { Self.outlines.map(\.rawValue) }

  /// The task at image side `size`; it draws on the synthetic texture, so `backgrounds` is not used.
  public init(size: Int, backgrounds: String? = nil) {
    self.size = size
  }

  public func sample(index: Int, seed: UInt64) -> SyntheticTaskSample {
    var random = randomStream(index: index, seed: seed)
    var image = SyntheticCanvas(size: size).texturedBackground(&random)
    let objects = compose(on: &image, &random) { random, _ in
      let shape = Self.pick(Self.outlines.count, &random)
      let colour = SyntheticShapes.colours[Self.pick(SyntheticShapes.colours.count, &random)].rgb
      return (shape, Self.outlines[shape], .solid(SyntheticCanvas.shaded(colour, Self.shade(&random))))
    }
    return SyntheticTaskSample(image: image, objects: objects)
  }
}
