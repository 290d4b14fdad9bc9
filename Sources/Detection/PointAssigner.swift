import NN
import TensorCore

/// Location-based target assignment (FCOS): each feature-map location is a point in the image; a point is positive
/// for the smallest box that contains it, if that box's regression extent fits the level's size range.
public enum PointAssigner {
  /// Centres of every location of a level `[H·W]`, as (x, y) in input pixels: (i·stride + stride/2).
  public static func points(height: Int, width: Int, stride: Int) -> [(x: Float, y: Float)] {
    var result: [(x: Float, y: Float)] = []
    result.reserveCapacity(height * width)
    for row in 0..<height {
      for column in 0..<width {
        result.append((Float(column * stride + stride / 2), Float(row * stride + stride / 2)))
      }
    }
    return result
  }

  /// FCOS size ranges: level with stride s takes max(l, t, r, b) in (4s, 8s], the first from 0, the last unbounded.
  public static func sizeRanges(strides: [Int]) -> [(Float, Float)] {
    strides.enumerated().map { index, stride in
      (index == 0 ? 0 : Float(4 * stride), index == strides.count - 1 ? .infinity : Float(8 * stride))
    }
  }

  /// For each point, the assigned box index (or -1) and its (l, t, r, b) regression target.
  public static func assign(
    points: [(x: Float, y: Float)], range: (Float, Float), boxes: [[Float]]
  ) -> (boxIndex: [Int], targets: [[Float]]) {
    var indices = [Int](repeating: -1, count: points.count)
    var targets = [[Float]](repeating: [0, 0, 0, 0], count: points.count)
    for (position, point) in points.enumerated() {
      var bestArea = Float.infinity
      for (index, box) in boxes.enumerated() {
        let ltrb = [point.x - box[0], point.y - box[1], box[2] - point.x, box[3] - point.y]
        guard ltrb.min()! > 0 else { continue }
        let extent = ltrb.max()!
        guard extent > range.0 && extent <= range.1 else { continue }
        let area = BoxOps.area(box)
        if area < bestArea {
          bestArea = area
          indices[position] = index
          targets[position] = ltrb
        }
      }
    }
    return (indices, targets)
  }

  /// FCOS centerness of an (l, t, r, b) target: √(min(l,r)/max(l,r) · min(t,b)/max(t,b)).
  public static func centerness(_ ltrb: [Float]) -> Float {
    let horizontal = min(ltrb[0], ltrb[2]) / max(ltrb[0], ltrb[2])
    let vertical = min(ltrb[1], ltrb[3]) / max(ltrb[1], ltrb[3])
    return (horizontal * vertical).squareRoot()
  }
}

/// Detection losses built from differentiable tensor ops.
public enum DetectionLoss {
  /// Sigmoid focal loss (α, γ) summed over all elements whose `weight` is non-zero (RetinaNet / GLIP token loss).
  /// logits, targets, weight: same shape.
  public static func sigmoidFocal(
    _ logits: Tensor, targets: Tensor, weight: Tensor, alpha: Float = 0.25, gamma: Float = 2
  ) -> Tensor {
    let probability = logits.sigmoid()
    let crossEntropy = Loss.binaryCrossEntropyWithLogits(logits, targets, reduction: .none)
    let pt = probability * targets + (1 - probability) * (1 - targets)
    let alphaFactor = targets * alpha + (1 - targets) * (1 - alpha)
    return (alphaFactor * (1 - pt).pow(gamma) * crossEntropy * weight).sum()
  }

  /// 1 − GIoU between boxes `(x1, y1, x2, y2)`: `[P, 4]` each → `[P]` (`torchvision.ops.generalized_box_iou_loss`).
  public static func boxGIoU(_ predicted: Tensor, _ target: Tensor) -> Tensor {
    let p = predicted.split(sizes: [1, 1, 1, 1], axis: 1), g = target.split(sizes: [1, 1, 1, 1], axis: 1)
    let predictedArea = (p[2] - p[0]) * (p[3] - p[1]), targetArea = (g[2] - g[0]) * (g[3] - g[1])
    let width = (Tensor.minimum(p[2], g[2]) - Tensor.maximum(p[0], g[0])).relu()
    let height = (Tensor.minimum(p[3], g[3]) - Tensor.maximum(p[1], g[1])).relu()
    let intersection = width * height
    let union = predictedArea + targetArea - intersection
    let enclosing =
      (Tensor.maximum(p[2], g[2]) - Tensor.minimum(p[0], g[0]))
      * (Tensor.maximum(p[3], g[3]) - Tensor.minimum(p[1], g[1]))
    let iou = intersection / (union + 1e-7)
    return (1 - (iou - (enclosing - union) / (enclosing + 1e-7))).reshaped([-1])
  }

  /// 1 − GIoU between predicted and target (l, t, r, b) distances from the same points: `[P, 4]` each → `[P]`.
  public static func giou(predicted: Tensor, target: Tensor) -> Tensor {
    let p = predicted.split(sizes: [1, 1, 1, 1], axis: 1), g = target.split(sizes: [1, 1, 1, 1], axis: 1)
    let predictedArea = (p[0] + p[2]) * (p[1] + p[3])
    let targetArea = (g[0] + g[2]) * (g[1] + g[3])
    let intersection =
      (Tensor.minimum(p[0], g[0]) + Tensor.minimum(p[2], g[2]))
      * (Tensor.minimum(p[1], g[1]) + Tensor.minimum(p[3], g[3]))
    let union = predictedArea + targetArea - intersection
    let enclosing =
      (Tensor.maximum(p[0], g[0]) + Tensor.maximum(p[2], g[2]))
      * (Tensor.maximum(p[1], g[1]) + Tensor.maximum(p[3], g[3])) + 1e-7
    let iou = intersection / (union + 1e-7)
    return (1 - (iou - (enclosing - union) / enclosing)).reshaped([-1])
  }
}
