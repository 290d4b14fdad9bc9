import Components
import Config
import Detection
import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

/// A reduced GLIP (B) — Swin, FPN, BERT, two tower blocks of X-MHA + BERT layer + DyHead, ATSS with the alignment
/// classifier — against a PyTorch model assembled from torchvision, HF and GLIP's formulas (scripts/reference/heads.py).
final class GLIPEndToEndTests: XCTestCase {
  func testReducedGLIPBMatchesItsPyTorchReference() throws {
    let config = """
      model:
        backbone: {type: swin, variant: custom, embed_dim: 8, depths: [2, 2, 2, 2], heads: [1, 2, 2, 4], window: 2, drop_path: 0}
        neck: {type: fpn, channels: 32, extra_levels: 2}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))"}
        fusion: {type: bi_attention, embed_dim: 32, heads: 4, dropout: 0}
        head: {type: atss, channels: 32, blocks: 2, dyhead: true, text_heads: 4}
      """
    let (detector, usage, root) = try assemble(config)
    XCTAssertEqual(usage.unknownKeys(in: root), [])
    let reference = try SafetensorsFile.read(path: Fixtures.path("heads/glip_small.safetensors"))
    var state: [String: Tensor] = [:]
    for (key, value) in reference.tensors {
      if key.hasPrefix("swin."), let mapped = SwinTests.officialKey(String(key.dropFirst(5))) {
        state["backbone." + mapped] = value
      } else if key.hasPrefix("outnorm.") {
        let parts = key.split(separator: ".")
        state["backbone.norm\(parts[1]).\(parts[2])"] = value
      } else if key.hasPrefix("fpn.") {
        let mapped = String(key.dropFirst(4)).replacingOccurrences(of: "inner_blocks.", with: "lateral.")
          .replacingOccurrences(of: "layer_blocks.", with: "output.").replacingOccurrences(
            of: "extra_blocks.", with: ""
          )
          .replacingOccurrences(of: ".0.weight", with: ".weight").replacingOccurrences(of: ".0.bias", with: ".bias")
        state["neck." + mapped] = value
      } else if key.hasPrefix("head.") {
        state[key] = value
      }
    }
    let report = try detector.load(parameters: state, verify: [.noUnusedKeys, .shapes])
    XCTAssertEqual(
      report.missingKeys.filter { !$0.hasPrefix("text_encoder.") }, [], "everything but BERT comes from the fixture")
    detector.eval()
    let tokens = TokenBatch(ids: reference["input_ids"]!, attentionMask: reference["attention_mask"]!)
    let outputs = withNoGrad { detector(reference["image"]!.reshaped([1, 3, 128, 128]), tokens: tokens) }
    for level in 0..<5 {
      assertClose(
        outputs.boxRegression[level], reference["output.deltas.\(level)"]!, tolerance: 1e-4, "deltas P\(level + 3)")
      assertClose(
        outputs.centerness[level], reference["output.centerness.\(level)"]!, tolerance: 1e-4, "centerness P\(level + 3)"
      )
      assertClose(outputs.logits[level], reference["output.logits.\(level)"]!, tolerance: 1e-4, "logits P\(level + 3)")
    }
  }
}
