import Components
import Config
import Detection
import Experiments
import Foundation
import TensorCoreTestSupport
import XCTest

/// The fine-tuning recipes under configs/finetune load and assemble (from shapes, as `glip inspect` does), each
/// training what its name says from a checkpoint, with photos turned upright.
final class FinetuneConfigTests: XCTestCase {
  private let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("configs/finetune")

  /// Trainable parameters per recipe (GLIP-T (B) has 231,759,662; the demo model 6,388,810 of 28,989,962).
  private let expected: [String: (mode: TuningMode, trainable: Int)] = [
    "glip_t_full.yaml": (.full, 231_759_662),
    "glip_t_linear_probe.yaml": (.linearProbe, 198_919),
    "glip_t_prompt_tuning.yaml": (.promptTuning, 768_000),
    "small_from_ours.yaml": (.full, 6_388_810),
  ]

  func testEveryFinetuneConfigLoads() throws {
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
    XCTAssertEqual(Set(files), Set(expected.keys), "a recipe without an expectation here, or one missing")
    for name in files.sorted() {
      let path = folder.appendingPathComponent(name).path
      if name.hasPrefix("small") { _ = try Fixtures.pretrained("all-MiniLM-L6-v2/config.json") }
      let experiment = try CheckedExperiment(try LoadedConfig(path: path), shapesOnly: true)
      XCTAssertEqual(experiment.tuning.mode, expected[name]?.mode, name)
      XCTAssertEqual(experiment.detector.trainableParameterCount, expected[name]?.trainable, name)
      XCTAssertNotNil(experiment.initialCheckpoint, "\(name) starts from a checkpoint")
      XCTAssertTrue(experiment.data.sizing.exifOrientation, name)
      XCTAssertNil(experiment.data.sizing.square, "\(name) keeps the photos' aspect ratio")
      XCTAssertEqual(experiment.data.train.format, "coco", name)
    }
  }
}
