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
}
