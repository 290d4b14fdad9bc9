import Config
import NN

/// GLIP's tuning modes as named presets over parameter-key patterns (`train.mode`).
///
/// A preset skips the parts a model does not have (no error for `linear_probe` on a model without fusion); patterns a
/// user writes in `train.freeze` / `train.unfreeze` must match something.
public enum TuningMode: String, ConfigEnum, Sendable {
  case full
  case linearProbe = "linear_probe"
  case promptTuning = "prompt_tuning"
  case languagePromptV1 = "language_prompt_v1"
  case languagePromptV3 = "language_prompt_v3"
  case languagePromptV4 = "language_prompt_v4"
  case custom

  static let linearProbeSet = [
    "head.bbox_pred.*", "head.centerness.*", "head.classifier.projection.*", "head.classifier.log_scale",
    "head.classifier.bias_lang", "head.classifier.bias0",
  ]

  /// Patterns left trainable; nil means every parameter.
  public var trainablePatterns: [String]? {
    switch self {
    case .full, .custom: return nil
    case .linearProbe: return TuningMode.linearProbeSet
    case .promptTuning: return ["prompt_offset"]
    case .languagePromptV1: return ["text_encoder.*"]
    case .languagePromptV3: return ["text_encoder.*"] + TuningMode.linearProbeSet
    case .languagePromptV4: return TuningMode.linearProbeSet + ["prompt_offset"]
    }
  }

  /// Applies the preset, then the user's freeze and unfreeze patterns (in that order).
  public func apply(to model: Module, freeze: [String] = [], unfreeze: [String] = []) throws {
    if let patterns = trainablePatterns {
      model.freezeAll()
      let keys = model.namedParameters()
      for pattern in patterns.map(KeyPattern.init) {
        for entry in keys where pattern.matches(entry.key) { entry.parameter.isFrozen = false }
      }
    }
    if !freeze.isEmpty { try model.freeze(matching: freeze) }
    if !unfreeze.isEmpty { try model.unfreeze(matching: unfreeze) }
  }
}
