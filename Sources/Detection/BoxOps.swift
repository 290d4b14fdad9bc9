import Foundation

/// Box operations on `(x1, y1, x2, y2)` boxes, matching `torchvision.ops` (continuous coordinates). With
/// `legacyPlusOne`, widths and heights are x2 − x1 + 1 (maskrcnn-benchmark's convention, used by GLIP's checkpoints).
public enum BoxOps {
  public static func area(_ box: [Float], legacyPlusOne: Bool = false) -> Float {
    let extra: Float = legacyPlusOne ? 1 : 0
    return max(0, box[2] - box[0] + extra) * max(0, box[3] - box[1] + extra)
  }

  public static func iou(_ a: [Float], _ b: [Float], legacyPlusOne: Bool = false) -> Float {
    let extra: Float = legacyPlusOne ? 1 : 0
    let width = max(0, min(a[2], b[2]) - max(a[0], b[0]) + extra)
    let height = max(0, min(a[3], b[3]) - max(a[1], b[1]) + extra)
    let intersection = width * height
    let union = area(a, legacyPlusOne: legacyPlusOne) + area(b, legacyPlusOne: legacyPlusOne) - intersection
    return union > 0 ? intersection / union : 0
  }

  /// Greedy NMS (`torchvision.ops.nms`): indices kept, by decreasing score.
  public static func nms(boxes: [[Float]], scores: [Float], iouThreshold: Float, legacyPlusOne: Bool = false) -> [Int] {
    let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
    var suppressed = [Bool](repeating: false, count: boxes.count)
    var kept: [Int] = []
    for (position, index) in order.enumerated() where !suppressed[index] {
      kept.append(index)
      for other in order[(position + 1)...] where !suppressed[other] {
        if iou(boxes[index], boxes[other], legacyPlusOne: legacyPlusOne) > iouThreshold { suppressed[other] = true }
      }
    }
    return kept
  }

  /// Class-aware NMS (`torchvision.ops.batched_nms`): boxes of different labels never suppress each other.
  public static func batchedNMS(
    boxes: [[Float]], scores: [Float], labels: [Int], iouThreshold: Float, legacyPlusOne: Bool = false
  ) -> [Int] {
    var kept: [Int] = []
    for label in Set(labels) {
      let members = labels.indices.filter { labels[$0] == label }
      let local = nms(
        boxes: members.map { boxes[$0] }, scores: members.map { scores[$0] }, iouThreshold: iouThreshold,
        legacyPlusOne: legacyPlusOne)
      kept += local.map { members[$0] }
    }
    return kept.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
  }
}
