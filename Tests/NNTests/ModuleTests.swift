import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

/// A leaf with PyTorch-style parameter names, built without any layer ops.
private final class Affine: Module {
  let weight: Parameter
  let bias: Parameter
  let runningMean: Buffer

  init(features: Int) {
    weight = Parameter(.ones([features]))
    bias = Parameter(.zeros([features]))
    runningMean = Buffer(.zeros([features]))
    super.init()
    register("weight", weight)
    register("bias", bias)
    register("running_mean", runningMean)
  }

  override var hyperParameters: String { "features: \(weight.count)" }
}

private final class Tower: Module {
  init(blocks: Int, features: Int) {
    super.init()
    for index in 0..<blocks { register("\(index)", Affine(features: features)) }
  }
}

private final class Toy: Module {
  let backbone = Affine(features: 4)
  let tower = Tower(blocks: 4, features: 2)

  override init() {
    super.init()
    register("backbone", backbone)
    register("tower", tower)
  }
}

final class ModuleTests: XCTestCase {
  func testDottedKeysFollowRegistrationOrder() {
    let model = Toy()
    XCTAssertEqual(
      model.namedParameters().map(\.key),
      ["backbone.weight", "backbone.bias"] + (0..<4).flatMap { ["tower.\($0).weight", "tower.\($0).bias"] })
    XCTAssertEqual(model.namedBuffers().map(\.key).first, "backbone.running_mean")
    XCTAssertEqual(
      model.namedModules().map(\.key), ["", "backbone", "tower", "tower.0", "tower.1", "tower.2", "tower.3"])
    XCTAssertEqual(model.parameterCount, 8 + 16)
    XCTAssertEqual(Set(model.state().keys).count, 10 + 5)
  }

  func testPrintedTreeShowsHyperParametersAndCounts() throws {
    let model = Toy()
    try model.freeze(matching: ["tower.[0-1].*"])
    XCTAssertEqual(
      model.description,
      """
      Toy()  [24 params, 16 trainable]
        (backbone): Affine(features: 4)  [8 params]
        (tower): Tower()  [16 params, 8 trainable]
          (0): Affine(features: 2)  [4 params, 0 trainable]
          (1): Affine(features: 2)  [4 params, 0 trainable]
          (2): Affine(features: 2)  [4 params]
          (3): Affine(features: 2)  [4 params]
      """)
  }

  func testFreezePatternsSelectKeys() throws {
    let model = Toy()
    try model.freeze(matching: ["backbone.*", "*.bias"])
    let trainable = model.namedParameters().filter { !$0.parameter.isFrozen }.map(\.key)
    XCTAssertEqual(trainable, (0..<4).map { "tower.\($0).weight" })
    try model.unfreeze(matching: ["tower.[0-2].bias"])
    XCTAssertEqual(model.trainableParameters().count, 7)
    model.freezeAll()
    XCTAssertTrue(model.trainableParameters().isEmpty)
  }

  func testFrozenParameterRecordsNoGraphAndGetsNoGradient() throws {
    let model = Toy()
    try model.freeze(matching: ["backbone.weight"])
    let output = (model.backbone.weight.value * model.backbone.bias.value).sum()
    output.backward()
    XCTAssertNil(model.backbone.weight.grad)
    XCTAssertNotNil(model.backbone.bias.grad)
    XCTAssertFalse((model.backbone.weight.value * 2).requiresGrad)
  }

  func testPatternMatchingNothingListsCloseKeys() {
    let model = Toy()
    XCTAssertThrowsError(try model.freeze(matching: ["backbon.*"])) { error in
      XCTAssertEqual(
        "\(error)",
        "pattern 'backbon.*' matches no parameter key (close matches: backbone, backbone.bias, backbone.weight)")
    }
  }

  func testTrainEvalPropagates() {
    let model = Toy()
    model.eval()
    XCTAssertTrue(model.namedModules().allSatisfy { !$0.module.isTraining })
    model.train()
    XCTAssertTrue(model.tower.children[3].module.isTraining)
  }

  func testStrictLoadReportsEveryProblemAtOnce() {
    let model = Toy()
    var state = model.state()
    state["backbone.weight"] = Tensor.ones([5])
    state.removeValue(forKey: "tower.3.bias")
    state["tower.9.weight"] = Tensor.ones([2])
    XCTAssertThrowsError(try model.load(parameters: state)) { error in
      XCTAssertEqual(
        "\(error)",
        """
        state does not match the model:
          missing keys (1): tower.3.bias
          unused keys (1): tower.9.weight
          shape mismatch at backbone.weight: model has [4], state has [5]
        """)
    }
    XCTAssertEqual(model.backbone.bias.value.scalars, [0, 0, 0, 0], "a failed load changes nothing")
  }

  func testRelaxedLoadAppliesWhatMatches() throws {
    let model = Toy()
    let state = ["backbone.bias": Tensor.full([4], 2), "extra": Tensor.ones([1])]
    let report = try model.load(parameters: state, verify: [])
    XCTAssertEqual(report.unusedKeys, ["extra"])
    XCTAssertEqual(report.missingKeys.count, 14)
    XCTAssertEqual(model.backbone.bias.value.scalars, [2, 2, 2, 2])
    XCTAssertTrue(model.backbone.bias.value.requiresGrad, "loaded parameters stay trainable leaves")
  }

  func testLoadRoundTripsThroughSafetensors() throws {
    let source = Toy()
    source.backbone.weight.assign(Tensor.normal([4], seed: 5))
    let path = NSTemporaryDirectory() + "module-\(getpid()).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try SafetensorsFile(tensors: source.state()).write(path: path)
    let target = Toy()
    try target.load(parameters: try SafetensorsFile.read(path: path).tensors)
    XCTAssertEqual(target.backbone.weight.value.scalars, source.backbone.weight.value.scalars)
  }
}

final class ContainerTests: XCTestCase {
  func testSequentialChainsLayersWithIndexedKeys() {
    var generator = SeededGenerator(seed: 3)
    let first = Linear(3, 4, generator: &generator), second = Linear(4, 2, generator: &generator)
    let network = Sequential([first, Activation(.relu), Dropout(0.5), second])
    XCTAssertEqual(network.namedParameters().map(\.key), ["0.weight", "0.bias", "3.weight", "3.bias"])
    network.eval()
    let input = Tensor.normal([5, 3], seed: 4)
    assertClose(network(input), second(first(input).relu()))
    XCTAssertEqual(
      network.description,
      """
      Sequential()  [26 params]
        (0): Linear(in: 3, out: 4, bias: true)  [16 params]
        (1): Relu()
        (2): Dropout(p: 0.5)
        (3): Linear(in: 4, out: 2, bias: true)  [10 params]
      """)
    let list = ModuleList([LayerNorm(2), LayerNorm(2)])
    XCTAssertEqual(list.count, 2)
    XCTAssertEqual(list.namedParameters().map(\.key), ["0.weight", "0.bias", "1.weight", "1.bias"])
  }
}
