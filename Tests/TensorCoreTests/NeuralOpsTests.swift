import TensorCore
import TensorCoreTestSupport
import XCTest

final class NeuralOpsTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "nn") { fixture, inputs in
      switch fixture.op {
      case "softmax": return [inputs[0].softmax(axis: fixture.int("axis"))]
      case "log_softmax": return [inputs[0].logSoftmax(axis: fixture.int("axis"))]
      case "layer_norm":
        return [
          Tensor.layerNorm(
            inputs[0], normalizedAxes: fixture.int("axes"), weight: inputs.count > 1 ? inputs[1] : nil,
            bias: inputs.count > 2 ? inputs[2] : nil, epsilon: fixture.float("eps"))
        ]
      case "group_norm":
        return [
          Tensor.groupNorm(
            inputs[0], groups: fixture.int("groups"), weight: inputs[1], bias: inputs[2], epsilon: fixture.float("eps"))
        ]
      case "batch_norm_train":
        var (mean, variance): (Tensor?, Tensor?) = (inputs[3], inputs[4])
        let output = Tensor.batchNorm(
          inputs[0], runningMean: &mean, runningVariance: &variance, weight: inputs[1], bias: inputs[2], training: true,
          momentum: fixture.float("momentum"), epsilon: fixture.float("eps"))
        return [output, mean!, variance!]
      case "batch_norm_eval":
        var (mean, variance): (Tensor?, Tensor?) = (inputs[3], inputs[4])
        return [
          Tensor.batchNorm(
            inputs[0], runningMean: &mean, runningVariance: &variance, weight: inputs[1], bias: inputs[2],
            training: false, epsilon: fixture.float("eps"))
        ]
      case "attention":
        return [
          Tensor.scaledDotProductAttention(
            query: inputs[0], key: inputs[1], value: inputs[2],
            scale: fixture.has("scale") ? fixture.float("scale") : nil)
        ]
      case "attention_mask":
        return [Tensor.scaledDotProductAttention(query: inputs[0], key: inputs[1], value: inputs[2], mask: inputs[3])]
      default: return nil
      }
    }
  }

  func testGradientsMatchFiniteDifferences() {
    let x = Tensor.normal([2, 3, 4], seed: 1)
    GradientChecker.check([x]) { $0[0].softmax(axis: 1) }
    GradientChecker.check([x]) { $0[0].logSoftmax(axis: -1) }
    GradientChecker.check([x, Tensor.normal([4], seed: 2), Tensor.normal([4], seed: 3)], epsilon: 1e-3) {
      Tensor.layerNorm($0[0], weight: $0[1], bias: $0[2])
    }
    let image = Tensor.normal([2, 4, 2, 3], seed: 4)
    GradientChecker.check([image, Tensor.normal([4], seed: 5), Tensor.normal([4], seed: 6)], epsilon: 1e-3) {
      Tensor.groupNorm($0[0], groups: 2, weight: $0[1], bias: $0[2])
    }
    GradientChecker.check([image, Tensor.normal([4], seed: 7), Tensor.normal([4], seed: 8)], epsilon: 1e-3) {
      var (mean, variance): (Tensor?, Tensor?) = (nil, nil)
      return Tensor.batchNorm(
        $0[0], runningMean: &mean, runningVariance: &variance, weight: $0[1], bias: $0[2], training: true)
    }
    let mask = Tensor(shape: [1, 1, 4], values: [0, 0, -1e4, 0])
    GradientChecker.check(
      [Tensor.normal([2, 3, 5], seed: 9), Tensor.normal([2, 4, 5], seed: 10), Tensor.normal([2, 4, 2], seed: 11)]
    ) { Tensor.scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: mask) }
  }

  func testDropoutIsSeededScaledAndSharesItsMaskWithTheGradient() {
    var input = Tensor.ones([10_000])
    input.requiresGrad = true
    var generator = SeededGenerator(seed: 3)
    let output = input.dropout(probability: 0.3, training: true, generator: &generator)
    let kept = output.scalars.filter { $0 != 0 }
    XCTAssertEqual(Double(kept.count) / 10_000, 0.7, accuracy: 0.02)
    XCTAssertTrue(kept.allSatisfy { Swift.abs($0 - 1 / 0.7) < 1e-6 })
    output.sum().backward()
    XCTAssertEqual(input.grad?.scalars, output.scalars, "the gradient uses the forward mask and scale")
    var again = SeededGenerator(seed: 3)
    XCTAssertEqual(
      Tensor.ones([10_000]).dropout(probability: 0.3, training: true, generator: &again).scalars, output.scalars)
    XCTAssertEqual(input.dropout(probability: 0.3, training: false, generator: &again).scalars, input.scalars)
  }
}
