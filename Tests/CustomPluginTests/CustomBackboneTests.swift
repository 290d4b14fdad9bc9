import Components
import Config
import Detection
import Experiments
import Imaging
import NN
import TensorCore
import XCTest

/// A backbone defined outside the toolkit: one pooled 1×1 projection per output stride.
final class PooledProjectionBackbone: Module, Backbone {
  static let width = ConfigKey<Int>("width", default: 8, "channels of every output level")

  let projection: Conv2d
  let outputSpecs: [FeatureSpec]
  let pixelFormat = PixelFormat.torchvision

  init(width: Int, generator: inout SeededGenerator) {
    projection = Conv2d(3, width, kernelSize: 1, generator: &generator)
    outputSpecs = [8, 16].map { FeatureSpec(channels: width, stride: $0) }
    super.init()
    register("projection", projection)
  }

  func features(_ images: Tensor) -> [Tensor] {
    let projected = projection(images)
    return outputSpecs.map { Tensor.avgPool2d(projected, kernel: ($0.stride, $0.stride)) }
  }
}

final class CustomBackboneTests: XCTestCase {
  override class func setUp() {
    Builtins.registerAll()
    try? Registries.backbones.register(
      "pooled_projection", summary: "pooled 1×1 projection", keys: [PooledProjectionBackbone.width.documentation]
    ) { section, context in
      PooledProjectionBackbone(
        width: try section.read(PooledProjectionBackbone.width), generator: &context.random.generator)
    }
  }

  func testAUserRegisteredBackboneAssemblesAndTrains() throws {
    let root = try YAMLParser.parse(
      """
      model:
        backbone: {type: pooled_projection, width: 12}
        text_encoder: {type: class_embedding, classes: 2, hidden: 8}
        head: {type: fcos, channels: 12, blocks: 1}
      """, file: "custom.yaml")
    let usage = ConfigUsage()
    let detector = try Assembler.assemble(try ConfigSection(root: root, usage: usage).section("model"))
    XCTAssertEqual(usage.unknownKeys(in: root), [])
    XCTAssertTrue(detector.backbone is PooledProjectionBackbone)
    XCTAssertEqual(detector.namedParameters().first?.key, "backbone.projection.weight")
    let tokens = TokenBatch(ids: Tensor(shape: [1, 2], values: [0, 1]), attentionMask: .ones([1, 2]))
    let target = GroundingTarget(boxes: [[8, 8, 40, 40]], positiveMap: Tensor(shape: [1, 2], values: [0, 1]))
    let loss = detector.loss(Tensor.normal([1, 3, 48, 48], seed: 1), tokens: tokens, targets: [target])["loss"]!
    loss.backward()
    XCTAssertNotNil(detector.backbone.namedParameters().first?.parameter.grad)
  }

  func testRegisteringATakenNameFails() {
    XCTAssertThrowsError(
      try Registries.backbones.register("tiny_cnn", summary: "again", keys: []) { _, _ in fatalError("never built") }
    ) { error in
      XCTAssertEqual("\(error)", "backbone plugin 'tiny_cnn' is already registered")
    }
  }
}
