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

  /// Inference gathers the samples by position from a channels-last copy, against reordered weights; a recorded
  /// forward pass gathers them by channel. Offset groups with channel runs shorter and longer than a vector, a
  /// stride, dilation and padding, with and without a mask, and a second weight after the first was cached.
  func testInferenceByPositionMatchesRecordedForward() {
    let cases: [(channels: Int, offsetGroups: Int, mask: Bool)] = [(20, 2, true), (36, 1, false), (36, 1, true)]
    for (index, testCase) in cases.enumerated() {
      let seed = UInt64(10 * index)
      let input = Tensor.normal([2, testCase.channels, 7, 9], seed: seed)
      let offset = Tensor.normal([2, 2 * testCase.offsetGroups * 9, 4, 9], seed: seed + 1) * 2
      let mask = testCase.mask ? Tensor.uniform([2, testCase.offsetGroups * 9, 4, 9], seed: seed + 2) : nil
      let bias = Tensor.normal([5], seed: seed + 3)
      for weightSeed in [seed + 4, seed + 5] {
        let weight = Tensor.normal([5, testCase.channels, 3, 3], seed: weightSeed)
        func run(_ input: Tensor) -> Tensor {
          Tensor.deformConv2d(
            input, offset: offset, weight: weight, bias: bias, mask: mask, stride: (2, 1), padding: (1, 2),
            dilation: (1, 2))
        }
        let inferred = withNoGrad { run(input) }
        var tracked = input
        tracked.requiresGrad = true
        let recorded = run(tracked)
        XCTAssertEqual(recorded.gradOp, "deform_conv2d")
        XCTAssertEqual(inferred.shape, [2, 5, 4, 9])
        let difference = zip(inferred.scalars, recorded.scalars).map { abs($0 - $1) }.max() ?? 1
        XCTAssertLessThan(difference, 1e-4, "case \(index), weight \(weightSeed)")
      }
    }
  }

  func testZeroOffsetsAndUnitMaskEqualConv2d() {
    let input = Tensor.normal([2, 4, 6, 5], seed: 1), weight = Tensor.normal([6, 2, 3, 3], seed: 2)
    let bias = Tensor.normal([6], seed: 3)
    let expected = Tensor.conv2d(input, weight: weight, bias: bias, padding: (1, 1), groups: 2)
    let deformed = Tensor.deformConv2d(
      input, offset: .zeros([2, 18, 6, 5]), weight: weight, bias: bias, mask: .ones([2, 9, 6, 5]), padding: (1, 1),
      groups: 2)
    assertClose(deformed, expected)
    // Like torchvision, the weight groups default to C / weight.shape[1].
    let inferred = Tensor.deformConv2d(
      input, offset: .zeros([2, 18, 6, 5]), weight: weight, bias: bias, padding: (1, 1))
    assertClose(inferred, expected)
  }

  /// A 1×1 identity kernel with a constant integer offset (dy, dx) copies input[y + dy, x + dx], 0 outside.
  func testIntegerOffsetShiftsTheInputWithDyBeforeDx() {
    let input = Tensor(shape: [1, 1, 3, 4], values: (0..<12).map { Float($0 + 1) })
    let offset = Tensor(shape: [1, 2, 1, 1], values: [1, -2]).expanded(to: [1, 2, 3, 4])
    let output = Tensor.deformConv2d(input, offset: offset, weight: .ones([1, 1, 1, 1]))
    assertClose(output, [0, 0, 5, 6, 0, 0, 9, 10, 0, 0, 0, 0])
  }

  func testSamplesFarOutsideTheImageReadZeroAndPassNoGradient() {
    var input = Tensor.normal([1, 2, 4, 4], seed: 8), offset = Tensor.full([1, 18, 4, 4], 5.5)
    var mask = Tensor.uniform([1, 9, 4, 4], low: 0.2, high: 1, seed: 9)
    (input.requiresGrad, offset.requiresGrad, mask.requiresGrad) = (true, true, true)
    let bias = Tensor.normal([3], seed: 10)
    let output = Tensor.deformConv2d(
      input, offset: offset, weight: .normal([3, 2, 3, 3], seed: 11), bias: bias, mask: mask, padding: (1, 1))
    assertClose(output, bias.reshaped([1, 3, 1, 1]).expanded(to: [1, 3, 4, 4]))
    output.sum().backward()
    assertClose(input.grad!, .zeros(input.shape))
    assertClose(offset.grad!, .zeros(offset.shape))
    assertClose(mask.grad!, .zeros(mask.shape))
  }

  /// At exactly y = −1 the sample is 0, but torchvision's offset gradient is the derivative from inside the image:
  /// with x = 0.5 between columns 0 and 1, d value / dy = 0.5·in[0, 0] + 0.5·in[0, 1].
  func testOffsetGradientAtTheLowerBoundaryFollowsTorchvision() {
    let input = Tensor(shape: [1, 1, 2, 2], values: [3, 5, 7, 11])
    let offset = Tensor(shape: [1, 2, 1, 1], values: [-1, 0.5], requiresGrad: true)
    let mask = Tensor(shape: [1, 1, 1, 1], values: [0.5], requiresGrad: true)
    // A 2×2 input and 1×1 kernel with stride 2 give a single output at (0, 0).
    let output = Tensor.deformConv2d(input, offset: offset, weight: .ones([1, 1, 1, 1]), mask: mask, stride: (2, 2))
    assertClose(output, [0])
    output.sum().backward()
    assertClose(offset.grad!, [0.5 * (0.5 * 3 + 0.5 * 5), 0])
    assertClose(mask.grad!, [0])
  }

  func testGradientsMatchFiniteDifferences() {
    let input = Tensor.normal([1, 2, 4, 4], seed: 4)
    let offset = Self.offsets([1, 18, 4, 4], seed: 12)
    let mask = Tensor.uniform([1, 9, 4, 4], low: 0.2, high: 1, seed: 5)
    GradientChecker.check(
      [input, offset, Tensor.normal([3, 2, 3, 3], seed: 6), mask, Tensor.normal([3], seed: 7)], epsilon: 1e-3
    ) {
      Tensor.deformConv2d($0[0], offset: $0[1], weight: $0[2], bias: $0[4], mask: $0[3], padding: (1, 1))
    }
  }

  func testGradientsWithGroupsStrideAndDilationMatchFiniteDifferences() {
    let input = Tensor.normal([2, 4, 5, 5], seed: 13)
    // Two offset groups of a 3×3 kernel; the output is 3×5.
    let offset = Self.offsets([2, 36, 3, 5], seed: 14)
    let mask = Tensor.uniform([2, 18, 3, 5], low: 0.2, high: 1, seed: 15)
    GradientChecker.check(
      [input, offset, Tensor.normal([4, 2, 3, 3], seed: 16), mask, Tensor.normal([4], seed: 17)], epsilon: 1e-3
    ) {
      Tensor.deformConv2d(
        $0[0], offset: $0[1], weight: $0[2], bias: $0[4], mask: $0[3], stride: (2, 1), padding: (2, 1),
        dilation: (2, 1), groups: 2)
    }
  }

  func testGradientsWithoutMaskMatchFiniteDifferences() {
    let input = Tensor.normal([1, 2, 4, 5], seed: 18)
    let offset = Self.offsets([1, 12, 3, 3], seed: 19)
    GradientChecker.check([input, offset, Tensor.normal([2, 2, 2, 3], seed: 20)], epsilon: 1e-3) {
      Tensor.deformConv2d($0[0], offset: $0[1], weight: $0[2], stride: (1, 1), padding: (0, 0))
    }
  }

  /// Offsets in k + [0.3, 0.7] for integers k in [−2, 1]: samples stay clear of integer coordinates, where the
  /// bilinear floor makes the gradient jump, and some fall outside the image.
  private static func offsets(_ shape: [Int], seed: UInt64) -> Tensor {
    let raw = Tensor.uniform(shape, low: -2, high: 2, seed: seed).scalars
    return Tensor(shape: shape, values: raw.map { $0.rounded(.down) + 0.3 + 0.4 * ($0 - $0.rounded(.down)) })
  }
}
