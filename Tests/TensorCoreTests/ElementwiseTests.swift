import TensorCore
import TensorCoreTestSupport
import XCTest

private let unaryOps: [String: (Tensor) -> Tensor] = [
  "exp": { $0.exp() }, "log": { $0.log() }, "sqrt": { $0.sqrt() }, "rsqrt": { $0.rsqrt() },
  "square": { $0.square() }, "sin": { $0.sin() }, "cos": { $0.cos() }, "abs": { $0.abs() },
  "relu": { $0.relu() }, "relu6": { $0.relu6() }, "leaky_relu": { $0.leakyRelu(negativeSlope: 0.2) },
  "sigmoid": { $0.sigmoid() }, "tanh": { $0.tanh() }, "silu": { $0.silu() }, "hardsigmoid": { $0.hardsigmoid() },
  "gelu": { $0.gelu() }, "gelu_tanh": { $0.gelu(approximate: true) }, "softplus": { $0.softplus() },
  "softplus_beta": { $0.softplus(beta: 2, threshold: 5) },
]

private func compare(_ op: String, _ lhs: Tensor, _ rhs: Tensor) -> Tensor {
  switch op {
  case "eq": return lhs .== rhs
  case "ne": return lhs .!= rhs
  case "lt": return lhs .< rhs
  case "le": return lhs .<= rhs
  case "gt": return lhs .> rhs
  default: return lhs .>= rhs
  }
}

private func compare(_ op: String, _ lhs: Tensor, _ rhs: Float) -> Tensor {
  switch op {
  case "eq": return lhs .== rhs
  case "ne": return lhs .!= rhs
  case "lt": return lhs .< rhs
  case "le": return lhs .<= rhs
  case "gt": return lhs .> rhs
  default: return lhs .>= rhs
  }
}

final class ElementwiseTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "elementwise") { fixture, inputs in
      if let op = unaryOps[fixture.op] { return [op(inputs[0])] }
      switch fixture.op {
      case "pow_scalar": return [inputs[0].pow(fixture.float("exponent"))]
      case "pow_tensor": return [inputs[0].pow(inputs[1])]
      case "clamp":
        return [
          inputs[0].clamp(
            min: fixture.has("min") ? fixture.float("min") : nil, max: fixture.has("max") ? fixture.float("max") : nil)
        ]
      case "maximum": return [Tensor.maximum(inputs[0], inputs[1])]
      case "minimum": return [Tensor.minimum(inputs[0], inputs[1])]
      case "where": return [Tensor.where(inputs[0], inputs[1], inputs[2])]
      case "masked_fill": return [inputs[0].maskedFill(inputs[1], fixture.float("value"))]
      case "compare": return [compare(fixture.string("op"), inputs[0], inputs[1])]
      case "compare_scalar": return [compare(fixture.string("op"), inputs[0], fixture.float("value"))]
      default: return nil
      }
    }
  }

  func testGradientsMatchFiniteDifferences() {
    let x = Tensor(shape: [2, 3], values: [-1.7, -0.4, 0.3, 0.9, 1.6, 2.4])
    let positive = Tensor.uniform([2, 3], low: 0.5, high: 2, seed: 1)
    for (name, op) in unaryOps {
      let input = ["log", "sqrt", "rsqrt"].contains(name) ? positive : x
      GradientChecker.check([input], epsilon: 1e-3) { op($0[0]) }
    }
    GradientChecker.check([positive, Tensor.normal([3], seed: 2)]) { $0[0].pow($0[1]) }
    GradientChecker.check([x]) { $0[0].pow(3) + $0[0].clamp(min: -1, max: 1) }
    GradientChecker.check([x, Tensor.normal([2, 1], seed: 3)]) { Tensor.maximum($0[0], $0[1]) }
    GradientChecker.check([x, Tensor.normal([3], seed: 4)]) { Tensor.minimum($0[0], $0[1]) }
    let condition = Tensor(shape: [2, 1], values: [1, 0])
    GradientChecker.check([x, Tensor.normal([3], seed: 5)]) { Tensor.where(condition, $0[0], $0[1]) }
    GradientChecker.check([x]) { $0[0].maskedFill(Tensor([0, 1, 0]), 5) }
  }

  func testComparisonsRecordNoGraph() {
    var x = Tensor([1, 2, 3])
    x.requiresGrad = true
    XCTAssertFalse((x .> 1.5).requiresGrad)
    XCTAssertEqual((x .> 1.5).scalars, [0, 1, 1])
  }
}

final class ReductionTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "reductions") { fixture, inputs in
      let x = inputs[0]
      switch fixture.op {
      case "sum": return [x.sum(axes: fixture.ints("axes"), keepDim: fixture.bool("keep_dim"))]
      case "mean": return [x.mean(axes: fixture.ints("axes"), keepDim: fixture.bool("keep_dim"))]
      case "var":
        return [
          x.variance(
            axes: fixture.ints("axes"), correction: fixture.int("correction"), keepDim: fixture.bool("keep_dim"))
        ]
      case "std":
        return [
          x.standardDeviation(
            axes: fixture.ints("axes"), correction: fixture.int("correction"), keepDim: fixture.bool("keep_dim"))
        ]
      case "logsumexp": return [x.logsumexp(axes: fixture.ints("axes"), keepDim: fixture.bool("keep_dim"))]
      case "sum_all": return [x.sum()]
      case "mean_all": return [x.mean()]
      case "max_axis":
        let result = x.max(axis: fixture.int("axis"), keepDim: fixture.bool("keep_dim"))
        return [result.values, result.indices]
      case "min_axis":
        let result = x.min(axis: fixture.int("axis"), keepDim: fixture.bool("keep_dim"))
        return [result.values, result.indices]
      case "argmax": return [x.argmax(axis: fixture.int("axis"), keepDim: fixture.bool("keep_dim"))]
      case "argmin": return [x.argmin(axis: fixture.int("axis"), keepDim: fixture.bool("keep_dim"))]
      case "max_all": return [x.max()]
      case "min_all": return [x.min()]
      default: return nil
      }
    }
  }

  func testGradientsMatchFiniteDifferences() {
    let x = Tensor.normal([2, 3, 4], seed: 7)
    GradientChecker.check([x]) { $0[0].sum(axes: [0, 2]) }
    GradientChecker.check([x]) { $0[0].mean(axes: [-1], keepDim: true) }
    GradientChecker.check([x]) { $0[0].variance(axes: [1, 2]) }
    GradientChecker.check([x]) { $0[0].standardDeviation(axes: [1], correction: 0) }
    GradientChecker.check([x]) { $0[0].logsumexp(axes: [0, 1]) }
    GradientChecker.check([x]) { $0[0].max(axis: 1).values }
    GradientChecker.check([x]) { $0[0].min(axis: -1, keepDim: true).values }
    GradientChecker.check([x]) { $0[0].max().reshaped([1]) + $0[0].min().reshaped([1]) }
  }
}
