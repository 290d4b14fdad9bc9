import Foundation

/// A ground-truth box of a COCO dataset: `bbox` is (x, y, width, height).
public struct CocoAnnotation: Sendable {
  public var id: Int
  public var imageId: Int
  public var categoryId: Int
  public var bbox: [Double]
  public var area: Double
  public var isCrowd: Bool

  public init(id: Int, imageId: Int, categoryId: Int, bbox: [Double], area: Double? = nil, isCrowd: Bool = false) {
    self.id = id
    self.imageId = imageId
    self.categoryId = categoryId
    self.bbox = bbox
    self.area = area ?? bbox[2] * bbox[3]
    self.isCrowd = isCrowd
  }
}

/// A detection in COCO results form: `bbox` is (x, y, width, height).
public struct CocoDetection: Sendable {
  public var imageId: Int
  public var categoryId: Int
  public var bbox: [Double]
  public var score: Double

  public init(imageId: Int, categoryId: Int, bbox: [Double], score: Double) {
    self.imageId = imageId
    self.categoryId = categoryId
    self.bbox = bbox
    self.score = score
  }
}

/// The 12 standard COCO numbers.
public struct CocoMetrics: Equatable, Sendable {
  public static let names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
  public var values: [Double]

  /// The 12 numbers in `names` order.
  public init(values: [Double]) {
    precondition(values.count == CocoMetrics.names.count, "CocoMetrics: expected 12 values, got \(values.count)")
    self.values = values
  }

  public subscript(name: String) -> Double { values[CocoMetrics.names.firstIndex(of: name)!] }

  /// pycocotools' 12-line summary.
  public var summary: String {
    let rows: [(String, String, String, String)] = [
      ("Average Precision", "0.50:0.95", "all", "100"), ("Average Precision", "0.50", "all", "100"),
      ("Average Precision", "0.75", "all", "100"), ("Average Precision", "0.50:0.95", "small", "100"),
      ("Average Precision", "0.50:0.95", "medium", "100"), ("Average Precision", "0.50:0.95", "large", "100"),
      ("Average Recall", "0.50:0.95", "all", "1"), ("Average Recall", "0.50:0.95", "all", "10"),
      ("Average Recall", "0.50:0.95", "all", "100"), ("Average Recall", "0.50:0.95", "small", "100"),
      ("Average Recall", "0.50:0.95", "medium", "100"), ("Average Recall", "0.50:0.95", "large", "100"),
    ]
    return zip(rows, values).map { row, value in
      let kind = row.0 == "Average Precision" ? "(AP)" : "(AR)"
      return String(
        format: " %@ %@ @[ IoU=%@ | area=%@ | maxDets=%@ ] = %.3f",
        row.0.padding(toLength: 18, withPad: " ", startingAt: 0),
        kind, row.1.padding(toLength: 9, withPad: " ", startingAt: 0),
        String(repeating: " ", count: max(0, 6 - row.2.count)) + row.2,
        String(repeating: " ", count: max(0, 3 - row.3.count)) + row.3, value)
    }.joined(separator: "\n")
  }
}

/// COCO bounding-box evaluation with pycocotools' `COCOeval` algorithm: per image and category, detections sorted by
/// score (stable) and greedily matched to the best-IoU unmatched ground truth at each of ten IoU thresholds, crowd
/// boxes matched by intersection over the detection's area and never used up, ignored ground truth (crowd or out of
/// the area range) tried last; precision interpolated at 101 recall points; −1 for undefined entries.
public enum CocoEvaluator {
  static let iouThresholds: [Double] = (0..<10).map { 0.5 + 0.05 * Double($0) }
  static let recallThresholds: [Double] = (0...100).map { Double($0) / 100 }
  static let maxDetections = [1, 10, 100]
  static let areaRanges: [(Double, Double)] = [(0, 1e10), (0, 1024), (1024, 9216), (9216, 1e10)]

  struct ImageResult {
    var detectionScores: [Double]
    var detectionMatched: [[Bool]]  // [threshold][detection]
    var detectionIgnored: [[Bool]]
    var groundTruthIgnored: [Bool]
  }

