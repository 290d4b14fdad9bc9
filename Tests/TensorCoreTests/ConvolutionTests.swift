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
        let factor = Double(fixture.float("scale"))
        return [Tensor.interpolate(inputs[0], scaleFactor: (factor, factor), mode: mode(fixture.string("mode")))]
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

  func testModerateConvAgreesWithNaiveLoop() {
    let (channels, size, outChannels) = (16, 20, 8)
    let input = Tensor.normal([1, channels, size, size], seed: 6)
    let weight = Tensor.normal([outChannels, channels, 3, 3], seed: 7)
    let output = Tensor.conv2d(input, weight: weight, padding: (1, 1))
    var expected = [Float](repeating: 0, count: outChannels * size * size)
    for o in 0..<outChannels {
      for y in 0..<size {
        for x in 0..<size {
          var total: Float = 0
          for c in 0..<channels {
            for i in 0..<3 {
              for j in 0..<3 {
                let (sy, sx) = (y + i - 1, x + j - 1)
                guard sy >= 0, sy < size, sx >= 0, sx < size else { continue }
                total += input[flat: (c * size + sy) * size + sx] * weight[flat: ((o * channels + c) * 3 + i) * 3 + j]
              }
            }
          }
          expected[(o * size + y) * size + x] = total
        }
      }
    }
    assertClose(output, expected, tolerance: 1e-5)
  }
}
