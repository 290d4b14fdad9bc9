import TensorCore

/// GLIP's inference for a dense head, as separate steps:
///
/// 1. `phraseScore`: a phrase's score at a location is the mean probability of its tokens.
/// 2. `candidates`: per level, scores above `scoreThreshold`, rescored √(score · centerness) when the head has a
///    centerness branch, the best `preNMSTopK` kept.
/// 3. decoding at the locations' references, and `clip`ping to the image.
/// 4. `select`: class-aware (per-phrase) NMS at `nmsThreshold`, then the best `maxDetections`.
public struct DensePostProcessor: Sendable {
  public var scoreThreshold: Float
  public var preNMSTopK: Int
  public var nmsThreshold: Float
  public var maxDetections: Int
  /// maskrcnn-benchmark's +1 box sizes in NMS.
  public var legacyPlusOne: Bool

  public init(
    scoreThreshold: Float = 0.05, preNMSTopK: Int = 1000, nmsThreshold: Float = 0.6, maxDetections: Int = 100,
    legacyPlusOne: Bool = false
  ) {
    self.scoreThreshold = scoreThreshold
    self.preNMSTopK = preNMSTopK
    self.nmsThreshold = nmsThreshold
    self.maxDetections = maxDetections
    self.legacyPlusOne = legacyPlusOne
  }

  /// One scored location of one level.
  public struct Candidate: Equatable, Sendable {
    public var score: Float
    public var position: Int
    public var phrase: Int
  }

  /// The mean of `probabilities[position · tokenCount + t]` over the phrase's tokens `t` (non-empty).
  public static func phraseScore(_ probabilities: [Float], position: Int, tokenCount: Int, tokens: [Int]) -> Float {
    tokens.reduce(0) { $0 + probabilities[position * tokenCount + $1] } / Float(tokens.count)
  }

  /// The kept candidates of one level, best first: probabilities `[area · tokenCount]` row-major by location,
  /// centerness probabilities `[area]` (nil without a centerness branch), phrases as token lists (empty ones never
  /// score).
  public func candidates(probabilities: [Float], centerness: [Float]?, area: Int, tokenCount: Int, phrases: [[Int]])
    -> [Candidate]
  {
    var candidates: [Candidate] = []
    for position in 0..<area {
      for (phrase, tokens) in phrases.enumerated() where !tokens.isEmpty {
        let score = DensePostProcessor.phraseScore(
          probabilities, position: position, tokenCount: tokenCount, tokens: tokens)
        guard score > scoreThreshold else { continue }
        candidates.append(
          Candidate(
            score: centerness.map { (score * $0[position]).squareRoot() } ?? score, position: position, phrase: phrase))
      }
    }
    candidates.sort { $0.score > $1.score }
    return Array(candidates.prefix(preNMSTopK))
  }

  /// `box` clamped to an image of `imageSize` (height, width): x to [0, width] and y to [0, height], or with
  /// `legacyPlusOne` to [0, width − 1] and [0, height − 1] (maskrcnn-benchmark's `clip_to_image`).
  public static func clip(_ box: [Float], imageSize: (Int, Int), legacyPlusOne: Bool = false) -> [Float] {
    let extra: Float = legacyPlusOne ? 1 : 0
    let (right, bottom) = (Float(imageSize.1) - extra, Float(imageSize.0) - extra)
    return [
      max(0, min(right, box[0])), max(0, min(bottom, box[1])), max(0, min(right, box[2])), max(0, min(bottom, box[3])),
    ]
  }

  /// Indices of the detections kept, best first: class-aware NMS, then those scoring at least the
  /// `maxDetections`-th best score (GLIP's `kthvalue` cut, so detections tied with the last one are kept).
  public func select(boxes: [[Float]], scores: [Float], phrases: [Int]) -> [Int] {
    let kept = BoxOps.batchedNMS(
      boxes: boxes, scores: scores, labels: phrases, iouThreshold: nmsThreshold, legacyPlusOne: legacyPlusOne)
    guard kept.count > maxDetections, maxDetections > 0 else { return Array(kept.prefix(max(maxDetections, 0))) }
    let cut = scores[kept[maxDetections - 1]]
    return kept.filter { scores[$0] >= cut }
  }

  /// The detections of image `index` of a batch's head outputs; `phrases` lists each phrase's token positions and
  /// `imageSize` is (height, width).
  public func detections(
    _ outputs: HeadOutputs, image index: Int, phrases: [[Int]], imageSize: (Int, Int), locations: any LocationScheme,
    coder: any BoxCoder
  ) -> [Detection] {
    var boxes: [[Float]] = [], scores: [Float] = [], labels: [Int] = []
    for (level, output) in outputs.boxRegression.enumerated() {
      let (height, width) = (output.shape[2], output.shape[3])
      let area = height * width
      func probabilities(_ maps: [Tensor]) -> [Float] {
        maps[level].slice(axis: 0, start: index, end: index + 1).sigmoid().scalars
      }
      let kept = candidates(
        probabilities: probabilities(outputs.logits),
        centerness: outputs.centerness.isEmpty ? nil : probabilities(outputs.centerness), area: area,
        tokenCount: outputs.logits[level].shape[2], phrases: phrases)
      guard !kept.isEmpty else { continue }
      let regression = output.slice(axis: 0, start: index, end: index + 1).reshaped([4, area]).transposed()
        .indexSelect(axis: 0, indices: Tensor(kept.map { Float($0.position) }))
      let references = Tensor(
        shape: [kept.count, 4],
        values: kept.flatMap { locations.reference(level: level, position: $0.position, width: width) })
      let decoded = coder.decode(regression, references: references).scalars
      for (row, candidate) in kept.enumerated() {
        boxes.append(
          DensePostProcessor.clip(
            Array(decoded[(row * 4)..<(row * 4 + 4)]), imageSize: imageSize, legacyPlusOne: legacyPlusOne))
        scores.append(candidate.score)
        labels.append(candidate.phrase)
      }
    }
    return select(boxes: boxes, scores: scores, phrases: labels).map {
      Detection(box: boxes[$0], score: scores[$0], phraseIndex: labels[$0])
    }
  }
}
