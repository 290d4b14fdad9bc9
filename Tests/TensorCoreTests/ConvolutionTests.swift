import TensorCore
import TensorCoreTestSupport
import XCTest

private func pair(_ values: [Int]) -> (Int, Int) { (values[0], values[1]) }

private func mode(_ name: String) -> Tensor.InterpolationMode {
  switch name {
  case "nearest": return .nearest
  case "bilinear": return .bilinear(alignCorners: false)
  default: return .bilinear(alignCorners: true)
  }
}

final class ConvolutionTests: XCTestCase {
  func testConvMatchesPyTorchFixtures() throws {
    try OpFixtures.run(group: "conv") { fixture, inputs in
      guard fixture.op == "conv2d" else { return nil }
      return [
        Tensor.conv2d(
          inputs[0], weight: inputs[1], bias: inputs.count > 2 ? inputs[2] : nil, stride: pair(fixture.ints("stride")),
          padding: pair(fixture.ints("padding")), dilation: pair(fixture.ints("dilation")),
          groups: fixture.int("groups"))
      ]
    }
  }

  func testPoolingAndInterpolationMatchPyTorchFixtures() throws {
    try OpFixtures.run(group: "pooling") { fixture, inputs in
      switch fixture.op {
      case "max_pool2d":
        return [
          Tensor.maxPool2d(
            inputs[0], kernel: pair(fixture.ints("kernel")), stride: pair(fixture.ints("stride")),
            padding: pair(fixture.ints("padding")), dilation: pair(fixture.ints("dilation")),
            ceilMode: fixture.bool("ceil_mode"))
        ]
      case "avg_pool2d":
        return [
          Tensor.avgPool2d(
            inputs[0], kernel: pair(fixture.ints("kernel")), stride: pair(fixture.ints("stride")),
            padding: pair(fixture.ints("padding")), ceilMode: fixture.bool("ceil_mode"),
            countIncludePad: fixture.bool("count_include_pad"))
        ]
      case "adaptive_avg_pool2d": return [Tensor.adaptiveAvgPool2d(inputs[0], outputSize: pair(fixture.ints("size")))]
      case "interpolate_size":
        return [Tensor.interpolate(inputs[0], size: pair(fixture.ints("size")), mode: mode(fixture.string("mode")))]
      case "interpolate_scale":
        // Read as Double: a factor rounded to Float can change floor(size · factor).
        let factors = (fixture.args["scale"] as? [NSNumber] ?? []).map(\.doubleValue)
        return [
          Tensor.interpolate(inputs[0], scaleFactor: (factors[0], factors[1]), mode: mode(fixture.string("mode")))
        ]
      default: return nil
      }
    }
  }

