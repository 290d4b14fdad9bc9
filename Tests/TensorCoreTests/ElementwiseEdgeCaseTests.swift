import TensorCore
import TensorCoreTestSupport
import XCTest

/// Edge cases of the elementwise and reduction ops: kinks, saturation, ties, 0-d operands, unusual axis lists, and
/// the infinities and NaNs that fixtures cannot compare.
final class ElementwiseEdgeCaseTests: XCTestCase {
  private static func unary(_ fixture: OpFixtureCase, _ input: Tensor) -> Tensor? {
    switch fixture.op {
    case "exp": return input.exp()
    case "log": return input.log()
    case "sqrt": return input.sqrt()
    case "rsqrt": return input.rsqrt()
    case "abs": return input.abs()
    case "relu": return input.relu()
    case "relu6": return input.relu6()
    case "hardsigmoid": return input.hardsigmoid()
    case "leaky_relu": return input.leakyRelu(negativeSlope: fixture.float("slope"))
    case "sigmoid": return input.sigmoid()
    case "tanh": return input.tanh()
    case "silu": return input.silu()
    case "gelu": return input.gelu()
    case "gelu_tanh": return input.gelu(approximate: true)
    case "softplus":
      return fixture.has("beta")
        ? input.softplus(beta: fixture.float("beta"), threshold: fixture.float("threshold")) : input.softplus()
    default: return nil
    }
  }

  private static func compare(_ op: String, _ lhs: Tensor, _ rhs: Tensor) -> Tensor? {
    switch op {
    case "eq": return lhs .== rhs
    case "ne": return lhs .!= rhs
    case "lt": return lhs .< rhs
    case "le": return lhs .<= rhs
    case "gt": return lhs .> rhs
    case "ge": return lhs .>= rhs
    default: return nil
    }
  }

  private static func compare(_ op: String, _ lhs: Tensor, _ rhs: Float) -> Tensor? {
    switch op {
    case "eq": return lhs .== rhs
    case "ne": return lhs .!= rhs
    case "lt": return lhs .< rhs
    case "le": return lhs .<= rhs
    case "gt": return lhs .> rhs
    case "ge": return lhs .>= rhs
    default: return nil
    }
  }

