import Config
import Datasets
import Experiments
import Foundation
import Imaging
import Language
import TensorCore
import TensorCoreTestSupport
import Training
import XCTest

@testable import Detection

/// A reduced GLIP (B) checkpoint written by torch.save in the official layout (`{"model": {"module.…"}}` plus
/// training state) loads through configs/remaps/glip_official.yaml and gives the official reference's detections on a
/// real photo: same labels in the same order, boxes within 1e-3 px, scores within 1e-5
/// (scripts/reference/glip_official.py fixture).
final class OfficialGLIPTests: XCTestCase {
  func config() throws -> LoadedConfig {
    try LoadedConfig(
      text: """
        model:
          checkpoint_remap: configs/remaps/glip_official.yaml
          backbone: {type: swin, variant: custom, embed_dim: 16, depths: [1, 1, 2, 1], heads: [1, 2, 2, 4], window: 7, drop_path: 0}
          neck: {type: fpn, channels: 32, extra_levels: 2, extra_from: p5}
          text_encoder:
            type: bert
            vocab: "\(Fixtures.path("language/bert-tiny/vocab.txt"))"
            hidden: 32
            layers: 2
            heads: 2
            intermediate: 64
            max_positions: 64
            vocab_size: 1016
            max_tokens: 64
          fusion: {type: bi_attention, embed_dim: 64, heads: 4, dropout: 0}
          head:
            type: atss
            channels: 32
            blocks: 2
            dyhead: true
            dyhead_offsets: glip
            box_kernel: 1
            legacy_plus_one: true
            text_heads: 2
            score_threshold: 0.02
        data: {min_size: [160], max_size: 267, resample: pil_bilinear}
        """, displayPath: "official_tiny.yaml")
  }

  struct Expected: Decodable {
    var boxes: [[Double]]
    var scores: [Double]
    var labels: [Int]
  }

