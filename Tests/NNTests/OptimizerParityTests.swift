import Foundation
import TensorCore
import TensorCoreTestSupport
import XCTest

@testable import NN

private final class MLP: Module {
  let fc1: Linear
  let fc2: Linear

  override init() {
    var generator = SeededGenerator(seed: 0)
    fc1 = Linear(4, 8, generator: &generator)
    fc2 = Linear(8, 3, generator: &generator)
    super.init()
    register("fc1", fc1)
    register("fc2", fc2)
  }

  func callAsFunction(_ input: Tensor) -> Tensor { fc2(fc1(input).relu()) }
}

/// A few training steps from PyTorch's initial weights must land on PyTorch's weights (scripts/reference/optim.py).
final class OptimizerParityTests: XCTestCase {
  /// A parameter large enough for AdamW to split over the cores gets every element updated, by the same formula.
  func testAdamWUpdatesEveryElementOfALargeParameter() {
    let count = 100_003
    let parameter = Parameter(Tensor.normal([count], seed: 1))
    let (initial, gradient) = (parameter.value.scalars, Tensor.normal([count], seed: 2))
    parameter.setGrad(gradient)
    let (lr, decay): (Float, Float) = (0.01, 0.1)
    AdamW(
      [OptimizedParameter(key: "w", parameter: parameter, lrMult: 1, decayMult: 1)], learningRate: lr,
      weightDecay: decay
    ).step()
    // Step 1: m = 0.1·g, v = 0.001·g², bias corrections 0.1 and √0.001, so the step is lr·g / (|g| + 1e-8).
    let updated = parameter.value.scalars
    for index in stride(from: 0, to: count, by: 1) {
      let g = gradient[flat: index]
      let expected = initial[index] * (1 - lr * decay) - lr * g / (abs(g) + 1e-8)
      XCTAssertEqual(updated[index], expected, accuracy: 1e-6, "element \(index)")
      if abs(updated[index] - expected) > 1e-6 { break }
    }
  }

  func testSGDAndAdamWMatchPyTorchAfterFiveSteps() throws {
    let file = try SafetensorsFile.read(path: Fixtures.path("nn/optim.safetensors"))
    XCTAssertEqual(file.metadata.count, 4)
    for (run, json) in file.metadata.sorted(by: { $0.key < $1.key }) {
      let settings = try JSONSerialization.jsonObject(with: json.data(using: .utf8)!) as! [String: Any]
      func number(_ key: String) -> Float { (settings[key] as! NSNumber).floatValue }
      let model = MLP()
      try model.load(
        parameters: file.tensors.filter { $0.key.hasPrefix("init.") }.reduce(into: [:]) {
          $0[String($1.key.dropFirst(5))] = $1.value
        })
      let groups = [ParameterGroupRule(match: ["fc1.*"], lrMult: number("fc1_lr_mult"))]
      let parameters = try optimizedParameters(
        of: model, groups: groups, noDecayOnNormsAndBiases: settings["no_decay_bias"] as! Bool)
      let optimizer: any Optimizer
      if settings["optimizer"] as! String == "sgd" {
        optimizer = SGD(
          parameters, learningRate: number("lr"), momentum: number("momentum"), nesterov: settings["nesterov"] as! Bool,
          weightDecay: number("weight_decay"))
      } else {
        let betas = (settings["betas"] as! [NSNumber]).map(\.floatValue)
        optimizer = AdamW(
          parameters, learningRate: number("lr"), beta1: betas[0], beta2: betas[1], epsilon: number("eps"),
          weightDecay: number("weight_decay"))
      }
      let (x, y) = (file["data.x"]!, file["data.y"]!)
      for step in 0..<(settings["steps"] as! Int) {
        optimizer.zeroGrad()
        let difference = model(x) - y
        let loss = (difference * difference).mean()
        XCTAssertEqual(loss.item, file["\(run).loss.\(step)"]!.item, accuracy: 1e-5, "\(run) loss at step \(step)")
        loss.backward()
        optimizer.step()
      }
      for (key, value) in model.state() {
        assertClose(value, file["\(run).\(key)"]!, tolerance: 1e-5, "\(run): \(key) after training")
      }
    }
  }

  func testFrozenParametersGetNoUpdateAndNoState() throws {
    let model = MLP()
    try model.freeze(matching: ["fc1.*"])
    let before = model.fc1.weight.value.scalars
    let trainableBefore = model.fc2.weight.value.scalars
    let optimizer = AdamW(try optimizedParameters(of: model), learningRate: 0.1)
    let loss = model(Tensor.normal([2, 4], seed: 1)).sum()
    loss.backward()
    optimizer.step()
    XCTAssertEqual(model.fc1.weight.value.scalars, before)
    XCTAssertNil(model.fc1.weight.grad)
    XCTAssertNotEqual(model.fc2.weight.value.scalars, trainableBefore, "trainable parameters still move")
  }

  func testNoDecayOptionExemptsNormsAndBiases() throws {
    final class Net: Module {
      override init() {
        var generator = SeededGenerator(seed: 0)
        super.init()
        register("proj", Linear(2, 2, generator: &generator))
        register("norm", LayerNorm(2))
      }
    }
    let decays = try optimizedParameters(of: Net(), noDecayOnNormsAndBiases: true).map { "\($0.key)=\($0.decayMult)" }
    XCTAssertEqual(decays, ["proj.weight=1.0", "proj.bias=0.0", "norm.weight=0.0", "norm.bias=0.0"])
    XCTAssertThrowsError(try optimizedParameters(of: Net(), groups: [ParameterGroupRule(match: ["backbone.*"])]))
  }
}
