import Components
import Config
import Detection
import Experiments
import NN
import TensorCore
import XCTest

/// A classifier defined outside the toolkit: cosine similarity between regions and projected tokens, times a
/// learned temperature.
final class CosineClassifier: Module, RegionClassifier {
  static let temperature = ConfigKey<Float>("temperature", default: 10, "initial scale of the cosine scores")

  let projection: Linear
  let scale: Parameter

  init(regionChannels: Int, textHidden: Int, temperature: Float, generator: inout SeededGenerator) {
    projection = Linear(textHidden, regionChannels, generator: &generator)
    scale = Parameter(Tensor(shape: [1], values: [temperature]))
    super.init()
    register("projection", projection)
    register("scale", scale)
  }

  var scoresPromptTokens: Bool { true }

  func callAsFunction(regions: Tensor, tokens: Tensor) -> Tensor {
    func unit(_ x: Tensor) -> Tensor { x * (x.square().sum(axes: [-1], keepDim: true) + 1e-12).rsqrt() }
    return unit(regions).matmulTransposed(unit(projection(tokens))) * scale.value
  }
}

final class CustomClassifierTests: XCTestCase {
  override class func setUp() {
    Builtins.registerAll()
    try? Registries.classifiers.register(
      "cosine", summary: "cosine region-token scores", keys: [CosineClassifier.temperature.documentation]
    ) { section, context in
      CosineClassifier(
        regionChannels: context.inputSpecs[0].channels, textHidden: context.textHiddenSize,
        temperature: try section.read(CosineClassifier.temperature), generator: &context.random.generator)
    }
  }

  func testAUserRegisteredClassifierFillsTheHeadsSubSlotAndTrains() throws {
    let root = try YAMLParser.parse(
      """
      model:
        backbone: {type: tiny_cnn, channels: [8, 16, 16, 16]}
        text_encoder: {type: class_embedding, classes: 3, hidden: 8}
        head: {type: atss, channels: 12, blocks: 1, classifier: cosine, temperature: 5}
      """, file: "custom.yaml")
    let usage = ConfigUsage()
    let detector = try Assembler.assemble(try ConfigSection(root: root, usage: usage).section("model"))
    XCTAssertEqual(usage.unknownKeys(in: root), [])
    let head = try XCTUnwrap(detector.head as? DenseGroundingHead)
    XCTAssertTrue(head.classifier is CosineClassifier)
    XCTAssertEqual(head.classifier.namedParameters().first { $0.key == "projection.weight" }?.parameter.shape, [12, 8])
    let tokens = TokenBatch(ids: Tensor(shape: [1, 3], values: [0, 1, 2]), attentionMask: .ones([1, 3]))
    let target = GroundingTarget(boxes: [[6, 8, 50, 44]], positiveMap: Tensor(shape: [1, 3], values: [0, 1, 0]))
    let loss = detector.loss(Tensor.normal([1, 3, 64, 64], seed: 2), tokens: tokens, targets: [target])["loss"]!
    loss.backward()
    XCTAssertNotNil(detector.namedParameters().first { $0.key == "head.classifier.scale" }?.parameter.grad)
  }

  func testAnUnknownClassifierNamesTheKeyAndTheRegisteredOnes() throws {
    let root = try YAMLParser.parse(
      """
      model:
        backbone: {type: tiny_cnn}
        text_encoder: {type: class_embedding, classes: 3, hidden: 8}
        head: {type: fcos, classifier: alignmnt}
      """, file: "typo.yaml")
    XCTAssertThrowsError(try Assembler.assemble(try ConfigSection(root: root, usage: ConfigUsage()).section("model"))) {
      let message = "\($0)"
      XCTAssertTrue(message.contains("typo.yaml:4"), message)
      XCTAssertTrue(message.contains("model.head.classifier: unknown classifier 'alignmnt'"), message)
      XCTAssertTrue(message.contains("did you mean 'alignment'?"), message)
    }
  }
}
