import Config
import Detection
import Foundation
import NN
import TensorCore

/// FCOS: every location is a point (i·stride + stride/2); a point is positive for the smallest box containing it
/// whose largest side distance fits the level's range (0–64, 64–128, …); it regresses (l, t, r, b) as
/// exp(scale · x) · stride, with centerness √(min(l,r)/max(l,r) · min(t,b)/max(t,b)).
public final class FCOSHead: DenseGroundingHead {
  public static let keys = DenseGroundingHead.Keys.common

  public static func build(config: ConfigSection, context: BuildContext) throws -> FCOSHead {
    try DenseGroundingHead.build(config, context: context) { settings, fusions, classifier, generator in
      FCOSHead(
        inputSpecs: context.inputSpecs, settings: settings, textHidden: context.textHiddenSize, fusions: fusions,
        classifier: classifier, generator: &generator)
    }
  }

  override func reference(level: Int, position: Int, width: Int) -> [Float] {
    let stride = inputSpecs[level].stride
    let (x, y) = (Float((position % width) * stride + stride / 2), Float((position / width) * stride + stride / 2))
    return [x, y, x, y]
  }

  override func regressionOutput(_ scaled: Tensor, level: Int) -> Tensor {
    scaled.clamp(max: 10).exp() * Float(inputSpecs[level].stride)
  }

  override func decode(_ regression: Tensor, references: Tensor) -> Tensor {
    references + regression * Tensor([-1, -1, 1, 1])
  }

  override func assign(_ target: GroundingTarget, levelSizes: [(height: Int, width: Int)]) -> [LocationTarget] {
    let ranges = PointAssigner.sizeRanges(strides: inputSpecs.map(\.stride))
    return levelSizes.enumerated().flatMap { level, size in
      let points = PointAssigner.points(height: size.height, width: size.width, stride: inputSpecs[level].stride)
      let (boxes, distances) = PointAssigner.assign(points: points, range: ranges[level], boxes: target.boxes)
      return zip(boxes, distances).map {
        LocationTarget(box: $0, centerness: $0 >= 0 ? PointAssigner.centerness($1) : 0)
      }
    }
  }
}
