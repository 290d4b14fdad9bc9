import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

final class ScheduleTests: XCTestCase {
  func testWarmupMultistepAndCosine() {
    let warmup = LinearWarmup(iterations: 10, startFactor: 0.1)
    XCTAssertEqual(warmup.factor(at: 0), 0.1, accuracy: 1e-6)
    XCTAssertEqual(warmup.factor(at: 5), 0.55, accuracy: 1e-6)
    XCTAssertEqual(warmup.factor(at: 10), 1)
    let steps = MultiStepSchedule(milestones: [20, 10], gamma: 0.1)
    XCTAssertEqual(steps.factor(at: 9), 1)
    XCTAssertEqual(steps.factor(at: 10), 0.1, accuracy: 1e-7)
    XCTAssertEqual(steps.factor(at: 25), 0.01, accuracy: 1e-8)
    let cosine = CosineSchedule(iterations: 100, minFactor: 0.1)
    XCTAssertEqual(cosine.factor(at: 0), 1, accuracy: 1e-6)
    XCTAssertEqual(cosine.factor(at: 50), 0.55, accuracy: 1e-6)
    XCTAssertEqual(cosine.factor(at: 100), 0.1, accuracy: 1e-6)
    let composed = ComposedSchedule([warmup, steps])
    XCTAssertEqual(composed.learningRate(base: 0.02, at: 15), 0.002, accuracy: 1e-8)
  }

  func testGradientClippingMatchesGlobalNorm() {
    let first = Parameter(.zeros([2])), second = Parameter(.zeros([1]))
    first.setGrad(Tensor([3, 0]))
    second.setGrad(Tensor([4]))
    let norm = clipGradientNorm([first, second], maxNorm: 1)
    XCTAssertEqual(norm, 5, accuracy: 1e-6)
    assertClose(first.grad!, [0.6, 0], tolerance: 1e-5)
    assertClose(second.grad!, [0.8], tolerance: 1e-5)
    XCTAssertEqual(clipGradientNorm([first, second], maxNorm: 10), 1, accuracy: 1e-5)
    assertClose(second.grad!, [0.8], tolerance: 1e-5)
  }
}

final class LossTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "losses") { fixture, inputs in
      let reduction = LossReduction(rawValue: fixture.string("reduction"))!
      switch fixture.op {
      case "bce_with_logits": return [Loss.binaryCrossEntropyWithLogits(inputs[0], inputs[1], reduction: reduction)]
      case "bce_with_logits_weighted":
        return [Loss.binaryCrossEntropyWithLogits(inputs[0], inputs[1], weight: inputs[2], reduction: reduction)]
      case "l1": return [Loss.l1(inputs[0], inputs[1], reduction: reduction)]
      case "smooth_l1": return [Loss.smoothL1(inputs[0], inputs[1], beta: fixture.float("beta"), reduction: reduction)]
      case "cross_entropy":
        return [
          Loss.crossEntropy(
            inputs[0], inputs[1], ignoreIndex: fixture.int("ignore_index"),
            labelSmoothing: fixture.float("label_smoothing"), reduction: reduction)
        ]
      default: return nil
      }
    }
  }

  func testGradientsMatchFiniteDifferences() {
    let logits = Tensor.normal([3, 4], seed: 1)
    let targets = Tensor.uniform([3, 4], seed: 2)
    GradientChecker.check([logits, targets]) { Loss.binaryCrossEntropyWithLogits($0[0], $0[1], reduction: .none) }
    GradientChecker.check([logits, Tensor.normal([3, 4], seed: 3)]) { Loss.smoothL1($0[0], $0[1], beta: 0.7) }
    GradientChecker.check([logits, Tensor.normal([3, 4], seed: 4)]) { Loss.l1($0[0], $0[1], reduction: .sum) }
    GradientChecker.check([logits, Tensor([0, 3, 1])], wrt: [0]) {
      Loss.crossEntropy($0[0], $0[1], labelSmoothing: 0.2)
    }
  }
}
