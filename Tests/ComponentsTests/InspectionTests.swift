import Components
import Config
import Detection
import Experiments
import Foundation
import XCTest

final class InspectionTests: XCTestCase {
  func testInspectOutputIsPinned() throws {
    let config = """
      model:
        seed: 3
        backbone: {type: tiny_cnn, channels: [8, 16, 16, 16], frozen_stages: 1}
        neck: {type: none}
        text_encoder: {type: class_embedding, classes: 3, hidden: 16}
        fusion: {type: none}
        head: {type: fcos, channels: 16, blocks: 1}
      """
    let (detector, _, _) = try assemble(config, shapesOnly: true)
    XCTAssertEqual(
      Inspection(detector).text,
      """
      GroundingDetector()  [9506 params, 9274 trainable]
        (backbone): TinyCNN(channels: [8, 16, 16, 16])  [6088 params, 5856 trainable]
          (stage0): Sequential()  [232 params, 0 trainable]
            (0): Conv2d(3 → 8, kernel: 3×3, stride: 4×4, padding: 1×1, bias: false)  [216 params, 0 trainable]
            (1): GroupNorm(groups: 4, channels: 8)  [16 params, 0 trainable]
            (2): Relu()
          (stage1): Sequential()  [1184 params]
            (0): Conv2d(8 → 16, kernel: 3×3, stride: 2×2, padding: 1×1, bias: false)  [1152 params]
            (1): GroupNorm(groups: 4, channels: 16)  [32 params]
            (2): Relu()
          (stage2): Sequential()  [2336 params]
            (0): Conv2d(16 → 16, kernel: 3×3, stride: 2×2, padding: 1×1, bias: false)  [2304 params]
            (1): GroupNorm(groups: 4, channels: 16)  [32 params]
            (2): Relu()
          (stage3): Sequential()  [2336 params]
            (0): Conv2d(16 → 16, kernel: 3×3, stride: 2×2, padding: 1×1, bias: false)  [2304 params]
            (1): GroupNorm(groups: 4, channels: 16)  [32 params]
            (2): Relu()
        (text_encoder): ClassEmbeddingEncoder(classes: 3, hidden: 16)  [48 params]
          (embedding): Embedding(3, 16)  [48 params]
        (head): FCOSHead(levels: [16ch/8, 16ch/16, 16ch/32], blocks: 1, fusion: NoFusion)  [3370 params]
          (tower): ModuleList()  [2352 params]
            (0): TowerBlock()  [2352 params]
              (fusion): NoFusion()
              (conv): PlainTowerConv()  [2352 params]
                (0): Conv2d(16 → 16, kernel: 3×3, padding: 1×1)  [2320 params]
                (1): GroupNorm(groups: 16, channels: 16)  [32 params]
                (2): Relu()
          (bbox_pred): Conv2d(16 → 4, kernel: 3×3, padding: 1×1)  [580 params]
          (centerness): Conv2d(16 → 1, kernel: 3×3, padding: 1×1)  [145 params]
          (scales): Module()  [3 params]
          (classifier): AlignmentClassifier(text 16 → regions 16)  [290 params]
            (projection): Linear(in: 16, out: 16, bias: true)  [272 params]

      slot          type              parameters   trainable      frozen  outputs
      backbone      tiny_cnn                6088        5856         232  16ch/8 16ch/16 16ch/32
      text_encoder  class_embedding           48          48           0  hidden 16
      fusion        none                       0           0           0
      head          fcos                    3370        3370           0
      total                                 9506        9274         232
      """)
  }

  func testInspectJSONHasSlotsAndTotals() throws {
    let (detector, _, _) = try assemble(tinyConfig, shapesOnly: true)
    let object = try JSONSerialization.jsonObject(with: Inspection(detector).json.data(using: .utf8)!) as! [String: Any]
    XCTAssertEqual(object["total_parameters"] as? Int, detector.parameterCount)
    let slots = object["slots"] as! [String: [String: Any]]
    XCTAssertEqual(Set(slots.keys), ["backbone", "text_encoder", "fusion", "head"])
    XCTAssertEqual((slots["backbone"]!["outputs"] as! [[String: Int]]).map { $0["stride"]! }, [8, 16, 32])
    XCTAssertNotNil(object["tree"] as? String)
  }
}

final class GLIPArchitectureTests: XCTestCase {
  /// The official GLIP architectures' counts without the unused legacy `cls_logits` (VLDyHead: 1×1 box and
  /// centerness branches; 3×3 there would add 10,240).
  func testGLIPConfigsHaveTheOfficialParameterCounts() throws {
    let glip = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("configs/glip")
    for (name, expected) in [("glip_t_a", 151_409_966), ("glip_t_b", 231_759_662)] {
      let experiment = try CheckedExperiment(
        try LoadedConfig(path: glip.appendingPathComponent("\(name).yaml").path), shapesOnly: true)
      XCTAssertEqual(Inspection(experiment.detector).totalParameters, expected, name)
      let boxBranch = experiment.detector.namedParameters().first { $0.key == "head.bbox_pred.weight" }
      XCTAssertEqual(boxBranch?.parameter.shape, [4, 256, 1, 1], name)
    }
  }
}