  /// Evaluates detections against ground truth over `imageIds` and `categoryIds` (all of the ground truth's when
  /// nil).
  public static func evaluate(
    annotations: [CocoAnnotation], detections: [CocoDetection], imageIds: [Int], categoryIds: [Int]
  ) -> CocoMetrics {
    let images = Array(Set(imageIds)).sorted(), categories = Array(Set(categoryIds)).sorted()
    var groundTruth: [Pair: [CocoAnnotation]] = [:]
    for annotation in annotations {
      groundTruth[Pair(annotation.imageId, annotation.categoryId), default: []].append(annotation)
    }
    var found: [Pair: [CocoDetection]] = [:]
    for detection in detections { found[Pair(detection.imageId, detection.categoryId), default: []].append(detection) }
    let (thresholds, recalls) = (iouThresholds.count, recallThresholds.count)
    // precision[t][r][k][a][m], recall[t][k][a][m], flattened.
    var precision = [Double](repeating: -1, count: thresholds * recalls * categories.count * 4 * 3)
    var recall = [Double](repeating: -1, count: thresholds * categories.count * 4 * 3)
    for (categoryIndex, category) in categories.enumerated() {
      for (areaIndex, range) in areaRanges.enumerated() {
        let results = images.compactMap { image in
          evaluateImage(
            groundTruth: groundTruth[Pair(image, category)] ?? [], detections: found[Pair(image, category)] ?? [],
            range: range, maxDetections: maxDetections.last!)
        }
        for (limitIndex, limit) in maxDetections.enumerated() {
          accumulate(
            results, limit: limit,
            store: { threshold, values, finalRecall in
              for (index, value) in values.enumerated() {
                precision[
                  (((threshold * recalls + index) * categories.count + categoryIndex) * 4 + areaIndex) * 3 + limitIndex] =
                  value
              }
              recall[((threshold * categories.count + categoryIndex) * 4 + areaIndex) * 3 + limitIndex] = finalRecall
            })
        }
      }
    }
    func mean(_ values: [Double]) -> Double {
      let defined = values.filter { $0 > -1 }
      return defined.isEmpty ? -1 : defined.reduce(0, +) / Double(defined.count)
    }
    func averagePrecision(threshold: Int?, area: Int, limit: Int) -> Double {
      var values: [Double] = []
      for t in threshold.map({ [$0] }) ?? Array(0..<thresholds) {
        for r in 0..<recalls {
          for k in categories.indices {
            values.append(precision[(((t * recalls + r) * categories.count + k) * 4 + area) * 3 + limit])
          }
        }
      }
      return mean(values)
    }
    func averageRecall(area: Int, limit: Int) -> Double {
      var values: [Double] = []
      for t in 0..<thresholds {
        for k in categories.indices { values.append(recall[((t * categories.count + k) * 4 + area) * 3 + limit]) }
      }
      return mean(values)
    }
    return CocoMetrics(values: [
      averagePrecision(threshold: nil, area: 0, limit: 2), averagePrecision(threshold: 0, area: 0, limit: 2),
      averagePrecision(threshold: 5, area: 0, limit: 2), averagePrecision(threshold: nil, area: 1, limit: 2),
      averagePrecision(threshold: nil, area: 2, limit: 2), averagePrecision(threshold: nil, area: 3, limit: 2),
      averageRecall(area: 0, limit: 0), averageRecall(area: 0, limit: 1), averageRecall(area: 0, limit: 2),
      averageRecall(area: 1, limit: 2), averageRecall(area: 2, limit: 2), averageRecall(area: 3, limit: 2),
    ])
  }

  struct Pair: Hashable {
    let image: Int, category: Int
    init(_ image: Int, _ category: Int) {
      self.image = image
      self.category = category
    }
  }

  /// pycocotools' IoU of (x, y, w, h) boxes; against a crowd box, intersection over the detection's area.
  static func iou(_ detection: [Double], _ truth: [Double], crowd: Bool) -> Double {
    let width = min(detection[0] + detection[2], truth[0] + truth[2]) - max(detection[0], truth[0])
    guard width > 0 else { return 0 }
    let height = min(detection[1] + detection[3], truth[1] + truth[3]) - max(detection[1], truth[1])
    guard height > 0 else { return 0 }
    let intersection = width * height
    let union = crowd ? detection[2] * detection[3] : detection[2] * detection[3] + truth[2] * truth[3] - intersection
    return intersection / union
  }

  /// Stable order of indices by decreasing key (numpy's argsort(-x, kind="mergesort")).
  static func stableDescending(_ keys: [Double]) -> [Int] {
    keys.indices.sorted { keys[$0] != keys[$1] ? keys[$0] > keys[$1] : $0 < $1 }
  }

