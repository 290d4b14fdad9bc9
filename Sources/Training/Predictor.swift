import Components
import Detection
import Foundation
import Imaging
import Language
import TensorCore

/// Runs a grounding detector on whole images: resizes to the training square, prompts, and maps boxes back to the
/// image's own pixels.
public struct Predictor {
  public let detector: GroundingDetector
  public let encoder: BertTextEncoder
  public let imageSize: Int

  public init(detector: GroundingDetector, imageSize: Int) throws {
    self.detector = detector
    self.encoder = try TrainedModel.tokenizingEncoder(of: detector)
    self.imageSize = imageSize
  }

  /// A prompt from phrases written as `"red circle. blue square"` (GLIP's ". " separator).
  public static func prompt(fromPhrases text: String) -> Prompt {
    let phrases = text.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    return PromptBuilder.detectionPrompt(classNames: phrases)
  }

  /// Detections for one image, best first, with `phraseIndex` indexing `prompt.phraseSpans`.
  public func detect(_ photo: RGBImage, prompt: Prompt) -> [Detection] {
    let image = ImageTransforms.resize(
      ImageTransforms.tensor(photo, format: detector.pixelFormat), height: imageSize, width: imageSize)
    let (tokens, encodings) = encoder.tokenize([prompt.text])
    let phraseTokens = PositiveMap.phraseTokens(prompt.phraseSpans, in: encodings[0])
    let scalars = Array(prompt.text.unicodeScalars)
    let names = prompt.phraseSpans.map { spans in
      spans.map { String(String.UnicodeScalarView(scalars[$0])) }.joined(separator: " ")
    }
    let phrases = zip(names, phraseTokens).map { PromptPhrase(text: $0, tokens: $1) }
    let (scaleX, scaleY) = (Float(photo.width) / Float(imageSize), Float(photo.height) / Float(imageSize))
    return detector.detect(image.unsqueezed(0), tokens: tokens, phrases: [phrases])[0].map { found in
      var detection = found
      detection.box = [found.box[0] * scaleX, found.box[1] * scaleY, found.box[2] * scaleX, found.box[3] * scaleY]
      return detection
    }
  }

  /// Draws the detections scoring at least `threshold` on a copy of `photo`.
  public static func annotate(_ photo: RGBImage, _ detections: [Detection], threshold: Float) -> RGBImage {
    var canvas = photo
    for (index, detection) in detections.enumerated() where detection.score >= threshold {
      let label = String(format: "%@ %.2f", detection.phrase, detection.score)
      Drawing.labelledBox(
        &canvas, detection.box, label: label, color: Drawing.palette[index % Drawing.palette.count])
    }
    return canvas
  }
}
