import Components
import Config
import Detection
import Foundation
import Language
import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

final class BertTests: XCTestCase {
  private var repository: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  private var remap: RemapTable { try! RemapTable(yaml: BuiltinRemaps.hfBert, file: "hf_bert.yaml") }

  private func compareWithHuggingFace(modelDirectory: String, fixture: String, tolerance: Float) throws {
    var generator = SeededGenerator(seed: 0)
    let encoder = try BertTextEncoder.load(modelDirectory: modelDirectory, remap: remap, generator: &generator)
    encoder.eval()
    let reference = try SafetensorsFile.read(path: Fixtures.path(fixture))
    let tokens = TokenBatch(ids: reference["input_ids"]!, attentionMask: reference["attention_mask"]!)
    let hidden = withNoGrad { encoder.hiddenStates(tokens).last! }
    let expected = reference["hidden"]!
    XCTAssertEqual(hidden.shape, expected.shape)
    let maxError = zip(hidden.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? .infinity
    XCTAssertLessThanOrEqual(maxError, tolerance, "max abs difference from HF BertModel (padding included)")
  }

  func testTinyHuggingFaceCheckpointLoadsThroughTheRemapAndMatches() throws {
    try compareWithHuggingFace(
      modelDirectory: Fixtures.path("language/bert-tiny"), fixture: "language/bert_tiny_outputs.safetensors",
      tolerance: 1e-4)
    let checkpoint = try SafetensorsFile.read(path: Fixtures.path("language/bert-tiny/model.safetensors"))
    let ignored = try remap.apply(checkpoint.tensors).ignored
    XCTAssertTrue(ignored.contains("bert.pooler.dense.weight"))
    XCTAssertTrue(ignored.contains { $0.hasPrefix("cls.") })
  }

  func testAllMiniLMRealWeightsMatchHuggingFace() throws {
    let directory = URL(fileURLWithPath: try Fixtures.pretrained("all-MiniLM-L6-v2/model.safetensors"))
      .deletingLastPathComponent().path
    try compareWithHuggingFace(
      modelDirectory: directory, fixture: "language/minilm_outputs.safetensors", tolerance: 1e-4)
  }

  func testBertBaseKeysAndParameterCountMatchHuggingFace() throws {
    struct KeyList: Decodable {
      struct Entry: Decodable {
        let key: String
        let shape: [Int]
      }
      let keys: [Entry]
      let parameters_with_pooler: Int
      let parameters_without_pooler: Int
    }
    let list = try JSONDecoder().decode(
      KeyList.self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("language/bert_base_keys.json"))))
    var generator = SeededGenerator(seed: 0)
    let encoder = withShapesOnly { BertTextEncoder(configuration: BertConfiguration(), generator: &generator) }
    let ours = Dictionary(uniqueKeysWithValues: encoder.namedParameters().map { ($0.key, $0.parameter.shape) })
    var expected: [String: [Int]] = [:]
    for entry in list.keys { if let key = remap.map(entry.key) { expected[key] = entry.shape } }
    XCTAssertEqual(ours, expected)
    XCTAssertEqual(encoder.parameterCount, list.parameters_without_pooler)
    XCTAssertEqual(encoder.parameterCount, 108_891_648)
  }

  func testRemapTableFileMatchesTheBuiltInAndRejectsUnknownKeys() throws {
    for (name, text) in BuiltinRemaps.files {
      let file = try String(contentsOf: repository.appendingPathComponent("configs/remaps/\(name)"), encoding: .utf8)
      XCTAssertEqual(file, text, "configs/remaps/\(name) differs from the built-in table")
      XCTAssertNoThrow(try RemapTable(yaml: text, file: name))
    }
    let committed = try FileManager.default.contentsOfDirectory(
      atPath: repository.appendingPathComponent("configs/remaps").path)
    XCTAssertEqual(Set(committed), Set(BuiltinRemaps.files.keys))
    XCTAssertEqual(
      remap.map("bert.encoder.layer.0.attention.output.LayerNorm.gamma"),
      "encoder.layer.0.attention.output.LayerNorm.weight")
    XCTAssertNil(remap.map("embeddings.position_ids"))
    XCTAssertThrowsError(try RemapTable(yaml: "strip_prefix: [bert.]\n", file: "r.yaml")) { error in
      XCTAssertEqual(
        "\(error)", "r.yaml:1:1: unknown key 'strip_prefix' at the top level (did you mean 'strip_prefixes'?)")
    }
  }

  func testConfigAssemblesBertBaseFromShapesAndReportsMissingModelDirectories() throws {
    let config = """
      model:
        backbone: {type: tiny_cnn}
        text_encoder: {type: bert, freeze: true}
        head: {type: fcos}
      """
    let (detector, _, _) = try assemble(config, shapesOnly: true)
    XCTAssertEqual(Inspection(detector).slots.first { $0.name == "text_encoder" }?.parameters, 108_891_648)
    XCTAssertThrowsError(
      try assemble(config.replacingOccurrences(of: "type: bert,", with: "type: bert, model_dir: nowhere,"))
    ) {
      error in
      XCTAssertTrue(
        "\(error)".hasPrefix("test.yaml:3:41: bert: model directory 'nowhere' has no config.json"), "\(error)")
    }
  }

  func testFrozenEncoderRunsWithoutAGraphAndMasksPadding() throws {
    var generator = SeededGenerator(seed: 0)
    let encoder = try BertTextEncoder.load(
      modelDirectory: Fixtures.path("language/bert-tiny"), remap: remap, generator: &generator)
    encoder.eval()
    encoder.freezeAll()
    let (batch, encodings) = try encoder.tokenize(["a cat", "the small red circle"])
    XCTAssertEqual(encodings[0].tokens, ["[CLS]", "a", "cat", "[SEP]"])
    let features = encoder.encode(batch)
    XCTAssertFalse(features.hidden.requiresGrad)
    let width = encoder.hiddenSize
    let padded = features.hidden.slice(axis: 0, start: 0, end: 1).slice(axis: 1, start: 4).scalars
    XCTAssertEqual(padded, [Float](repeating: 0, count: padded.count))
    XCTAssertEqual(features.hidden.shape, [2, batch.length, width])
  }
}
