import TensorCore
import TensorCoreTestSupport
import XCTest

final class MatMulTests: XCTestCase {
  func testMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "matmul") { fixture, inputs in
      switch fixture.op {
      case "matmul": return [inputs[0].matmul(inputs[1])]
      case "linear": return [Tensor.linear(inputs[0], weight: inputs[1], bias: inputs.count > 2 ? inputs[2] : nil)]
      default: return nil
      }
    }
  }

  func testGradientsMatchFiniteDifferences() {
    GradientChecker.check([Tensor.normal([2, 1, 3, 4], seed: 1), Tensor.normal([3, 4, 2], seed: 2)]) {
      $0[0].matmul($0[1])
    }
    GradientChecker.check([Tensor.normal([2, 3, 4], seed: 3), Tensor.normal([4, 2], seed: 4)]) { $0[0].matmul($0[1]) }
    GradientChecker.check([Tensor.normal([4], seed: 5), Tensor.normal([4, 3], seed: 6)]) { $0[0].matmul($0[1]) }
    GradientChecker.check([
      Tensor.normal([3, 4], seed: 7), Tensor.normal([5, 4], seed: 8), Tensor.normal([5], seed: 9),
    ]) {
      Tensor.linear($0[0], weight: $0[1], bias: $0[2])
    }
  }

  func testMoreGradientsMatchFiniteDifferences() {
    GradientChecker.check([Tensor.normal([5], seed: 20), Tensor.normal([5], seed: 21)]) { $0[0].matmul($0[1]) }
    GradientChecker.check([Tensor.normal([3, 4], seed: 22), Tensor.normal([4], seed: 23)]) { $0[0].matmul($0[1]) }
    GradientChecker.check([Tensor.normal([3, 1, 2, 4], seed: 24), Tensor.normal([1, 5, 4, 3], seed: 25)]) {
      $0[0].matmul($0[1])
    }
    GradientChecker.check([Tensor.normal([3, 4], seed: 26), Tensor.normal([2, 4, 2], seed: 27)]) { $0[0].matmul($0[1]) }
    GradientChecker.check([Tensor.normal([4], seed: 28), Tensor.normal([2, 4, 3], seed: 29)]) { $0[0].matmul($0[1]) }
    GradientChecker.check([Tensor.normal([2, 1, 3, 4], seed: 30), Tensor.normal([2, 4], seed: 31)]) {
      Tensor.linear($0[0], weight: $0[1])
    }
    let (vector, weight, bias) = (
      Tensor.normal([4], seed: 32), Tensor.normal([3, 4], seed: 33), Tensor.normal([3], seed: 34)
    )
    GradientChecker.check([vector, weight, bias]) { Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
  }

  func testOnlyTheInputsThatNeedGradientsGetThem() {
    var weight = Tensor.normal([4, 2], seed: 40)
    weight.requiresGrad = true
    let input = Tensor.normal([2, 3, 4], seed: 41)
    input.matmul(weight).sum().backward()
    XCTAssertNil(input.grad)
    // d(sum(A·W))/dW[k, n] = the sum of A over every row, for each k.
    let rowSums = input.reshaped([6, 4]).sum(axes: [0]).scalars
    assertClose(weight.grad!, Tensor(shape: [4, 2], values: rowSums.flatMap { [$0, $0] }), tolerance: 1e-5)
  }

  func testLinearWithoutInputFeaturesIsTheBias() {
    let bias = Tensor([1.5, -2])
    let output = Tensor.linear(Tensor.zeros([3, 0]), weight: Tensor.zeros([2, 0]), bias: bias)
    XCTAssertEqual(output.shape, [3, 2])
    XCTAssertEqual(output.scalars, [1.5, -2, 1.5, -2, 1.5, -2])
    XCTAssertEqual(Tensor.linear(Tensor.zeros([2, 0]), weight: Tensor.zeros([3, 0])).scalars, [0, 0, 0, 0, 0, 0])
  }

  func testLargeProductAgreesWithNaiveLoop() {
    let a = Tensor.normal([3, 70, 50], seed: 10), b = Tensor.normal([50, 40], seed: 11)
    let product = a.matmul(b)
    var expected = [Float](repeating: 0, count: 3 * 70 * 40)
    for batch in 0..<3 {
      for row in 0..<70 {
        for column in 0..<40 {
          var total: Float = 0
          for inner in 0..<50 { total += a[flat: batch * 3500 + row * 50 + inner] * b[flat: inner * 40 + column] }
          expected[(batch * 70 + row) * 40 + column] = total
        }
      }
    }
    assertClose(product, expected, tolerance: 1e-5)
  }

  /// Products large enough to be split into blocks of C over the cores (along columns when C is wide, along rows
  /// when it is tall), with every transpose combination, against a naive loop.
  func testSplitProductsAgreeWithNaiveLoopForEveryTranspose() {
    for (m, n, k) in [(70, 600, 64), (600, 70, 64), (70, 40, 800)] {
      let a = Tensor.normal([m, k], seed: 20), b = Tensor.normal([k, n], seed: 21)
      let (aValues, bValues) = (a.scalars, b.scalars)
      var expected = [Float](repeating: 0, count: m * n)
      for row in 0..<m {
        for column in 0..<n {
          var total: Float = 0
          for inner in 0..<k { total += aValues[row * k + inner] * bValues[inner * n + column] }
          expected[row * n + column] = total
        }
      }
      let bT = b.transposed(0, 1)
      assertClose(a.matmul(b), expected, tolerance: 1e-4, "A·B \(m)×\(n)")
      assertClose(a.matmulTransposed(bT), expected, tolerance: 1e-4, "A·(Bᵀ)ᵀ \(m)×\(n)")
      // d(A·B)/dA = G·Bᵀ and d(A·B)/dB = Aᵀ·G take the transposed operands: with G = ones, every row of dA holds
      // B's row sums and every column of dB holds A's column sums.
      var (left, right) = (a, b)
      left.requiresGrad = true
      right.requiresGrad = true
      left.matmul(right).sum().backward()
      let rowSums = (0..<k).map { inner in (0..<n).reduce(Float(0)) { $0 + bValues[inner * n + $1] } }
      let columnSums = (0..<k).map { inner in (0..<m).reduce(Float(0)) { $0 + aValues[$1 * k + inner] } }
      assertClose(left.grad!, (0..<m * k).map { rowSums[$0 % k] }, tolerance: 1e-4, "dA \(m)×\(n)")
      assertClose(right.grad!, (0..<k * n).map { columnSums[$0 / n] }, tolerance: 1e-4, "dB \(m)×\(n)")
    }
  }
}
