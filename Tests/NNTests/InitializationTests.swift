import NN
import TensorCore
import XCTest

final class InitializationTests: XCTestCase {
  private func statistics(_ tensor: Tensor) -> (mean: Float, std: Float, maxAbs: Float) {
    let values = tensor.scalars
    let mean = values.reduce(0, +) / Float(values.count)
    let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count)
    return (mean, variance.squareRoot(), values.map(abs).max() ?? 0)
  }

  func testFansFollowPyTorch() {
    XCTAssertEqual(Initialization.fans([64, 32, 3, 3]).fanIn, 288)
    XCTAssertEqual(Initialization.fans([64, 32, 3, 3]).fanOut, 576)
    XCTAssertEqual(Initialization.fans([10, 20]).fanIn, 20)
  }

  func testUniformSchemesRespectTheirBounds() {
    var generator = SeededGenerator(seed: 0)
    let shape = [128, 64, 3, 3]
    let kaiming = statistics(Initialization.kaimingUniform(shape, generator: &generator))
    let kaimingBound = Float(3).squareRoot() * Float(2).squareRoot() / Float(576).squareRoot()
    XCTAssertLessThanOrEqual(kaiming.maxAbs, kaimingBound)
    XCTAssertEqual(kaiming.std, kaimingBound / Float(3).squareRoot(), accuracy: kaimingBound * 0.02)
    let xavier = statistics(Initialization.xavierUniform([256, 512], gain: 2, generator: &generator))
    let xavierBound = 2 * (6 / Float(768)).squareRoot()
    XCTAssertLessThanOrEqual(xavier.maxAbs, xavierBound)
    XCTAssertEqual(xavier.std, xavierBound / Float(3).squareRoot(), accuracy: xavierBound * 0.02)
    let linearDefault = statistics(Initialization.defaultWeight([300, 100], generator: &generator))
    XCTAssertLessThanOrEqual(linearDefault.maxAbs, 0.1)
    XCTAssertGreaterThan(linearDefault.maxAbs, 0.099)
    let bias = Initialization.defaultBias(1000, weightShape: [1000, 25], generator: &generator)
    XCTAssertLessThanOrEqual(statistics(bias).maxAbs, 0.2)
  }

  func testNormalSchemesHaveTheirStandardDeviation() {
    var generator = SeededGenerator(seed: 1)
    let kaiming = statistics(Initialization.kaimingNormal([256, 128], mode: .fanOut, generator: &generator))
    XCTAssertEqual(kaiming.std, (2 / Float(256)).squareRoot(), accuracy: 0.002)
    XCTAssertEqual(kaiming.mean, 0, accuracy: 0.002)
    let xavier = statistics(Initialization.xavierNormal([200, 300], generator: &generator))
    XCTAssertEqual(xavier.std, (2 / Float(500)).squareRoot(), accuracy: 0.001)
    let normal = statistics(Initialization.normal([10_000], mean: 1, std: 0.01, generator: &generator))
    XCTAssertEqual(normal.mean, 1, accuracy: 0.001)
    XCTAssertEqual(normal.std, 0.01, accuracy: 0.0005)
    XCTAssertEqual(Initialization.constant([3], 0.5).scalars, [0.5, 0.5, 0.5])
  }
}
