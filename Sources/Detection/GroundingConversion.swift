import Foundation
import NN
import TensorCore

/// Reuses a detector's weights in its grounding variant: every parameter and buffer except the classifier and the
/// text encoder must exist in the grounding model with the same shape; those two parts are skipped (the grounding
/// model brings its own language side and region–word scoring).
public enum GroundingConversion {
  public static let skippedPrefixes = ["head.classifier.", "text_encoder."]

  /// The detector state to load into `grounding`, and the keys skipped. Throws a `ModuleError` naming every key of
  /// the shared part that is missing from the grounding model or has another shape.
  public static func convert(detectorState: [String: Tensor], into grounding: Module) throws -> (
    state: [String: Tensor], skipped: [String]
  ) {
    var kept: [String: Tensor] = [:]
    var skipped: [String] = []
    for (key, tensor) in detectorState {
      if skippedPrefixes.contains(where: key.hasPrefix) { skipped.append(key) } else { kept[key] = tensor }
    }
    // Strict for the shared part: nothing unused, no shape mismatch; the grounding model's own classifier and text
    // encoder are the only keys allowed to be missing.
    let target = grounding.state()
    var report = LoadReport()
    for (key, tensor) in kept.sorted(by: { $0.key < $1.key }) {
      guard let expected = target[key] else {
        report.unusedKeys.append(key)
        continue
      }
      if expected.shape != tensor.shape { report.shapeMismatches.append((key, expected.shape, tensor.shape)) }
    }
    report.missingKeys = target.keys.filter { key in
      kept[key] == nil && !skippedPrefixes.contains(where: key.hasPrefix)
    }.sorted()
    guard report.isEmpty else { throw ModuleError.loadMismatch(report) }
    return (kept, skipped.sorted())
  }
}
