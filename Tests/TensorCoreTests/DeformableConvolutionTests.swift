import TensorCore
import TensorCoreTestSupport
import XCTest

final class DeformableConvolutionTests: XCTestCase {
  func testMatchesReferenceFixtures() throws {
    try OpFixtures.run(group: "deform") { fixture, inputs in
      guard fixture.op == "deform_conv2d" else { return nil }
      var rest = Array(inputs.dropFirst(3))
      let mask = fixture.bool("mask") ? rest.removeFirst() : nil
      let bias = fixture.bool("bias") ? rest.removeFirst() : nil
      let (stride, padding, dilation) = (fixture.ints("stride"), fixture.ints("padding"), fixture.ints("dilation"))
      return [
        Tensor.deformConv2d(
          inputs[0], offset: inputs[1], weight: inputs[2], bias: bias, mask: mask, stride: (stride[0], stride[1]),
          padding: (padding[0], padding[1]), dilation: (dilation[0], dilation[1]), groups: fixture.int("groups"))
      ]
    }
  }

  func testZeroOffsetsAndUnitMaskEqualConv2d() {
    let input = Tensor.normal([2, 4, 6, 5], seed: 1), weight = Tensor.normal([6, 2, 3, 3], seed: 2)
    let bias = Tensor.normal([6], seed: 3)
    let deformed = Tensor.deformConv2d(
      input, offset: .zeros([2, 18, 6, 5]), weight: weight, bias: bias, mask: .ones([2, 9, 6, 5]), padding: (1, 1),
      groups: 2)
    assertClose(deformed, Tensor.conv2d(input, weight: weight, bias: bias, padding: (1, 1), groups: 2))
  }

  func testGradientsMatchFiniteDifferences() {
    let input = Tensor.normal([1, 2, 4, 4], seed: 4)
    // Offsets of the form k + 0.3..0.7 keep every sample away from integer coordinates.
    let offset = Tensor(shape: [1, 18, 4, 4], values: (0..<288).map { Float($0 % 5) - 2 + 0.3 + Float($0 % 3) * 0.2 })
    let mask = Tensor.uniform([1, 9, 4, 4], low: 0.2, high: 1, seed: 5)
    GradientChecker.check(
      [input, offset, Tensor.normal([3, 2, 3, 3], seed: 6), mask, Tensor.normal([3], seed: 7)], epsilon: 1e-3
    ) {
      Tensor.deformConv2d($0[0], offset: $0[1], weight: $0[2], bias: $0[4], mask: $0[3], padding: (1, 1))
    }
  }
}