  func testConvGradientsMatchFiniteDifferences() {
    let input = Tensor.normal([2, 4, 5, 5], seed: 1)
    GradientChecker.check([input, Tensor.normal([4, 2, 3, 3], seed: 2), Tensor.normal([4], seed: 3)]) {
      Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], stride: (2, 1), padding: (1, 1), dilation: (1, 2), groups: 2)
    }
    GradientChecker.check([input, Tensor.normal([8, 1, 3, 3], seed: 4)]) {
      Tensor.conv2d($0[0], weight: $0[1], stride: (2, 2), padding: (1, 1), groups: 4)
    }
    GradientChecker.check([input, Tensor.normal([2, 4, 1, 1], seed: 5)]) { Tensor.conv2d($0[0], weight: $0[1]) }
  }

  func testPoolingAndInterpolationGradientsMatchFiniteDifferences() {
    // Distinct values keep max pooling away from ties, where finite differences are ill-defined.
    let input = Tensor(shape: [1, 2, 5, 5], values: (0..<50).map { Float($0 * 37 % 50) * 0.1 })
    GradientChecker.check([input]) {
      Tensor.maxPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1), ceilMode: true)
    }
    GradientChecker.check([input]) {
      Tensor.avgPool2d($0[0], kernel: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false)
    }
    GradientChecker.check([input]) { Tensor.adaptiveAvgPool2d($0[0], outputSize: (2, 3)) }
    GradientChecker.check([input]) { Tensor.interpolate($0[0], size: (7, 4), mode: .bilinear(alignCorners: false)) }
    GradientChecker.check([input]) { Tensor.interpolate($0[0], size: (8, 9), mode: .bilinear(alignCorners: true)) }
    GradientChecker.check([input]) { Tensor.interpolate($0[0], size: (8, 3), mode: .nearest) }
  }

  /// Sizes chosen so that im2col, col2im and the depthwise kernels split their work over threads.
  func testModerateConvsAgreeWithNaiveLoops() {
    NaiveConv(batch: 1, channels: 16, size: 24, outChannels: 8, kernel: 3, stride: 1, padding: 1, groups: 1)
      .check(seed: 6)
    NaiveConv(batch: 2, channels: 8, size: 24, outChannels: 6, kernel: 3, stride: 2, padding: 1, groups: 2)
      .check(seed: 9)
    NaiveConv(batch: 2, channels: 16, size: 24, outChannels: 32, kernel: 3, stride: 1, padding: 1, groups: 16)
      .check(seed: 12)
    // Few output channels over many columns: the forward runs tile by tile (bands of output rows).
    NaiveConv(batch: 2, channels: 64, size: 34, outChannels: 8, kernel: 3, stride: 1, padding: 1, groups: 1)
      .check(seed: 15)
    NaiveConv(batch: 1, channels: 64, size: 35, outChannels: 8, kernel: 3, stride: 2, padding: 1, groups: 1)
      .check(seed: 18)
  }

  func testTiledConvAddsBiasAndFusedEpilogue() {
    let input = Tensor.normal([2, 64, 34, 34], seed: 1)
    let weight = Tensor.normal([8, 64, 3, 3], std: 0.05, seed: 2)
    let (bias, scale) = (Tensor.normal([8], seed: 3), Tensor.normal([8], seed: 4))
    let plain = Tensor.conv2d(input, weight: weight, padding: (1, 1))
    assertClose(
      Tensor.conv2d(input, weight: weight, bias: bias, padding: (1, 1)), plain + bias.reshaped([1, 8, 1, 1]),
      tolerance: 1e-5)
    let residual = Tensor.normal(plain.shape, seed: 5)
    assertClose(
      Tensor.fusedConv2d(
        input, weight: weight, scale: scale, shift: bias, residual: residual, activation: .relu, padding: (1, 1)),
      (plain * scale.reshaped([1, 8, 1, 1]) + bias.reshaped([1, 8, 1, 1]) + residual).relu(), tolerance: 0)
  }

  /// The fused epilogue gives the unfused ops' values exactly (dense, strided, grouped and depthwise convolutions), and
  /// under autograd the unfused ops' gradients.
  func testFusedConvMatchesUnfusedOps() {
    let cases: [(weight: [Int], stride: Int, padding: Int, groups: Int)] = [
      ([24, 16, 1, 1], 1, 0, 1), ([24, 16, 3, 3], 2, 1, 1), ([24, 4, 3, 3], 1, 1, 4), ([32, 1, 3, 3], 1, 1, 16),
      ([16, 1, 3, 3], 2, 1, 16),
    ]
    for (index, testCase) in cases.enumerated() {
      let seed = UInt64(10 * index)
      let input = Tensor.normal([2, 16, 20, 20], seed: seed + 1)
      let weight = Tensor.normal(testCase.weight, std: 0.1, seed: seed + 2)
      let (scale, shift) = (
        Tensor.normal([testCase.weight[0]], seed: seed + 3), Tensor.normal([testCase.weight[0]], seed: seed + 4)
      )
      let (stride, padding) = ((testCase.stride, testCase.stride), (testCase.padding, testCase.padding))
      let convolved = Tensor.conv2d(input, weight: weight, stride: stride, padding: padding, groups: testCase.groups)
      let affine = convolved * scale.reshaped([1, -1, 1, 1]) + shift.reshaped([1, -1, 1, 1])
      let residual = Tensor.normal(convolved.shape, seed: seed + 5)
      let expectations: [(Tensor?, Tensor.FusedActivation, Tensor)] = [
        (nil, .none, affine), (nil, .relu, affine.relu()), (residual, .relu, (affine + residual).relu()),
        (residual, .relu6, (affine + residual).relu6()), (residual, .none, affine + residual),
      ]
      for (residual, activation, expected) in expectations {
        let fused = Tensor.fusedConv2d(
          input, weight: weight, scale: scale, shift: shift, residual: residual, activation: activation,
          stride: stride, padding: padding, groups: testCase.groups)
        assertClose(fused, expected, tolerance: 0, "case \(index), \(activation)")
      }
    }
    GradientChecker.check([
      Tensor.normal([1, 4, 5, 5], seed: 1), Tensor.normal([6, 4, 3, 3], seed: 2), Tensor.normal([6], seed: 3),
      Tensor.normal([6], seed: 4), Tensor.normal([1, 6, 3, 3], seed: 5),
    ]) {
      Tensor.fusedConv2d(
        $0[0], weight: $0[1], scale: $0[2], shift: $0[3], residual: $0[4], activation: .none, stride: (2, 2),
        padding: (1, 1))
    }
  }

  func testMaxPoolGradientGoesToFirstMaximum() {
    // Both windows tie at 5; each sends its gradient to its first 5 in row-major order (as PyTorch does).
    var input = Tensor(shape: [1, 1, 2, 3], values: [1, 5, 5, 5, 5, 5])
    input.requiresGrad = true
    Tensor.maxPool2d(input, kernel: (2, 2), stride: (1, 1)).sum().backward()
    assertClose(input.grad!, [0, 2, 0, 0, 0, 0])
  }

  func testMaxPoolGradientGoesToTheLastNaN() {
    // As PyTorch: a window with NaN sends its gradient to its last NaN in row-major order (values from torch 2.13).
    var input = Tensor(shape: [1, 1, 2, 3], values: [1, .nan, 2, .nan, 5, 5])
    input.requiresGrad = true
    let output = Tensor.maxPool2d(input, kernel: (2, 2), stride: (1, 1))
    XCTAssertTrue(output.scalars.allSatisfy(\.isNaN))
    output.sum().backward()
    assertClose(input.grad!, [0, 1, 0, 1, 0, 0])
    var wide = Tensor(shape: [1, 1, 2, 3], values: [1, .nan, .nan, .nan, 5, .nan])
    wide.requiresGrad = true
    Tensor.maxPool2d(wide, kernel: (2, 3), stride: (1, 1)).sum().backward()
    assertClose(wide.grad!, [0, 0, 0, 0, 0, 1])
  }

  func testMaxPoolWithGradientTakesTheSameValuesAsWithout() {
    var input = Tensor.normal([2, 3, 11, 9], seed: 7)
    let expected = withNoGrad { Tensor.maxPool2d(input, kernel: (3, 3), stride: (2, 2), padding: (1, 1)) }
    input.requiresGrad = true
    let recorded = Tensor.maxPool2d(input, kernel: (3, 3), stride: (2, 2), padding: (1, 1))
    XCTAssertEqual(recorded.scalars, expected.scalars)
  }

  func testNearestKeepsPyTorchIndexShortcuts() {
    let input = Tensor(shape: [1, 1, 1, 3], values: [0, 1, 2])
    // 3 · 2.2 → 6 = 2 · 3: PyTorch takes x / 2, not floor(x / 2.2).
    assertClose(Tensor.interpolate(input, scaleFactor: (1, 2.2), mode: .nearest), [0, 0, 1, 1, 2, 2])
    // 3 · 1.1 → 3: copied, not floor(x / 1.1).
    assertClose(Tensor.interpolate(input, scaleFactor: (1, 1.1), mode: .nearest), [0, 1, 2])
    assertClose(Tensor.interpolate(input, scaleFactor: (1, 1.1), mode: .bilinear(alignCorners: false)), [0, 1, 2])
  }
}

