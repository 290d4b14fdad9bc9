import Foundation
import TensorCore

/// Boxes as deltas from anchors (R-CNN box coder): (dx, dy) = w·(centre offset)/anchor size, (dw, dh) = w·log(size
/// ratio), with per-coordinate weights; width and height deltas are clamped at log(1000/16) when decoding. With
/// `legacyPlusOne`, sizes are x2 − x1 + 1 and decoded corners end one pixel in, as maskrcnn-benchmark (GLIP) does.
public struct DeltaBoxCoder: BoxCoder {
  public let weights: [Float]
  public let legacyPlusOne: Bool
  static let maxLogRatio = Float(Foundation.log(1000.0 / 16.0))

  public init(weights: [Float], legacyPlusOne: Bool = false) {
    precondition(weights.count == 4, "DeltaBoxCoder: four weights expected")
    self.weights = weights
    self.legacyPlusOne = legacyPlusOne
  }

  private var extra: Float { legacyPlusOne ? 1 : 0 }

  /// The box branch regresses the deltas themselves.
  public func regression(_ scaled: Tensor, level: Int) -> Tensor { scaled }

  /// Deltas `[P, 4]` at anchors `[P, 4]` → boxes `[P, 4]`, differentiable in the deltas.
  public func decode(_ regression: Tensor, references: Tensor) -> Tensor {
    let deltas = regression.split(sizes: [1, 1, 1, 1], axis: 1),
      anchors = references.split(sizes: [1, 1, 1, 1], axis: 1)
    let (width, height) = (anchors[2] - anchors[0] + extra, anchors[3] - anchors[1] + extra)
    let (centreX, centreY) = (anchors[0] + width * 0.5, anchors[1] + height * 0.5)
    let x = centreX + deltas[0] * (1 / weights[0]) * width
    let y = centreY + deltas[1] * (1 / weights[1]) * height
    let w = (deltas[2] * (1 / weights[2])).clamp(max: DeltaBoxCoder.maxLogRatio).exp() * width
    let h = (deltas[3] * (1 / weights[3])).clamp(max: DeltaBoxCoder.maxLogRatio).exp() * height
    return Tensor.concat([x - w * 0.5, y - h * 0.5, x + w * 0.5 - extra, y + h * 0.5 - extra], axis: 1)
  }

  /// The deltas of `box` relative to `anchor` (the inverse of `decode`).
  public func encode(_ box: [Float], anchor: [Float]) -> [Float] {
    let anchorWidth: Float = anchor[2] - anchor[0] + extra, anchorHeight: Float = anchor[3] - anchor[1] + extra
    let boxWidth: Float = box[2] - box[0] + extra, boxHeight: Float = box[3] - box[1] + extra
    let shiftX: Float = (box[0] + boxWidth / 2) - (anchor[0] + anchorWidth / 2)
    let shiftY: Float = (box[1] + boxHeight / 2) - (anchor[1] + anchorHeight / 2)
    let dx: Float = weights[0] * shiftX / anchorWidth
    let dy: Float = weights[1] * shiftY / anchorHeight
    let dw: Float = weights[2] * Foundation.log(boxWidth / anchorWidth)
    let dh: Float = weights[3] * Foundation.log(boxHeight / anchorHeight)
    return [dx, dy, dw, dh]
  }
}
