import Datasets
import Detection
import Foundation
import Imaging
import Language
import TensorCore

/// Runs a grounding detector on whole images: sizes them as `sizing` says (the training square, or GLIP's
/// aspect-preserving rule with padding), prompts through the detector's text encoder, and maps boxes back to the
/// image's own pixels.
public struct Predictor {
  public let detector: GroundingDetector
  public let sizing: ImageSizing
  /// How many images evaluation runs as one batch (`glip eval --batch-size`); 1 runs each image alone.
  public var batchSize = 1
  /// The prompts' text features, encoded once per distinct prompt for as long as this predictor lives (its detector's
  /// weights do not change meanwhile).
  public let textCache = TextFeatureCache()

  /// Puts `detector` in evaluation mode: no dropout, normalisation from running statistics.
  public init(detector: GroundingDetector, sizing: ImageSizing) throws {
    detector.eval()
    self.detector = detector
    self.sizing = sizing
  }

  /// A predictor that squashes images to a `imageSize` square, as training does.
  public init(detector: GroundingDetector, imageSize: Int) throws {
    try self.init(detector: detector, sizing: ImageSizing(square: imageSize))
  }

  /// `input` as the prompts the text encoder takes: a long phrase list is chunked; labels index `input`'s phrases.
  public func prompts(for input: PromptInput) throws -> [Prompt] {
    try detector.textEncoder.prompts(for: input)
  }

  /// The detections of `photo` for class names, prompted in chunks that fit the text encoder; `phraseIndex` indexes
  /// `classNames`.
  public func detect(_ photo: RGBImage, classNames: [String]) throws -> [Detection] {
    try detect(photo, prompts: try prompts(for: .phrases(classNames)))
  }

  /// Detections for one image over several prompts (the chunks of one long prompt), best first, at most
  /// `maxDetections`; `phraseIndex` is each phrase's label (its index in the whole prompt).
  public func detect(_ photo: RGBImage, prompts: [Prompt], maxDetections: Int = 100) throws -> [Detection] {
    try detect([photo], prompts: prompts, maxDetections: maxDetections)[0]
  }

  /// Detections for one image, best first, with `phraseIndex` the phrase's label in `prompt`.
  public func detect(_ photo: RGBImage, prompt: Prompt) throws -> [Detection] {
    try detect([photo], prompt: prompt)[0]
  }

  /// Detections for several images run as one batch, each over every chunk of one prompt: per image, best first, at
  /// most `maxDetections`. The images are padded to the largest of them (rounded up to the sizing's divisibility), as
  /// GLIP's test batches are, so an image's scores can differ slightly from a batch of its own where the padding
  /// reaches its border.
  public func detect(_ photos: [RGBImage], prompts: [Prompt], maxDetections: Int = 100) throws -> [[Detection]] {
    if prompts.count == 1 { return try detect(photos, prompt: prompts[0]) }
    var found = [[Detection]](repeating: [], count: photos.count)
    for prompt in prompts {
      for (index, detections) in try detect(photos, prompt: prompt).enumerated() { found[index] += detections }
    }
    // Stable: equal scores keep prompt order.
    return found.map { detections in
      let ranked = detections.enumerated().sorted { ($0.element.score, $1.offset) > ($1.element.score, $0.offset) }
      return ranked.prefix(maxDetections).map(\.element)
    }
  }

  /// Reads the images at `paths` and detects over the chunks of one prompt, `batchSize` images at a time; `body` gets
  /// each image's index, photo and detections, in order.
  public func detect(
    paths: [String], prompts: [Prompt], _ body: (Int, RGBImage, [Detection]) throws -> Void
  ) throws {
    for start in stride(from: 0, to: paths.count, by: max(1, batchSize)) {
      let indices = start..<min(paths.count, start + max(1, batchSize))
      let photos = try indices.map { try sizing.read(path: paths[$0]) }
      for (index, (photo, detections)) in zip(indices, zip(photos, try detect(photos, prompts: prompts))) {
        try body(index, photo, detections)
      }
    }
  }

  /// Detections for several images as one batch under one prompt, in each image's own pixels.
  public func detect(_ photos: [RGBImage], prompt: Prompt) throws -> [[Detection]] {
    try detect(photos, eachWith: Array(repeating: prompt, count: photos.count))
  }

  /// Detections for several images as one batch, image i under `prompts[i]`, in each image's own pixels.
  public func detect(_ photos: [RGBImage], eachWith prompts: [Prompt]) throws -> [[Detection]] {
    precondition(photos.count == prompts.count, "detect: \(photos.count) images but \(prompts.count) prompts")
    let prepared = photos.map { sizing.prepare($0, format: detector.pixelFormat) }
    let found = try detector.detect(
      sizing.batch(prepared), prompts: prompts, validSizes: prepared.map(\.validSize), textCache: textCache)
    return zip(found, prepared).map { found, prepared in
      found.map { found in
        var detection = found
        let (x, y) = (prepared.scaleX, prepared.scaleY)
        detection.box = [found.box[0] * x, found.box[1] * y, found.box[2] * x, found.box[3] * y]
        return detection
      }
    }
  }

  /// `detections.json` of `glip predict`: `[{"image": path, "detections": [{"box": [x1, y1, x2, y2], "score": s,
  /// "phrase": "...", "phrase_index": i}]}]`, one object per image in order, boxes in the image's pixels.
  public static func detectionsJSON(_ results: [(image: String, detections: [Detection])]) -> String {
    func quoted(_ text: String) -> String {
      let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
      return String(String(data: data, encoding: .utf8)!.dropFirst().dropLast())
    }
    let images = results.map { image, detections in
      let rows = detections.map { detection in
        let box = detection.box.map { String(format: "%.2f", $0) }.joined(separator: ", ")
        return "    {\"box\": [\(box)], \"score\": \(String(format: "%.4f", detection.score)), "
          + "\"phrase\": \(quoted(detection.phrase)), \"phrase_index\": \(detection.phraseIndex)}"
      }
      let list = rows.isEmpty ? "[]" : "[\n" + rows.joined(separator: ",\n") + "\n  ]"
      return "  {\"image\": \(quoted(image)), \"detections\": \(list)}"
    }
    return "[\n" + images.joined(separator: ",\n") + "\n]\n"
  }

  /// Draws the detections (best first) scoring at least `threshold` on a copy of `photo`.
  public static func annotate(_ photo: RGBImage, _ detections: [Detection], threshold: Float) -> RGBImage {
    var canvas = photo
    // Lowest scores first, so the best boxes and labels are drawn on top; one colour per phrase.
    for detection in detections.reversed() where detection.score >= threshold {
      let label = String(format: "%@ %.2f", detection.phrase, detection.score)
      Drawing.labelledBox(
        &canvas, detection.box, label: label, color: Drawing.palette[detection.phraseIndex % Drawing.palette.count])
    }
    return canvas
  }
}
