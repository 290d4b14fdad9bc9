import Foundation
import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

/// Each layer loads a PyTorch module's state dict strictly (so its keys match), then must reproduce the module's
/// output, input gradients, parameter gradients and updated buffers.
final class LayerParityTests: XCTestCase {
  private struct LayerCase {
    let name: String
    let layer: String
    let args: [String: Any]
    let training: Bool
    let file: SafetensorsFile

    func tensors(_ prefix: String) -> [String: Tensor] {
      var result: [String: Tensor] = [:]
      for (key, value) in file.tensors where key.hasPrefix("\(name).\(prefix).") {
        result[String(key.dropFirst(name.count + prefix.count + 2))] = value
      }
      return result
    }

    func int(_ key: String) -> Int { (args[key] as! NSNumber).intValue }
  }

  private func cases() throws -> [LayerCase] {
    let file = try SafetensorsFile.read(path: Fixtures.path("nn/layers.safetensors"))
    return try file.metadata.keys.sorted().map { name in
      let entry = try JSONSerialization.jsonObject(with: file.metadata[name]!.data(using: .utf8)!) as! [String: Any]
      return LayerCase(
        name: name, layer: entry["layer"] as! String, args: entry["args"] as! [String: Any],
        training: entry["training"] as! Bool, file: file)
    }
  }

  private func build(_ layerCase: LayerCase) -> Module {
    var generator = SeededGenerator(seed: 0)
    switch layerCase.layer {
    case "linear":
      return Linear(
        layerCase.int("in"), layerCase.int("out"), bias: layerCase.args["bias"] as! Bool, generator: &generator)
    case "conv2d":
      return Conv2d(
        layerCase.int("in"), layerCase.int("out"), kernelSize: layerCase.int("kernel"), stride: layerCase.int("stride"),
        padding: layerCase.int("padding"), groups: layerCase.int("groups"), generator: &generator)
    case "batch_norm": return BatchNorm2d(layerCase.int("channels"))
    case "group_norm": return GroupNorm(groups: layerCase.int("groups"), channels: layerCase.int("channels"))
    case "layer_norm": return LayerNorm(layerCase.int("features"))
    case "embedding":
      return Embedding(
        layerCase.int("count"), layerCase.int("dim"), paddingIndex: layerCase.int("padding"), generator: &generator)
    case "multihead_attention":
      return MultiheadAttention(embedDim: layerCase.int("embed"), heads: layerCase.int("heads"), generator: &generator)
    default:
      fatalError("unknown layer \(layerCase.layer)")
    }
  }

  func testLayersMatchPyTorchModules() throws {
    let all = try cases()
    XCTAssertEqual(all.count, 9)
    for layerCase in all {
      let module = build(layerCase)
      try module.load(parameters: layerCase.tensors("state"))
      module.train(layerCase.training)
      let inputs = layerCase.tensors("input")
      var ordered = (0..<inputs.count).map { inputs["\($0)"]! }
      let inputGrads = layerCase.tensors("grad.input")
      for key in inputGrads.keys { ordered[Int(key)!].requiresGrad = true }
      let output: Tensor
      switch module {
      case let attention as MultiheadAttention:
        output = attention(query: ordered[0], key: ordered[1], value: ordered[2], keyPaddingMask: ordered[3])
      case let embedding as Embedding:
        output = embedding(ordered[0])
      case let layer as any UnaryLayer:
        output = layer(ordered[0])
      default:
        fatalError("layer \(layerCase.name) has no call")
      }
      let expected = layerCase.file["\(layerCase.name).output"]!
      assertClose(output, expected, tolerance: 1e-5, "\(layerCase.name) output")
      output.backward(layerCase.file["\(layerCase.name).gout"]!)
      for (key, grad) in inputGrads {
        assertClose(ordered[Int(key)!].grad!, grad, tolerance: 1e-4, "\(layerCase.name) gradient of input \(key)")
      }
      let parameters = Dictionary(uniqueKeysWithValues: module.namedParameters().map { ($0.key, $0.parameter) })
      for (key, grad) in layerCase.tensors("grad") where !key.hasPrefix("input.") {
        guard let parameter = parameters[key], let actual = parameter.grad else {
          XCTFail("\(layerCase.name): no gradient for \(key)")
          continue
        }
        assertClose(actual, grad, tolerance: 1e-4, "\(layerCase.name) gradient of \(key)")
      }
      let state = module.state()
      for (key, value) in layerCase.tensors("after") {
        assertClose(state[key]!, value, tolerance: 1e-5, "\(layerCase.name) buffer \(key) after forward")
      }
    }
  }

  func testFrozenBatchNormMatchesEvalBatchNormAndNeverUpdates() throws {
    let layerCase = try cases().first { $0.name == "batch_norm_eval" }!
    let frozen = FrozenBatchNorm2d(3)
    var state = layerCase.tensors("state")
    state.removeValue(forKey: "num_batches_tracked")
    try frozen.load(parameters: state)
    frozen.train()
    let output = frozen(layerCase.tensors("input")["0"]!)
    assertClose(output, layerCase.file["batch_norm_eval.output"]!, tolerance: 1e-5)
    XCTAssertEqual(frozen.trainableParameterCount, 0)
    XCTAssertEqual(frozen.state()["running_mean"]?.scalars, state["running_mean"]?.scalars)
  }

  func testDeformConvStartsAsPlainConvAndHasTorchvisionStyleKeys() {
    var generator = SeededGenerator(seed: 1)
    let layer = DeformConv2d(4, 5, generator: &generator)
    XCTAssertEqual(layer.namedParameters().map(\.key), ["weight", "bias", "offset.weight", "offset.bias"])
    let input = Tensor.normal([1, 4, 6, 6], seed: 2)
    // Zero offsets and a mask of sigmoid(0) = 0.5 everywhere: half of the plain convolution plus the bias.
    let plain = Tensor.conv2d(input, weight: layer.weight.value, padding: (1, 1)) * 0.5
    assertClose(layer(input), plain + layer.bias!.value.reshaped([1, 5, 1, 1]), tolerance: 1e-5)
  }
}
