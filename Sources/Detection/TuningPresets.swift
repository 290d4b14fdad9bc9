import Config
import NN

/// GLIP's tuning modes as named presets over parameter-key patterns (`train.mode`).
///
/// A preset skips the parts a model does not have (no error for `linear_probe` on a model without fusion); patterns a
/// user writes in `train.freeze` / `train.unfreeze` must match something. `apply` documents the freezing order.
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

  /// Applies the one freezing order. The model's own settings (a slot's `freeze: true`, a backbone's
  /// `frozen_stages`) froze parts at assembly; then:
  /// 1. the preset freezes every parameter outside its trainable set. It never unfreezes: a parameter it would train
  ///    that the model's settings froze is an error, unless `unfreeze` names it;
  /// 2. `freeze` patterns freeze more;
  /// 3. `unfreeze` patterns unfreeze what they match, except fixed parameters (frozen batch norm), which never train.
  public func apply(to model: Module, freeze: [String] = [], unfreeze: [String] = []) throws {
    if let patterns = trainablePatterns {
      let trained = patterns.map(KeyPattern.init), explicit = unfreeze.map(KeyPattern.init)
      let named = model.namedParameters()
      let conflicts = named.filter { entry in
        !entry.parameter.isFixed && entry.parameter.isFrozen && trained.contains { $0.matches(entry.key) }
          && !explicit.contains { $0.matches(entry.key) }
      }
      if !conflicts.isEmpty { throw TuningError.presetTrainsFrozen(self, keys: conflicts.map(\.key)) }
      for entry in named where !trained.contains(where: { $0.matches(entry.key) }) { entry.parameter.isFrozen = true }
    }
    if !freeze.isEmpty { try model.freeze(matching: freeze) }
    if !unfreeze.isEmpty { try model.unfreeze(matching: unfreeze) }
  }
}

/// A tuning preset that contradicts the model's own freezing.
public enum TuningError: Error, CustomStringConvertible, Equatable {
  case presetTrainsFrozen(TuningMode, keys: [String])

  public var description: String {
    switch self {
    case .presetTrainsFrozen(let mode, let keys):
      let more = keys.count > 1 ? " and \(keys.count - 1) more" : ""
      return "\(mode.rawValue) trains \(keys[0])\(more), which the model section froze (a slot's freeze: true or a "
        + "backbone's frozen_stages); unfreeze it there, or name it in train.unfreeze"
    }
  }
}
