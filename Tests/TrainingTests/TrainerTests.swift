import Components
import Config
import Datasets
import Detection
import Experiments
import Foundation
import Imaging
import Language
import TensorCore
import TensorCoreTestSupport
import XCTest

@testable import Training

final class TrainerTests: XCTestCase {
  func testFlipSwapsLeftAndRightAndMovesSpans() {
    let caption = "the red circle left of a blue square"
    let (flipped, spans) = BatchBuilder.swapLeftRight(caption, spans: [[4..<14], [25..<36]])
    XCTAssertEqual(flipped, "the red circle right of a blue square")
    let scalars = Array(flipped.unicodeScalars)
    XCTAssertEqual(String(String.UnicodeScalarView(scalars[spans[0][0]])), "red circle")
    XCTAssertEqual(String(String.UnicodeScalarView(scalars[spans[1][0]])), "blue square")
    XCTAssertEqual(BatchBuilder.swapLeftRight("the bright star", spans: []).0, "the bright star", "whole words only")
  }

  func testCheckpointThatDoesNotFitNamesTheFileAndKeys() throws {
    Builtins.registerAll()
    let directory = NSTemporaryDirectory() + "ckpt-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let configPath = directory + "/m.yaml"
    try """
    model:
      backbone: {type: tiny_cnn, channels: [8, 8, 8, 8]}
      text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))"}
      head: {type: fcos, channels: 8, blocks: 1}
    """.write(toFile: configPath, atomically: true, encoding: .utf8)
    let loaded = try LoadedConfig(path: configPath)
    var state = try CheckedExperiment(loaded, shapesOnly: false).detector.state()
    let dropped = state.keys.sorted()[0]
    state[dropped] = nil
    state["extra.weight"] = Tensor(shape: [1], values: [0])
    try SafetensorsFile(tensors: state).write(path: directory + "/bad.safetensors")
    XCTAssertThrowsError(try TrainedModel.load(loaded, checkpoint: directory + "/bad.safetensors")) { error in
      let text = "\(error)"
      XCTAssertTrue(text.hasPrefix(directory + "/bad.safetensors: does not fit the model of"), text)
      XCTAssertTrue(text.contains(dropped) && text.contains("extra.weight"), text)
    }
    XCTAssertThrowsError(try TrainedModel.load(loaded, checkpoint: directory + "/none.safetensors")) { error in
      XCTAssertEqual("\(error)", directory + "/none.safetensors: checkpoint not found")
    }
  }

  func testPhrasePromptsSplitOnPeriods() throws {
    let prompt = try PromptInput(parsing: " red circle.blue square. . star").prompt
    XCTAssertEqual(prompt.text, "red circle. blue square. star")
    XCTAssertEqual(prompt.phraseSpans, [[0..<10], [12..<23], [25..<29]])
  }
}
