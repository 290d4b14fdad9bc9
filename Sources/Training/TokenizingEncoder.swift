import Components
import Detection

extension Predictor {
  /// The detector's text encoder, which must tokenise text (captions and prompts) itself.
  public static func tokenizingEncoder(of detector: GroundingDetector) throws -> BertTextEncoder {
    guard let encoder = detector.textEncoder as? BertTextEncoder, encoder.tokenizer != nil else {
      throw TrainingError(
        message: "captions and prompts need a bert text encoder with a model_dir (they are tokenised)")
    }
    return encoder
  }
}
