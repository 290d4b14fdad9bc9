import Foundation
import TensorCoreTestSupport
import XCTest

@testable import TensorCore

/// Chains in oneDNN's blocked layout against the plain ops on our own kernels.
final class BlockedFeatureMapTests: XCTestCase {
  override func setUpWithError() throws {
    try requireOneDNN()
    try XCTSkipIf(
      OneDNNLayoutChoice.current != .chained,
      "GLIP_ONEDNN_LAYOUT=\(OneDNNLayoutChoice.current.rawValue) turns chains off")
  }

  /// The map of `tensor` on oneDNN (with `GLIP_CONV_BACKEND=own` in the environment too).
  private func chain(_ tensor: Tensor) throws -> BlockedFeatureMap {
    try XCTUnwrap(KernelBackend.convolutions.with(.onednn) { BlockedFeatureMap(tensor) })
  }

  private func ownFused(
    _ input: Tensor, weight: Tensor, scale: Tensor?, shift: Tensor?, residual: Tensor? = nil,
    activation: Tensor.FusedActivation, stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), groups: Int = 1
  ) -> Tensor {
    KernelBackend.convolutions.with(.own) {
      Tensor.fusedConv2d(
        input, weight: weight, scale: scale, shift: shift, residual: residual, activation: activation, stride: stride,
        padding: padding, groups: groups)
    }
  }

  func testConvolutionsWithEveryEpilogueMatchTheFusedOps() throws {
    // Channel counts off the 16-wide block, so that the blocked layouts pad them.
    let input = Tensor.normal([2, 20, 9, 7], seed: 1)
    let cases: [(name: String, out: Int, kernel: Int, stride: Int, padding: Int, groups: Int)] = [
      ("3×3", 24, 3, 1, 1, 1), ("1×1 stride 2", 40, 1, 2, 0, 1), ("5×5 stride 2", 8, 5, 2, 2, 1),
      ("3×3 groups 4", 12, 3, 1, 1, 4),
    ]
    let activations: [Tensor.FusedActivation] = [.none, .relu, .relu6]
    for (index, convCase) in cases.enumerated() {
      let weight = Tensor.normal(
        [convCase.out, 20 / convCase.groups, convCase.kernel, convCase.kernel], seed: UInt64(10 + index))
      let scale = Tensor.normal([convCase.out], seed: UInt64(20 + index))
      let shift = Tensor.normal([convCase.out], seed: UInt64(30 + index)) * Tensor(scalar: 3)
      for activation in activations {
        for (scaleCase, shiftCase) in [(scale, shift), (nil, shift), (scale, nil), (nil, nil)] as [(Tensor?, Tensor?)] {
          let expected = ownFused(
            input, weight: weight, scale: scaleCase, shift: shiftCase, activation: activation,
            stride: (convCase.stride, convCase.stride), padding: (convCase.padding, convCase.padding),
            groups: convCase.groups)
          let output = try XCTUnwrap(
            try chain(input).fusedConv2d(
              weight: weight, scale: scaleCase, shift: shiftCase, activation: activation,
              stride: (convCase.stride, convCase.stride), padding: (convCase.padding, convCase.padding),
              groups: convCase.groups
            )?.tensor(), convCase.name)
          XCTAssertEqual(output.shape, expected.shape, convCase.name)
          assertClose(
            output, expected, tolerance: 1e-4,
            "\(convCase.name), \(activation), scale \(scaleCase != nil), shift \(shiftCase != nil)")
        }
      }
    }
  }

  func testAChainWithAResidualAndPoolingMatchesThePlainOps() throws {
    // A ResNet stem and a basic block: 7×7 stride 2 from the plain image, max pooling, two 3×3 and the residual.
    let image = Tensor.normal([1, 3, 30, 26], seed: 1)
    let stem = Tensor.normal([18, 3, 7, 7], seed: 2) * Tensor(scalar: 0.1)
    let first = Tensor.normal([18, 18, 3, 3], seed: 3) * Tensor(scalar: 0.1)
    let second = Tensor.normal([18, 18, 3, 3], seed: 4) * Tensor(scalar: 0.1)
    let scale = Tensor.normal([18], seed: 5)
    let shift = Tensor.normal([18], seed: 6)

    let plainStem = Tensor.maxPool2d(
      ownFused(image, weight: stem, scale: scale, shift: shift, activation: .relu, stride: (2, 2), padding: (3, 3)),
      kernel: (3, 3), stride: (2, 2), padding: (1, 1))
    let hidden = ownFused(plainStem, weight: first, scale: scale, shift: shift, activation: .relu, padding: (1, 1))
    let expected = ownFused(
      hidden, weight: second, scale: scale, shift: shift, residual: plainStem, activation: .relu, padding: (1, 1))

    let chainStem = try XCTUnwrap(
      try chain(image).fusedConv2d(
        weight: stem, scale: scale, shift: shift, activation: .relu, stride: (2, 2), padding: (3, 3)
      )?.maxPool2d(kernel: (3, 3), stride: (2, 2), padding: (1, 1)))
    assertClose(try XCTUnwrap(chainStem.tensor()), plainStem, tolerance: 1e-4, "stem and pooling")
    let chainHidden = try XCTUnwrap(
      chainStem.fusedConv2d(weight: first, scale: scale, shift: shift, activation: .relu, padding: (1, 1)))
    let output = try XCTUnwrap(
      chainHidden.fusedConv2d(
        weight: second, scale: scale, shift: shift, residual: chainStem, activation: .relu, padding: (1, 1)))
    assertClose(try XCTUnwrap(output.tensor()), expected, tolerance: 1e-4, "block output")
    // The residual's map is left as it was.
    assertClose(try XCTUnwrap(chainStem.tensor()), plainStem, tolerance: 1e-4, "residual after the block")
  }

  func testChangedWeightsAndScalesAreNotServedFromTheCache() throws {
    let input = Tensor.normal([1, 16, 6, 6], seed: 1)
    var weight = Tensor.normal([32, 16, 3, 3], seed: 2)
    var scale = Tensor.normal([32], seed: 3)
    func run() throws -> Tensor {
      try XCTUnwrap(
        try chain(input).fusedConv2d(weight: weight, scale: scale, activation: .none, padding: (1, 1))?.tensor())
    }
    _ = try run()
    // An optimizer's in-place update goes through copy-on-write, as here.
    weight.withUnsafeMutableBufferPointer { values in
      for index in values.indices { values[index] *= -2 }
    }
    assertClose(
      try run(), ownFused(input, weight: weight, scale: scale, shift: nil, activation: .none, padding: (1, 1)),
      tolerance: 1e-4, "updated weights")
    scale.withUnsafeMutableBufferPointer { values in values[0] = 7 }
    assertClose(
      try run(), ownFused(input, weight: weight, scale: scale, shift: nil, activation: .none, padding: (1, 1)),
      tolerance: 1e-4, "updated scale")
  }

  func testChainsStepAsideForAutogradAndOurOwnKernels() throws {
    let input = Tensor.normal([1, 4, 5, 5], seed: 1)
    var weight = Tensor.normal([8, 4, 3, 3], seed: 2)
    XCTAssertNil(KernelBackend.convolutions.with(.own) { BlockedFeatureMap(input) })
    weight.requiresGrad = true
    let map = try chain(input)
    XCTAssertNil(map.fusedConv2d(weight: weight, padding: (1, 1)), "autograd would record")
    XCTAssertNotNil(withNoGrad { map.fusedConv2d(weight: weight, padding: (1, 1)) }, "no gradient recorded")
  }

  func testMaxPoolingMatchesThePlainOpWithPaddingAndOddSizes() throws {
    let input = Tensor.normal([2, 17, 11, 8], seed: 1)
    for (kernel, stride, padding) in [((3, 3), (2, 2), (1, 1)), ((2, 2), (2, 2), (0, 0)), ((3, 2), (1, 2), (1, 0))] {
      let expected = Tensor.maxPool2d(input, kernel: kernel, stride: stride, padding: padding)
      let output = try XCTUnwrap(try chain(input).maxPool2d(kernel: kernel, stride: stride, padding: padding)?.tensor())
      XCTAssertEqual(output.shape, expected.shape)
      assertClose(output, expected, tolerance: 0, "kernel \(kernel), stride \(stride), padding \(padding)")
    }
  }
}

final class OneDNNLayoutChoiceTests: XCTestCase {
  func testOnlyTheThreeChoicesAreAccepted() {
    for value in ["chained", "layer", "plain", "Layer", ""] {
      XCTAssertNil(OneDNNLayoutChoice.problem(in: ["GLIP_ONEDNN_LAYOUT": value]), value)
    }
    XCTAssertNil(OneDNNLayoutChoice.problem(in: [:]))
    XCTAssertEqual(
      OneDNNLayoutChoice.problem(in: ["GLIP_ONEDNN_LAYOUT": "chosen"]),
      "GLIP_ONEDNN_LAYOUT=chosen: expected chained, layer, plain")
  }
}
