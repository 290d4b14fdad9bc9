import Detection
import NN
import TensorCore
import XCTest

/// The small inference details that decide whether official GLIP checkpoints give official detections.
final class OfficialInferenceDetailTests: XCTestCase {
  func testDetectionsTiedWithTheLastKeptOneAreKept() {
    let processor = DensePostProcessor(maxDetections: 2)
    let boxes = (0..<4).map { index in [Float(index) * 20, 0, Float(index) * 20 + 10, 10] }
    XCTAssertEqual(processor.select(boxes: boxes, scores: [0.9, 0.5, 0.5, 0.4], phrases: [0, 0, 0, 0]), [0, 1, 2])
    XCTAssertEqual(processor.select(boxes: boxes, scores: [0.9, 0.6, 0.5, 0.4], phrases: [0, 0, 0, 0]), [0, 1])
  }

  func testLegacyClippingStopsOnePixelInside() {
    let box: [Float] = [-5, -3, 700, 500]
    XCTAssertEqual(DensePostProcessor.clip(box, imageSize: (480, 640)), [0, 0, 640, 480])
    XCTAssertEqual(DensePostProcessor.clip(box, imageSize: (480, 640), legacyPlusOne: true), [0, 0, 639, 479])
  }

  func testStateDictIsTheModelEntryBesideTrainingState() {
    let weight = Tensor([1, 2])
    let file = ["model.module.backbone.w": weight, "optimizer.state.0.exp_avg": weight, "iteration": Tensor([3])]
    XCTAssertEqual(Array(PyTorchCheckpoint.stateDict(from: file).keys), ["module.backbone.w"])
    let plain = ["model.w": weight, "head.b": weight]
    XCTAssertEqual(
      Set(PyTorchCheckpoint.stateDict(from: plain).keys), ["model.w", "head.b"],
      "a model whose first module is named model is not unwrapped")
  }
}