/// A direct-loop convolution (forward and both gradients) to check the GEMM and depthwise paths against.
private struct NaiveConv {
  let batch: Int, channels: Int, size: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int
  var outSize: Int { (size + 2 * padding - kernel) / stride + 1 }
  var groupChannels: Int { channels / groups }

  /// Calls `body(inputIndex, weightIndex, outputIndex)` for every product term of the convolution sum.
  private func forEachTerm(_ body: (Int, Int, Int) -> Void) {
    let groupOut = outChannels / groups
    for image in 0..<batch {
      for o in 0..<outChannels {
        for y in 0..<outSize {
          for x in 0..<outSize {
            let outputIndex = ((image * outChannels + o) * outSize + y) * outSize + x
            for c in 0..<groupChannels {
              let inChannel = (o / groupOut) * groupChannels + c
              for i in 0..<kernel {
                for j in 0..<kernel {
                  let (sy, sx) = (y * stride - padding + i, x * stride - padding + j)
                  guard sy >= 0, sy < size, sx >= 0, sx < size else { continue }
                  let inputIndex = ((image * channels + inChannel) * size + sy) * size + sx
                  body(inputIndex, ((o * groupChannels + c) * kernel + i) * kernel + j, outputIndex)
                }
              }
            }
          }
        }
      }
    }
  }

  func check(seed: UInt64, file: StaticString = #filePath, line: UInt = #line) {
    var input = Tensor.normal([batch, channels, size, size], seed: seed)
    var weight = Tensor.normal([outChannels, groupChannels, kernel, kernel], seed: seed + 1)
    let outputGrad = Tensor.normal([batch, outChannels, outSize, outSize], seed: seed + 2)
    input.requiresGrad = true
    weight.requiresGrad = true
    let output = Tensor.conv2d(
      input, weight: weight, stride: (stride, stride), padding: (padding, padding), groups: groups)
    (output * outputGrad).sum().backward()

    let (x, w, g) = (input.scalars, weight.scalars, outputGrad.scalars)
    var expected = [Float](repeating: 0, count: output.count)
    var inputGrad = [Float](repeating: 0, count: x.count)
    var weightGrad = [Float](repeating: 0, count: w.count)
    forEachTerm { inputIndex, weightIndex, outputIndex in
      expected[outputIndex] += x[inputIndex] * w[weightIndex]
      inputGrad[inputIndex] += g[outputIndex] * w[weightIndex]
      weightGrad[weightIndex] += g[outputIndex] * x[inputIndex]
    }
    assertClose(output, expected, tolerance: 1e-5, "forward", file: file, line: line)
    assertClose(input.grad!, inputGrad, tolerance: 1e-5, "input gradient", file: file, line: line)
    assertClose(weight.grad!, weightGrad, tolerance: 1e-5, "weight gradient", file: file, line: line)
  }
}
