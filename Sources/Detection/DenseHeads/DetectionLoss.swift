import NN
import TensorCore

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
