import Foundation
import TensorCoreTestSupport
import XCTest

@testable import TensorCore

/// One convolution to run on both backends: input `[N, C, H, W]`, weight `[O, C/groups, kh, kw]`.
private struct ConvCase {
  let name: String
  let input: [Int]
  let outChannels: Int
  let kernel: (Int, Int)
  var stride = (1, 1)
  var padding = (0, 0)
  var dilation = (1, 1)
  var groups = 1
  var bias = true

  var weightShape: [Int] { [outChannels, input[1] / groups, kernel.0, kernel.1] }
}

private let cases: [ConvCase] = [
  ConvCase(name: "3×3 pad 1, batch 2", input: [2, 5, 7, 6], outChannels: 4, kernel: (3, 3), padding: (1, 1)),
  ConvCase(name: "1×1", input: [1, 8, 5, 5], outChannels: 6, kernel: (1, 1), bias: false),
  ConvCase(
    name: "7×7 stride 2 pad 3", input: [1, 3, 11, 13], outChannels: 4, kernel: (7, 7), stride: (2, 2), padding: (3, 3)),
  ConvCase(
    name: "3×3 stride 2 pad 1, even", input: [2, 4, 8, 8], outChannels: 5, kernel: (3, 3), stride: (2, 2),
    padding: (1, 1)),
  ConvCase(name: "1×1 stride 2, odd", input: [1, 6, 7, 7], outChannels: 3, kernel: (1, 1), stride: (2, 2)),
  ConvCase(
    name: "3×3 dilation 2", input: [1, 4, 9, 9], outChannels: 3, kernel: (3, 3), padding: (2, 2), dilation: (2, 2)),
  ConvCase(
    name: "odd sizes, 3×5", input: [3, 3, 9, 5], outChannels: 7, kernel: (3, 5), stride: (2, 1), padding: (1, 2)),
  ConvCase(name: "groups 2", input: [1, 6, 6, 6], outChannels: 4, kernel: (3, 3), padding: (1, 1), groups: 2),
  ConvCase(name: "depthwise", input: [2, 4, 6, 6], outChannels: 4, kernel: (3, 3), padding: (1, 1), groups: 4),
]

/// Skips the calling test when oneDNN cannot be loaded, and fails it instead under `CI=true`, where `.ci/run`
/// installs the library.
func requireOneDNN() throws {
  guard !KernelBackend.isOneDNNAvailable else { return }
  let reason: String
  if case .failure(let error) = OneDNN.loaded { reason = error.message } else { reason = "not loaded" }
  if ProcessInfo.processInfo.environment["CI"] == "true" {
    XCTFail("oneDNN is not loaded (\(reason)); .ci/run installs libdnnl2 under CI=true")
    return
  }
  throw XCTSkip("oneDNN is not loaded (\(reason)): install the Debian package libdnnl2 to test the oneDNN path")
}

final class OneDNNConvolutionTests: XCTestCase {
  override func setUpWithError() throws { try requireOneDNN() }

  /// Output, then the gradients of input, weight and bias for a fixed output gradient.
  private func run(_ convCase: ConvCase, on backend: KernelBackend) -> [Tensor] {
    KernelBackend.convolutions.with(backend) {
      var input = Tensor.normal(convCase.input, seed: 1)
      var weight = Tensor.normal(convCase.weightShape, seed: 2)
      var bias = convCase.bias ? Tensor.normal([convCase.outChannels], seed: 3) : nil
      input.requiresGrad = true
      weight.requiresGrad = true
      bias?.requiresGrad = true
      let output = Tensor.conv2d(
        input, weight: weight, bias: bias, stride: convCase.stride, padding: convCase.padding,
        dilation: convCase.dilation, groups: convCase.groups)
      output.backward(Tensor.normal(output.shape, seed: 4))
      return [output.detached(), input.grad!, weight.grad!] + (bias.map { [$0.grad!] } ?? [])
    }
  }

  /// The oneDNN implementations cached for `convCase`, by pass; nil when oneDNN failed on it.
  private func implementations(_ convCase: ConvCase) throws -> [String: String]? {
    let runtime = try XCTUnwrap(OneDNN.shared)
    let geometry = Tensor.convGeometry(
      Tensor.zeros(convCase.input), Tensor.zeros(convCase.weightShape), stride: convCase.stride,
      padding: convCase.padding, dilation: convCase.dilation, groups: convCase.groups, op: "test")
    return runtime.withConvolution(geometry, hasBias: convCase.bias) { convolution, _ in convolution.implementations }
  }

  func testForwardAndGradientsMatchOwnKernels() throws {
    let names = ["output", "input grad", "weight grad", "bias grad"]
    for convCase in cases {
      let own = run(convCase, on: .own)
      let oneDNN = run(convCase, on: .onednn)
      // Every pass ran on oneDNN rather than falling back to our kernels.
      let passes = try implementations(convCase).map { Set($0.keys) }
      XCTAssertEqual(passes, ["forward", "backward_data", "backward_weights"], convCase.name)
      XCTAssertEqual(own.count, oneDNN.count, convCase.name)
      for (index, (actual, expected)) in zip(oneDNN, own).enumerated() {
        assertClose(actual, expected, tolerance: 1e-5, "\(convCase.name): \(names[index])")
      }
    }
  }