  private static func reduce(_ fixture: OpFixtureCase, _ x: Tensor) -> [Tensor]? {
    switch fixture.op {
    case "sum": return [x.sum(axes: fixture.ints("axes"), keepDim: fixture.bool("keep_dim"))]
    case "mean": return [x.mean(axes: fixture.ints("axes"), keepDim: fixture.bool("keep_dim"))]
    case "var":
      return [
        x.variance(axes: fixture.ints("axes"), correction: fixture.int("correction"), keepDim: fixture.bool("keep_dim"))
      ]
    case "std":
      return [
        x.standardDeviation(
          axes: fixture.ints("axes"), correction: fixture.int("correction"), keepDim: fixture.bool("keep_dim"))
      ]
    case "logsumexp": return [x.logsumexp(axes: fixture.ints("axes"), keepDim: fixture.bool("keep_dim"))]
    case "sum_all": return [x.sum()]
    case "mean_all": return [x.mean()]
    case "max_all": return [x.max()]
    case "min_all": return [x.min()]
    case "max_axis":
      let result = x.max(axis: fixture.int("axis"), keepDim: fixture.bool("keep_dim"))
      return [result.values, result.indices]
    case "min_axis":
      let result = x.min(axis: fixture.int("axis"), keepDim: fixture.bool("keep_dim"))
      return [result.values, result.indices]
    case "argmax": return [x.argmax(axis: fixture.int("axis"), keepDim: fixture.bool("keep_dim"))]
    case "argmin": return [x.argmin(axis: fixture.int("axis"), keepDim: fixture.bool("keep_dim"))]
    default: return nil
    }
  }

  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "elementwise_edges") { fixture, inputs in
      if let output = Self.unary(fixture, inputs[0]) { return [output] }
      if let outputs = Self.reduce(fixture, inputs[0]) { return outputs }
      switch fixture.op {
      case "pow_scalar": return [inputs[0].pow(fixture.float("exponent"))]
      case "pow_tensor": return [inputs[0].pow(inputs[1])]
      case "clamp":
        let lower = fixture.has("min") ? fixture.float("min") : nil
        let upper = fixture.has("max") ? fixture.float("max") : nil
        return [inputs[0].clamp(min: lower, max: upper)]
      case "maximum": return [Tensor.maximum(inputs[0], inputs[1])]
      case "minimum": return [Tensor.minimum(inputs[0], inputs[1])]
      case "where": return [Tensor.where(inputs[0], inputs[1], inputs[2])]
      case "masked_fill": return [inputs[0].maskedFill(inputs[1], fixture.float("value"))]
      case "compare": return Self.compare(fixture.string("op"), inputs[0], inputs[1]).map { [$0] }
      case "compare_scalar": return Self.compare(fixture.string("op"), inputs[0], fixture.float("value")).map { [$0] }
      default: return nil
      }
    }
  }

  func testBroadcastingGradientsMatchFiniteDifferences() {
    let matrix = Tensor.normal([2, 3], seed: 11)
    let positive = Tensor.uniform([2, 3], low: 0.5, high: 2, seed: 12)
    let scalar = Tensor(scalar: 0.3)
    GradientChecker.check([Tensor(scalar: 1.3), Tensor.normal([2, 3], seed: 13)]) { $0[0].pow($0[1]) }
    GradientChecker.check([positive, Tensor(scalar: -0.7)]) { $0[0].pow($0[1]) }
    GradientChecker.check([Tensor.uniform([2, 1], low: 0.5, high: 2, seed: 14), Tensor.normal([3], seed: 15)]) {
      $0[0].pow($0[1])
    }
    GradientChecker.check([matrix, scalar]) { Tensor.maximum($0[0], $0[1]) }
    GradientChecker.check([scalar, matrix]) { Tensor.minimum($0[0], $0[1]) }
    let condition = Tensor(shape: [2, 1, 3], values: [1, 0, 1, 0, 1, 1])
    GradientChecker.check([Tensor.normal([3], seed: 16), Tensor.normal([4, 1], seed: 17)]) {
      Tensor.where(condition, $0[0], $0[1])
    }
    GradientChecker.check([matrix, scalar]) { Tensor.where(Tensor(scalar: 0), $0[0], $0[1]) }
    GradientChecker.check([matrix]) { $0[0].maskedFill(Tensor(scalar: 0), 2) * $0[0].maskedFill(Tensor([1, 0, 0]), 2) }
    GradientChecker.check([scalar]) { $0[0].clamp(min: 0, max: 1) * $0[0].exp() }
  }

  func testReductionGradientsMatchFiniteDifferences() {
    let x = Tensor.normal([2, 3, 4], seed: 21)
    GradientChecker.check([x]) { $0[0].sum(axes: [-1, 0], keepDim: true) }
    GradientChecker.check([x]) { $0[0].mean(axes: []) }
    GradientChecker.check([x]) { $0[0].variance(axes: [2, 0], correction: 0, keepDim: true) }
    GradientChecker.check([x]) { $0[0].standardDeviation(axes: [-2, -1]) }
    GradientChecker.check([x * 30]) { $0[0].logsumexp(axes: [-3, -1]) }
    GradientChecker.check([x]) { $0[0].min(axis: -2, keepDim: true).values }
    GradientChecker.check([x]) { $0[0].max(axis: 0).values * $0[0].min(axis: 0).values }
    let scalar = Tensor(scalar: 0.7)
    GradientChecker.check([scalar]) { $0[0].max(axis: -1).values * $0[0].logsumexp(axes: [0]) + $0[0].sum(axes: [0]) }
  }

  func testIndicesAreFirstOccurrenceAndCarryNoGradient() {
    var x = Tensor(shape: [2, 4], values: [1, 4, 4, 0, 2, 2, 2, 2])
    x.requiresGrad = true
    let (values, indices) = x.max(axis: 1)
    XCTAssertEqual(values.scalars, [4, 2])
    XCTAssertEqual(indices.scalars, [1, 0])
    XCTAssertFalse(indices.requiresGrad)
    XCTAssertEqual(x.argmin(axis: -1).scalars, [3, 0])
    XCTAssertEqual(x.argmax(axis: 0, keepDim: true).shape, [1, 4])
    XCTAssertFalse(x.argmax(axis: 0).requiresGrad)
    values.sum().backward()
    XCTAssertEqual(x.grad!.scalars, [0, 1, 0, 0, 1, 0, 0, 0])
  }

  func testFullExtremumSplitsGradientEvenlyAmongTies() {
    var x = Tensor(shape: [2, 2], values: [5, 1, 5, 5])
    x.requiresGrad = true
    x.max().backward()
    assertClose(x.grad!, [1.0 / 3, 0, 1.0 / 3, 1.0 / 3])
  }

  func testNaNPropagatesThroughExtremaAndComparisons() {
    let withNaN = Tensor([1, .nan, 3, .nan])
    XCTAssertEqual(withNaN.max(axis: 0).indices.item, 1, "the first NaN wins, as in PyTorch")
    XCTAssertTrue(withNaN.max(axis: 0).values.item.isNaN)
    XCTAssertTrue(withNaN.min().item.isNaN)
    XCTAssertEqual(withNaN.argmin(axis: 0).item, 1)
    let pairwise = Tensor.maximum(Tensor([.nan, 1, 2]), Tensor([1, .nan, 1]))
    XCTAssertEqual(pairwise.scalars.map(\.isNaN), [true, true, false])
    XCTAssertTrue(Tensor.minimum(Tensor(scalar: .nan), Tensor(scalar: 0)).item.isNaN)
    XCTAssertEqual((withNaN .== withNaN).scalars, [1, 0, 1, 0])
    XCTAssertEqual((withNaN .!= withNaN).scalars, [0, 1, 0, 1])
    XCTAssertEqual((withNaN .< 2).scalars, [1, 0, 0, 0])
    XCTAssertEqual((withNaN .>= 1).scalars, [1, 0, 1, 0])
  }

  func testInfinitiesMatchPyTorch() {
    XCTAssertEqual(Tensor([-.infinity, -.infinity]).logsumexp(axes: [0]).item, -.infinity)
    XCTAssertEqual(Tensor([.infinity, 1]).logsumexp(axes: [0]).item, .infinity)
    XCTAssertEqual(Tensor([1000, 1000]).logsumexp(axes: [-1]).item, 1000 + Float(0.693_147_2), accuracy: 1e-3)

    var zero = Tensor([0])
    zero.requiresGrad = true
    zero.log().sum().backward()
    XCTAssertEqual(zero.log().item, -.infinity)
    XCTAssertEqual(zero.grad!.item, .infinity)

    // torch.pow: at base 0 the exponent gradient is masked to 0 only for exponents ≥ 0.
    var base = Tensor([0, 0, 0, 2])
    var exponent = Tensor([2, 0, -1, 0])
    base.requiresGrad = true
    exponent.requiresGrad = true
    let power = base.pow(exponent)
    XCTAssertEqual(power.scalars, [0, 1, .infinity, 1])
    power.sum().backward()
    XCTAssertEqual(base.grad!.scalars, [0, 0, -.infinity, 0])
    XCTAssertEqual(Array(exponent.grad!.scalars[0..<3]), [0, 0, -.infinity])
    XCTAssertEqual(exponent.grad!.scalars[3], Float(0.693_147_2), accuracy: 1e-6)  // 2⁰·ln 2

    XCTAssertTrue(Tensor([3]).variance(axes: [0]).item.isNaN, "one element, unbiased: 0/0 as in PyTorch")
    XCTAssertEqual(Tensor([3]).variance(axes: [0], correction: 0).item, 0)
  }

  func testAxisListsFollowPyTorch() {
    let x = Tensor.arange(24).reshaped([2, 3, 4])
    XCTAssertEqual(x.sum(axes: []).shape, [])
    XCTAssertEqual(x.sum(axes: []).item, 276)
    XCTAssertEqual(x.mean(axes: [], keepDim: true).shape, [1, 1, 1])
    XCTAssertEqual(x.variance(axes: [-1, 0]).shape, [3])
    XCTAssertEqual(x.logsumexp(axes: [2, -3], keepDim: true).shape, [1, 3, 1])
    let scalar = Tensor(scalar: 4)
    XCTAssertEqual(scalar.sum(axes: [-1]).shape, [])
    XCTAssertEqual(scalar.max(axis: 0, keepDim: true).indices.shape, [])
    XCTAssertEqual(scalar.argmax(axis: -1).item, 0)
  }

  func testComparisonsAndSelectionRecordNoGraphForMasks() {
    var x = Tensor([1, 2, 3])
    x.requiresGrad = true
    XCTAssertFalse((x .== Tensor(scalar: 2)).requiresGrad)
    XCTAssertEqual((Tensor(scalar: 2) .< x).scalars, [0, 0, 1])
    XCTAssertEqual((Tensor(shape: [2, 1], values: [1, 3]) .<= x).shape, [2, 3])
    let selected = Tensor.where(x .> 1.5, x, Tensor(scalar: 0))
    XCTAssertTrue(selected.requiresGrad)
    selected.sum().backward()
    XCTAssertEqual(x.grad!.scalars, [0, 1, 1])
  }
}
