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
    if prompts.count == 1 { return try detect(photo, prompt: prompts[0]) }
    let found = try prompts.flatMap { try detect(photo, prompt: $0) }
    // Stable: equal scores keep prompt order.
    let ranked = found.enumerated().sorted { ($0.element.score, $1.offset) > ($1.element.score, $0.offset) }
    return ranked.prefix(maxDetections).map(\.element)
  }

  /// Detections for one image, best first, with `phraseIndex` the phrase's label in `prompt`.
  public func detect(_ photo: RGBImage, prompt: Prompt) throws -> [Detection] {
    let prepared = sizing.prepare(photo, format: detector.pixelFormat)
    let found = try detector.detect(sizing.batch([prepared]), prompts: [prompt], validSizes: [prepared.validSize])
    return found[0].map { found in
      var detection = found
      let (x, y) = (prepared.scaleX, prepared.scaleY)
      detection.box = [found.box[0] * x, found.box[1] * y, found.box[2] * x, found.box[3] * y]
      return detection
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