  func testAutomaticPlacesEachPassAndMatchesOwnKernels() throws {
    // A stem (3 input channels): forward and weight gradient on oneDNN, input gradient on ours.
    let stem = ConvCase(
      name: "stem", input: [1, 3, 12, 10], outChannels: 5, kernel: (7, 7), stride: (2, 2), padding: (3, 3))
    let own = run(stem, on: .own)
    let automatic = run(stem, on: .automatic)
    XCTAssertEqual(try implementations(stem).map { Set($0.keys) }, ["forward", "backward_weights"])
    for (actual, expected) in zip(automatic, own) { assertClose(actual, expected, tolerance: 1e-5, stem.name) }
  }

  func testEmptyBatchRunsOurKernels() {
    let output = KernelBackend.convolutions.with(.onednn) {
      Tensor.conv2d(Tensor.zeros([0, 3, 5, 5]), weight: Tensor.ones([2, 3, 3, 3]), padding: (1, 1))
    }
    XCTAssertEqual(output.shape, [0, 2, 5, 5])
  }

  func testOwnBackendCreatesNoPrimitives() throws {
    let convCase = ConvCase(name: "unseen", input: [1, 2, 5, 4], outChannels: 3, kernel: (2, 2))
    _ = run(convCase, on: .own)
    XCTAssertEqual(try implementations(convCase), [:])
  }

  func testFusedConvolutionMatchesOwnKernels() {
    let input = Tensor.normal([2, 6, 9, 7], seed: 5)
    let weight = Tensor.normal([8, 6, 3, 3], seed: 6)
    let scale = Tensor.normal([8], seed: 7)
    let shift = Tensor.normal([8], seed: 8)
    let residual = Tensor.normal([2, 8, 5, 4], seed: 9)
    let outputs = [KernelBackend.own, .onednn].map { backend in
      KernelBackend.convolutions.with(backend) {
        withNoGrad {
          Tensor.fusedConv2d(
            input, weight: weight, scale: scale, shift: shift, residual: residual, activation: .relu6,
            stride: (2, 2), padding: (1, 1))
        }
      }
    }
    assertClose(outputs[1], outputs[0], tolerance: 1e-5, "fused conv")
  }

  func testWeightGradWithoutInputGrad() {
    // A first layer: the image needs no gradient, only the weights and bias do.
    let convCase = cases[2]
    let grads = [KernelBackend.own, .onednn].map { backend in
      KernelBackend.convolutions.with(backend) {
        let input = Tensor.normal(convCase.input, seed: 1)
        var weight = Tensor.normal(convCase.weightShape, seed: 2)
        var bias = Tensor.normal([convCase.outChannels], seed: 3)
        weight.requiresGrad = true
        bias.requiresGrad = true
        let output = Tensor.conv2d(
          input, weight: weight, bias: bias, stride: convCase.stride, padding: convCase.padding)
        output.backward(Tensor.normal(output.shape, seed: 4))
        return [weight.grad!, bias.grad!]
      }
    }
    assertClose(grads[1][0], grads[0][0], tolerance: 1e-5, "weight grad")
    assertClose(grads[1][1], grads[0][1], tolerance: 1e-5, "bias grad")
  }
}

final class LRUCacheTests: XCTestCase {
  func testDropsLeastRecentlyUsed() {
    var cache = LRUCache<Int, String>(capacity: 2)
    _ = cache.value(for: 1) { "one" }
    _ = cache.value(for: 2) { "two" }
    _ = cache.value(for: 1) { "again" }
    _ = cache.value(for: 3) { "three" }
    XCTAssertEqual(cache.count, 2)
    XCTAssertEqual(cache.value(for: 1) { "new" }, "one")
    XCTAssertEqual(cache.value(for: 2) { "new" }, "new")
  }
}

final class ConvolutionRuleTests: XCTestCase {
  private func geometry(
    channels: Int, outChannels: Int, kernel: Int, stride: Int = 1, groups: Int = 1
  ) -> Tensor.ConvGeometry {
    Tensor.convGeometry(
      Tensor.zeros([1, channels, 16, 16]), Tensor.zeros([outChannels, channels / groups, kernel, kernel]),
      stride: (stride, stride), padding: (kernel / 2, kernel / 2), dilation: (1, 1), groups: groups, op: "test")
  }

  func testRulePlacesPassesAsMeasured() {
    let passes: [OneDNNConvolution.Pass] = [.forward, .backwardData, .backwardWeights]
    func placed(_ g: Tensor.ConvGeometry) -> [Bool] { passes.map { OneDNNConvolution.prefers(g, $0) } }
    XCTAssertEqual(placed(geometry(channels: 64, outChannels: 64, kernel: 3)), [true, true, true])
    XCTAssertEqual(placed(geometry(channels: 32, outChannels: 32, kernel: 3, groups: 32)), [true, true, true])
    XCTAssertEqual(placed(geometry(channels: 3, outChannels: 64, kernel: 7, stride: 2)), [true, false, true])
    XCTAssertEqual(placed(geometry(channels: 16, outChannels: 96, kernel: 1)), [false, true, false])
    XCTAssertEqual(placed(geometry(channels: 256, outChannels: 64, kernel: 1)), [true, true, true])
    XCTAssertEqual(placed(geometry(channels: 1024, outChannels: 2048, kernel: 1, stride: 2)), [true, true, false])
  }

  func testOwnChoiceWins() {
    let g = geometry(channels: 64, outChannels: 64, kernel: 3)
    KernelBackend.convolutions.with(.own) { XCTAssertNil(OneDNNConvolution.runtime(for: g, .forward)) }
    XCTAssertEqual(KernelBackend.convolutions.with(.onednn) { KernelBackend.convolutions.current }, .onednn)
  }
}
