import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

final class BertLayerTests: XCTestCase {
  /// A BERT layer of width 8 with 2 heads, in inference mode.
  private static func smallLayer(seed: UInt64) -> BertLayer {
    var configuration = BertConfiguration()
    (configuration.hiddenSize, configuration.heads, configuration.intermediateSize) = (8, 2, 16)
    var generator = SeededGenerator(seed: seed)
    let layer = BertLayer(configuration, generator: &generator)
    layer.eval()
    return layer
  }

  /// A batch without padding gets no additive mask, which gives the bits a mask of zeros gives, in inference and
  /// with gradients.
  func testAnUnpaddedBatchAddsNoMask() {
    let layer = Self.smallLayer(seed: 5)
    XCTAssertNil(BertLayer.additiveMask(Tensor.ones([2, 5])), "no padding, nothing to add")
    var hidden = Tensor.normal([2, 5, 8], seed: 6)
    let zeros = Tensor.zeros([2, 1, 1, 5])
    XCTAssertEqual(
      withNoGrad { layer(hidden, additiveMask: nil) }.scalars, withNoGrad { layer(hidden, additiveMask: zeros) }.scalars
    )
    hidden.requiresGrad = true
    XCTAssertEqual(layer(hidden, additiveMask: nil).scalars, layer(hidden, additiveMask: zeros).scalars)
  }

  /// In inference the query, key and value run as one stacked product; the stack follows every change of the
  /// weights, so it always gives what the three layers give.
  func testStackedProjectionsFollowWeightUpdates() {
    let layer = Self.smallLayer(seed: 1)
    let hidden = Tensor.normal([2, 5, 8], seed: 2)
    let mask = BertLayer.additiveMask(Tensor(shape: [2, 5], values: [1, 1, 1, 1, 0, 1, 1, 1, 0, 0]))
    XCTAssertNotNil(mask)
    func check(_ label: String) {
      let stacked = withNoGrad { layer(hidden, additiveMask: mask) }
      let separate = layer(hidden, additiveMask: mask)
      XCTAssertNotNil(separate.gradOp, "with gradients the three layers run apart")
      assertClose(stacked, separate, tolerance: 1e-5, label)
    }
    check("fresh")
    layer.key.weight.update { $0[3] += 1 }
    check("after an in-place update, as an optimizer makes")
    layer.value.bias!.assign(Tensor.normal([8], seed: 3))
    check("after a new bias")
    layer.query.weight.assign(Tensor.normal([8, 8], seed: 4))
    check("after a new weight")
  }
}