  static func evaluateImage(
    groundTruth: [CocoAnnotation], detections: [CocoDetection], range: (Double, Double), maxDetections: Int
  ) -> ImageResult? {
    guard !groundTruth.isEmpty || !detections.isEmpty else { return nil }
    let ignoredFlags = groundTruth.map { $0.isCrowd || $0.area < range.0 || $0.area > range.1 }
    // Non-ignored ground truth first, keeping the original order within each group (stable sort on the flag).
    let truthOrder = groundTruth.indices.sorted { (ignoredFlags[$0] ? 1 : 0, $0) < (ignoredFlags[$1] ? 1 : 0, $1) }
    let truths = truthOrder.map { groundTruth[$0] }, truthIgnored = truthOrder.map { ignoredFlags[$0] }
    let ranked = stableDescending(detections.map(\.score)).prefix(maxDetections).map { detections[$0] }
    let ious = ranked.map { detection in truths.map { iou(detection.bbox, $0.bbox, crowd: $0.isCrowd) } }
    var matched = [[Bool]](repeating: [Bool](repeating: false, count: ranked.count), count: iouThresholds.count)
    var ignored = matched
    for (thresholdIndex, threshold) in iouThresholds.enumerated() {
      var truthUsed = [Bool](repeating: false, count: truths.count)
      for detectionIndex in ranked.indices {
        var best = min(threshold, 1 - 1e-10)
        var match = -1
        for truthIndex in truths.indices {
          if truthUsed[truthIndex] && !truths[truthIndex].isCrowd { continue }
          if match > -1 && !truthIgnored[match] && truthIgnored[truthIndex] { break }
          if ious[detectionIndex][truthIndex] < best { continue }
          best = ious[detectionIndex][truthIndex]
          match = truthIndex
        }
        guard match > -1 else { continue }
        ignored[thresholdIndex][detectionIndex] = truthIgnored[match]
        // pycocotools records the matched ground-truth id and tests it for truth: an id of 0 counts as unmatched.
        matched[thresholdIndex][detectionIndex] = truths[match].id != 0
        truthUsed[match] = true
      }
    }
    for (detectionIndex, detection) in ranked.enumerated() {
      let area = detection.bbox[2] * detection.bbox[3]
      guard area < range.0 || area > range.1 else { continue }
      for thresholdIndex in iouThresholds.indices where !matched[thresholdIndex][detectionIndex] {
        ignored[thresholdIndex][detectionIndex] = true
      }
    }
    return ImageResult(
      detectionScores: ranked.map(\.score), detectionMatched: matched, detectionIgnored: ignored,
      groundTruthIgnored: truthIgnored)
  }

  static func accumulate(_ results: [ImageResult], limit: Int, store: (Int, [Double], Double) -> Void) {
    var scores: [Double] = [], matched = [[Bool]](repeating: [], count: iouThresholds.count)
    var ignored = matched
    for result in results {
      let count = min(limit, result.detectionScores.count)
      scores += result.detectionScores.prefix(count)
      for t in iouThresholds.indices {
        matched[t] += result.detectionMatched[t].prefix(count)
        ignored[t] += result.detectionIgnored[t].prefix(count)
      }
    }
    let positives = results.reduce(0) { $0 + $1.groundTruthIgnored.filter { !$0 }.count }
    guard positives > 0 else { return }
    let order = stableDescending(scores)
    for t in iouThresholds.indices {
      // Ignored detections keep their rank in the cumulative sums (as in pycocotools) but add to neither.
      var cumulativeRecall: [Double] = [], cumulativePrecision: [Double] = []
      var (tp, fp) = (0.0, 0.0)
      for index in order {
        if !ignored[t][index] { if matched[t][index] { tp += 1 } else { fp += 1 } }
        cumulativeRecall.append(tp / Double(positives))
        cumulativePrecision.append(tp / (fp + tp + Double.ulpOfOne))
      }
      for i in stride(from: cumulativePrecision.count - 1, to: 0, by: -1)
      where cumulativePrecision[i] > cumulativePrecision[i - 1] {
        cumulativePrecision[i - 1] = cumulativePrecision[i]
      }
      var interpolated = [Double](repeating: 0, count: recallThresholds.count)
      for (index, threshold) in recallThresholds.enumerated() {
        // numpy searchsorted(side="left"): the first position whose recall is ≥ the threshold.
        var low = 0, high = cumulativeRecall.count
        while low < high {
          let middle = (low + high) / 2
          if cumulativeRecall[middle] < threshold { low = middle + 1 } else { high = middle }
        }
        guard low < cumulativePrecision.count else { break }
        interpolated[index] = cumulativePrecision[low]
      }
      store(t, interpolated, cumulativeRecall.last ?? 0)
    }
  }
}