  func check(prompt: PromptInput, fixture: String) throws {
    let experiment = try TrainedModel.load(try config(), checkpoint: Fixtures.path("glip_official/tiny.pth"))
    let predictor = try Predictor(detector: experiment.detector, sizing: experiment.data.sizing)
    let photo = try ImageIO.read(path: Fixtures.path("images/chelsea.png"))
    let found = try predictor.detect(photo, prompts: try predictor.prompts(for: prompt))
    let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("glip_official/\(fixture).json")))
    let expected = try JSONDecoder().decode(Expected.self, from: data)
    XCTAssertEqual(found.map { $0.phraseIndex + 1 }, expected.labels, "labels and their order")
    for (index, (detection, box)) in zip(found, expected.boxes).enumerated() {
      for (ours, theirs) in zip(detection.box, box) {
        XCTAssertEqual(Double(ours), theirs, accuracy: 1e-3, "box \(index)")
      }
      XCTAssertEqual(Double(detection.score), expected.scores[index], accuracy: 1e-5, "score \(index)")
    }
  }

  func testClassPromptGivesTheOfficialDetections() throws {
    try check(prompt: try PromptInput(parsing: "cat. dog. chair"), fixture: "tiny_expected")
  }

  func testCaptionWithPhrasesGivesTheOfficialDetections() throws {
    try check(
      prompt: try PromptInput(parsing: "[a brown cat] sleeping on [a striped rug]"), fixture: "tiny_caption_expected")
  }

  func testIntermediatesMatchTheReference() throws {
    let experiment = try TrainedModel.load(try config(), checkpoint: Fixtures.path("glip_official/tiny.pth"))
    let detector = experiment.detector
    detector.eval()
    let reference = try SafetensorsFile.read(path: Fixtures.path("glip_official/tiny_expected.safetensors"))
    let photo = try ImageIO.read(path: Fixtures.path("images/chelsea.png"))
    let sizing = experiment.data.sizing
    let image = sizing.batch([sizing.prepare(photo, format: detector.pixelFormat)])
    assertClose(image, reference["image"]!, tolerance: 1e-5, "preprocessed image")
    let prompt = try detector.textEncoder.prompts(for: try PromptInput(parsing: "cat. dog. chair"))
    let tokens = try detector.textEncoder.tokenize(prompt).tokens
    let length = tokens.length
    XCTAssertEqual(tokens.ids.scalars, Array(reference["input_ids"]!.scalars.prefix(length)))
    let levels = withNoGrad { detector.imageFeatures(image) }
    for (index, level) in levels.enumerated() {
      assertClose(level, reference["fpn.\(index)"]!, tolerance: 1e-4, "FPN P\(index + 3)")
    }
    let outputs = withNoGrad { detector(image, tokens: tokens) }
    for level in 0..<5 {
      let logits = reference["logits.\(level)"]!.narrow(axis: 2, start: 0, length: length)
      assertClose(outputs.logits[level], logits, tolerance: 1e-4, "logits P\(level + 3)")
      assertClose(outputs.centerness[level], reference["centerness.\(level)"]!, tolerance: 1e-4, "centerness")
    }
  }

  /// `glip eval --batch-size` and `glip predict --batch-size`: images of different sizes run as one padded batch. The
  /// largest image pads to its own size, so its detections are those it gets alone; the smaller one's come back in
  /// its own pixels (its scores change: the padding enters DyHead's global pooling and the fusion's attention, as in
  /// GLIP's padded test batches).
  func testABatchOfPhotosOfDifferentSizesGivesEachItsOwnDetections() throws {
    let experiment = try TrainedModel.load(try config(), checkpoint: Fixtures.path("glip_official/tiny.pth"))
    let predictor = try Predictor(detector: experiment.detector, sizing: experiment.data.sizing)
    let photo = try ImageIO.read(path: Fixtures.path("images/chelsea.png"))
    // A square from the left: sized to 160 × 160, inside the 160 × 256 that the photo pads to.
    let (width, height) = (photo.height, photo.height)
    var pixels: [UInt8] = []
    for y in 0..<height { pixels += photo.pixels[(y * photo.width * 3)..<(y * photo.width * 3 + width * 3)] }
    let part = RGBImage(width: width, height: height, pixels: pixels)
    let prompts = try predictor.prompts(for: try PromptInput(parsing: "cat. dog. chair"))
    let batched = try predictor.detect([photo, part], prompts: prompts)
    let alone = try predictor.detect(photo, prompts: prompts)
    XCTAssertEqual(batched[0].map(\.phraseIndex), alone.map(\.phraseIndex))
    for (ours, theirs) in zip(batched[0], alone) {
      XCTAssertEqual(ours.score, theirs.score, accuracy: 1e-5)
      for (a, b) in zip(ours.box, theirs.box) { XCTAssertEqual(a, b, accuracy: 1e-3) }
    }
    XCTAssertEqual(predictor.textCache.encoded, 1, "one prompt, encoded once for the batch and the single image")
    XCTAssertEqual(predictor.textCache.reused, 1)
    XCTAssertFalse(batched[1].isEmpty)
    for detection in batched[1] {
      XCTAssertTrue(detection.box[0] >= 0 && detection.box[2] <= Float(width), "\(detection.box) in \(width) wide")
      XCTAssertTrue(detection.box[1] >= 0 && detection.box[3] <= Float(height), "\(detection.box) in \(height) high")
    }
  }

  /// A prompt repeated over a batch is encoded once and shared; the features are those of encoding every row.
  func testARepeatedPromptIsEncodedOnceWithTheSameFeatures() throws {
    let experiment = try TrainedModel.load(try config(), checkpoint: Fixtures.path("glip_official/tiny.pth"))
    let detector = experiment.detector
    detector.eval()
    let prompt = try detector.textEncoder.prompts(for: try PromptInput(parsing: "cat. dog. chair"))[0]
    let other = try detector.textEncoder.prompts(for: try PromptInput(parsing: "a striped rug"))[0]
    let repeated = try detector.textEncoder.tokenize([prompt, prompt, prompt]).tokens
    let mixed = try detector.textEncoder.tokenize([prompt, other]).tokens
    withNoGrad {
      assertClose(detector.sharedTextFeatures(repeated).hidden, detector.textFeatures(repeated).hidden, tolerance: 1e-5)
      assertClose(detector.sharedTextFeatures(repeated).mask, detector.textFeatures(repeated).mask, tolerance: 0)
      assertClose(detector.sharedTextFeatures(mixed).hidden, detector.textFeatures(mixed).hidden, tolerance: 0)
    }
  }
}
