import Config
import Detection
import Foundation
import Imaging
import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

@testable import Components

final class BackboneTests: XCTestCase {
  private var repository: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  }

  func testMobileNetV2WithImageNetWeightsMatchesTorchvisionOnARealPhoto() throws {
    let weights = try Fixtures.pretrained("mobilenet_v2-b0353104.pth")
    var generator = SeededGenerator(seed: 0)
    let model = MobileNetV2(classifier: true, generator: &generator)
    let remap = try RemapTable(yaml: BuiltinRemaps.torchvisionClassifier, file: "torchvision_classifier.yaml")
    let report = try model.load(
      parameters: try remap.apply(PyTorchCheckpoint.read(path: weights)).mapped, verify: [.noUnusedKeys, .shapes])
    XCTAssertTrue(report.missingKeys.allSatisfy { $0.hasSuffix("num_batches_tracked") })
    model.eval()
    let photo = try ImageIO.read(path: Fixtures.path("images/chelsea.png"))
    let input = ImageTransforms.resize(
      ImageTransforms.tensor(photo, format: model.pixelFormat), height: 224, width: 224
    ).unsqueezed(0)
    let reference = try SafetensorsFile.read(path: Fixtures.path("vision/mobilenet_v2_chelsea.safetensors"))
    let (levels, logits) = withNoGrad { (model.features(input), model.logits(input)) }
    for (level, stride) in zip(levels, [8, 16, 32]) {
      assertClose(level, reference["level_\(stride)"]!, tolerance: 1e-4, "stride \(stride)")
    }
    assertClose(logits, reference["logits"]!, tolerance: 1e-4, "logits")
    XCTAssertEqual(logits.argmax(axis: 1).item, 285, "ImageNet class 285 is 'Egyptian cat'")
  }

  func testMobileNetV2InferenceRunsAsOneBlockedChainMatchingThePlainPass() throws {
    try XCTSkipUnless(KernelBackend.isOneDNNAvailable, "oneDNN is not loaded: the chain needs it")
    try XCTSkipIf(OneDNNLayoutChoice.current != .chained, "GLIP_ONEDNN_LAYOUT turns chains off")
    let weights = try Fixtures.pretrained("mobilenet_v2-b0353104.pth")
    var generator = SeededGenerator(seed: 0)
    let model = MobileNetV2(outStrides: [4, 8, 16, 32], generator: &generator)
    let remap = try RemapTable(yaml: BuiltinRemaps.torchvisionBackbone, file: "torchvision_backbone.yaml")
    _ = try model.load(parameters: try remap.apply(PyTorchCheckpoint.read(path: weights)).mapped, verify: [.shapes])
    model.eval()
    let input = Tensor.normal([2, 3, 96, 80], seed: 1)
    let chained = try XCTUnwrap(
      KernelBackend.convolutions.with(.onednn) { withNoGrad { model.blockedFeatures(input) } }, "the chain ran")
    let plain = KernelBackend.convolutions.with(.own) { withNoGrad { model.plainFeatures(input) } }
    XCTAssertEqual(chained.map(\.shape), plain.map(\.shape))
    for (stride, (output, expected)) in zip([4, 8, 16, 32], zip(chained, plain)) {
      assertClose(output, expected, tolerance: 1e-4, "stride \(stride)")
    }
    model.train()
    XCTAssertNil(
      KernelBackend.convolutions.with(.onednn) { withNoGrad { model.blockedFeatures(input) } }, "batch statistics")
  }

  func testResNetCodePathsMatchTorchvisionAtReducedWidth() throws {
    let reference = try SafetensorsFile.read(path: Fixtures.path("vision/resnet_small.safetensors"))
    for (name, depth) in [("r50", 50), ("r18", 18)] {
      var generator = SeededGenerator(seed: 0)
      let model = ResNet(depth: depth, outLevels: [2, 3, 4, 5], baseWidth: 4, generator: &generator)
      let state = reference.tensors.filter { $0.key.hasPrefix(name + ".") }
      try model.load(
        parameters: Dictionary(uniqueKeysWithValues: state.map { (String($0.key.dropFirst(4)), $0.value) }))
      model.eval()
      let outputs = withNoGrad { model.features(reference["input"]!) }
      for (level, output) in zip(2...5, outputs) {
        assertClose(output, reference["\(name)_out.c\(level)"]!, tolerance: 1e-4, "\(name) C\(level)")
      }
    }
  }

  func testResNetInferenceRunsAsOneBlockedChainMatchingThePlainPass() throws {
    try XCTSkipUnless(KernelBackend.isOneDNNAvailable, "oneDNN is not loaded: the chain needs it")
    try XCTSkipIf(OneDNNLayoutChoice.current != .chained, "GLIP_ONEDNN_LAYOUT turns chains off")
    let reference = try SafetensorsFile.read(path: Fixtures.path("vision/resnet_small.safetensors"))
    var generator = SeededGenerator(seed: 0)
    let model = ResNet(depth: 50, outLevels: [2, 3, 4, 5], baseWidth: 4, generator: &generator)
    let state = reference.tensors.filter { $0.key.hasPrefix("r50.") }
    try model.load(parameters: Dictionary(uniqueKeysWithValues: state.map { (String($0.key.dropFirst(4)), $0.value) }))
    let input = reference["input"]!
    model.eval()
    let chained = try XCTUnwrap(
      KernelBackend.convolutions.with(.onednn) { withNoGrad { model.blockedFeatures(input) } }, "the chain ran")
    let plain = KernelBackend.convolutions.with(.own) { withNoGrad { model.plainFeatures(input) } }
    for (level, (output, expected)) in zip(2...5, zip(chained, plain)) {
      assertClose(output, expected, tolerance: 1e-4, "C\(level)")
    }
    // Training mode (batch statistics) and recorded gradients take the plain pass.
    XCTAssertNil(KernelBackend.convolutions.with(.onednn) { model.blockedFeatures(input) }, "gradients recorded")
    model.train()
    XCTAssertNil(
      KernelBackend.convolutions.with(.onednn) { withNoGrad { model.blockedFeatures(input) } }, "batch statistics")
  }

  func testFPNMatchesTorchvisionFeaturePyramidNetwork() throws {
    let reference = try SafetensorsFile.read(path: Fixtures.path("vision/fpn.safetensors"))
    var generator = SeededGenerator(seed: 0)
    let specs = [
      FeatureSpec(channels: 8, stride: 8), FeatureSpec(channels: 16, stride: 16), FeatureSpec(channels: 32, stride: 32),
    ]
    let fpn = FPN(inputSpecs: specs, channels: 16, generator: &generator)
    var state: [String: Tensor] = [:]
    for (key, value) in reference.tensors where key.hasPrefix("weight.") {
      let mapped = String(key.dropFirst(7)).replacingOccurrences(of: "inner_blocks.", with: "lateral.")
        .replacingOccurrences(of: "layer_blocks.", with: "output.").replacingOccurrences(of: "extra_blocks.", with: "")
        .replacingOccurrences(of: ".0.weight", with: ".weight").replacingOccurrences(of: ".0.bias", with: ".bias")
      state[mapped] = value
    }
    try fpn.load(parameters: state)
    let outputs = fpn(["c3", "c4", "c5"].map { reference["input.\($0)"]! })
    XCTAssertEqual(fpn.outputSpecs.map(\.stride), [8, 16, 32, 64, 128])
    for (index, output) in outputs.enumerated() {
      assertClose(output, reference["output.\(index)"]!, tolerance: 1e-5, "P\(index + 3)")
    }
  }

  func testFullSizeParameterCountsAndKeysMatchTorchvision() throws {
    struct Entry: Decodable {
      struct Key: Decodable {
        let key: String
        let shape: [Int]
      }
      let parameters: Int
      let keys: [Key]
    }
    let counts = try JSONDecoder().decode(
      [String: Entry].self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vision/parameter_counts.json"))))
    var generator = SeededGenerator(seed: 0)
    let models: [(String, Module)] = withShapesOnly {
      [
        ("resnet18", ResNet(depth: 18, generator: &generator)), ("resnet50", ResNet(depth: 50, generator: &generator)),
        ("mobilenet_v2", MobileNetV2(generator: &generator)),
      ]
    }
    for (name, model) in models {
      XCTAssertEqual(model.parameterCount, counts[name]!.parameters, name)
      let ours = model.state().filter { !$0.key.hasSuffix("num_batches_tracked") }.mapValues(\.shape)
      let theirs = Dictionary(uniqueKeysWithValues: counts[name]!.keys.map { ($0.key, $0.shape) })
      XCTAssertEqual(ours, theirs, name)
    }
  }

  func testFrozenStagesFollowGLIPsConvention() {
    var generator = SeededGenerator(seed: 0)
    let model = withShapesOnly { ResNet(depth: 18, frozenStages: 2, norm: .frozenBN, generator: &generator) }
    let frozenConvs = Set(
      model.namedParameters().filter { $0.parameter.isFrozen && $0.key.contains("conv") }.map {
        $0.key.split(separator: ".")[0]
      })
    XCTAssertEqual(frozenConvs, ["conv1", "layer1"], "frozen_stages 2: the stem and the first stage")
    XCTAssertTrue(
      model.namedParameters().filter { $0.key.contains("bn") }.allSatisfy { $0.parameter.isFrozen },
      "frozen_bn never trains")
  }
}

final class SwinTests: XCTestCase {
  /// torchvision's Swin keys → the official layout.
  static func officialKey(_ key: String) -> String? {
    let parts = key.split(separator: ".").map(String.init)
    guard parts[0] == "features", let index = Int(parts[1]) else { return nil }
    if parts.last == "relative_position_index" { return nil }
    if index == 0 { return "patch_embed." + (parts[2] == "0" ? "proj" : "norm") + "." + parts[3] }
    let rest = parts.dropFirst(2).joined(separator: ".").replacingOccurrences(of: "mlp.0.", with: "mlp.fc1.")
      .replacingOccurrences(of: "mlp.3.", with: "mlp.fc2.")
    return index % 2 == 1 ? "layers.\((index - 1) / 2).blocks.\(rest)" : "layers.\((index - 2) / 2).downsample.\(rest)"
  }

  func testSwinCodePathMatchesTorchvisionWithOfficialKeys() throws {
    let reference = try SafetensorsFile.read(path: Fixtures.path("vision/swin_small.safetensors"))
    var generator = SeededGenerator(seed: 0)
    let model = Swin(
      embedDim: 8, depths: [2, 2, 2, 2], heads: [1, 2, 2, 4], window: 2, dropPath: 0, outStages: [0, 1, 2, 3],
      generator: &generator)
    var state: [String: Tensor] = [:]
    for (key, value) in reference.tensors where key.hasPrefix("weight.") {
      if let mapped = SwinTests.officialKey(String(key.dropFirst(7))) { state[mapped] = value }
    }
    let report = try model.load(parameters: state, verify: [.noUnusedKeys, .shapes])
    XCTAssertEqual(report.missingKeys.filter { !$0.hasPrefix("norm") }, [], "only the detection output norms are new")
    model.eval()
    // Without gradients the window attention takes the fused kernel; with them, the separate ops.
    for (name, recording) in [("square", false), ("padded", false), ("square", true), ("padded", true)] {
      let input = reference["\(name).input"]!
      let outputs = recording ? model.stageOutputs(input) : withNoGrad { model.stageOutputs(input) }
      for (stage, output) in outputs.enumerated() {
        let grid = output.tokens.reshaped([1, output.height, output.width, -1]).permuted(0, 3, 1, 2)
        assertClose(
          grid, reference["\(name).stage\(stage)"]!, tolerance: 1e-4, "\(name) stage \(stage), gradients \(recording)")
      }
    }
  }

  /// Two images in a batch give each image's own outputs (the shifted-window mask repeats per image).
  func testSwinBatchOfTwoMatchesEachImageAlone() {
    var generator = SeededGenerator(seed: 3)
    let model = Swin(
      embedDim: 8, depths: [2, 2, 0, 0], heads: [2, 2, 2, 2], window: 2, dropPath: 0, outStages: [0, 1],
      generator: &generator)
    model.eval()
    let images = [Tensor.normal([1, 3, 20, 24], seed: 4), Tensor.normal([1, 3, 20, 24], seed: 5)]
    let batched = withNoGrad { model.stageOutputs(Tensor.concat(images, axis: 0)) }
    for (index, image) in images.enumerated() {
      let alone = withNoGrad { model.stageOutputs(image) }
      for stage in alone.indices {
        assertClose(
          batched[stage].tokens.slice(axis: 0, start: index, end: index + 1), alone[stage].tokens, tolerance: 1e-5,
          "image \(index) stage \(stage)")
      }
    }
  }

  /// Window attention under autograd (the fused kernel, bias and mask as additive terms) gives the values and the
  /// gradients of the paper's formulation op by op: scores, plus the relative position bias, plus the shifted-window
  /// mask per image, softmax, values.
  func testWindowAttentionGradientsMatchTheOpByOpFormulation() {
    let (images, window, heads, channels) = (2, 2, 2, 8)
    var generator = SeededGenerator(seed: 11)
    let attention = Swin.WindowAttention(dim: channels, heads: heads, window: window, generator: &generator)
    let mask = Swin.attentionMask(height: 4, width: 4, window: window, shift: 1)
    let (windowsPerImage, tokens) = (mask.shape[0], window * window)
    let count = images * windowsPerImage
    var windows = Tensor.normal([count, tokens, channels], seed: 12)
    windows.requiresGrad = true
    let seed = Tensor.normal([count, tokens, channels], seed: 13)

    func opByOp() -> Tensor {
      let headWidth = channels / heads
      let parts = attention.qkv(windows).reshaped([count, tokens, 3, heads, headWidth]).permuted(2, 0, 3, 1, 4)
        .split(sizes: [1, 1, 1], axis: 0).map { $0.squeezed(0) }
      let bias = Tensor.embedding(weight: attention.biasTable.value, ids: attention.relativeIndex)
        .reshaped([tokens, tokens, heads]).permuted(2, 0, 1)
      var scores = (parts[0] * (1 / Float(headWidth).squareRoot())).matmulTransposed(parts[1]) + bias
      scores =
        (scores.reshaped([images, windowsPerImage, heads, tokens, tokens])
        + mask.reshaped([1, windowsPerImage, 1, tokens, tokens])).reshaped([count, heads, tokens, tokens])
      let attended = scores.softmax(axis: -1).matmul(parts[2]).transposed(1, 2).reshaped([count, tokens, channels])
      return attention.proj(attended)
    }
    func gradients(_ forward: () -> Tensor) -> (output: Tensor, grads: [Tensor]) {
      windows.grad = nil
      for parameter in attention.parameters() { parameter.zeroGrad() }
      let output = forward()
      output.backward(seed)
      return (
        output, [windows.grad!, attention.biasTable.grad!, attention.qkv.weight.grad!, attention.proj.weight.grad!]
      )
    }
    let fused = gradients { attention(windows, mask: mask) }
    let reference = gradients(opByOp)
    assertClose(fused.output, reference.output, tolerance: 1e-5)
    for (name, (ours, expected)) in zip(
      ["windows", "bias table", "qkv weight", "proj weight"], zip(fused.grads, reference.grads))
    {
      assertClose(ours, expected, tolerance: 1e-4, name)
    }
  }

  func testSwinTinyParameterCountMatchesTorchvision() throws {
    struct Entry: Decodable { let parameters: Int }
    let counts = try JSONDecoder().decode(
      [String: Entry].self, from: Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vision/parameter_counts.json"))))
    var generator = SeededGenerator(seed: 0)
    let model = withShapesOnly {
      Swin(
        embedDim: 96, depths: [2, 2, 6, 2], heads: [3, 6, 12, 24], window: 7, outStages: [1, 2, 3],
        generator: &generator)
    }
    let outputNorms = 2 * (192 + 384 + 768)
    XCTAssertEqual(model.parameterCount - outputNorms, counts["swin_t"]!.parameters)
  }

  func testShiftedWindowMaskSeparatesRegions() {
    let mask = Swin.attentionMask(height: 4, width: 4, window: 2, shift: 1)
    XCTAssertEqual(mask.shape, [4, 4, 4])
    XCTAssertEqual(
      mask.slice(axis: 0, end: 1).scalars, [Float](repeating: 0, count: 16), "the first window is one region")
    XCTAssertEqual(mask.slice(axis: 0, start: 3).scalars.filter { $0 == -100 }.count, 12, "the last window has four")
  }
}

final class RemapTransformTests: XCTestCase {
  func testMMDetectionSwinMergingWeightsAreReorderedIntoTheOfficialOrder() throws {
    let table = try RemapTable(yaml: BuiltinRemaps.mmdetSwin, file: "mmdet_swin.yaml")
    // Official layout for 2 channels: [x0c0, x0c1, x1c0, x1c1, x2c0, x2c1, x3c0, x3c1], tagged 10·block + channel.
    // MMDetection's unfold layout is per channel, blocks in the order 0, 2, 1, 3: [c0: 0, 20, 10, 30, c1: 1, 21, 11, 31].
    let weight = Tensor(shape: [1, 8], values: [0, 20, 10, 30, 1, 21, 11, 31])
    let (mapped, _) = try table.apply([
      "backbone.stages.0.downsample.reduction.weight": weight,
      "backbone.stages.0.blocks.1.attn.w_msa.qkv.weight": Tensor.ones([3, 1]),
    ])
    XCTAssertEqual(mapped["layers.0.downsample.reduction.weight"]?.scalars, [0, 1, 10, 11, 20, 21, 30, 31])
    XCTAssertNotNil(mapped["layers.0.blocks.1.attn.qkv.weight"])
    XCTAssertThrowsError(
      try RemapTable(yaml: "transforms: [{match: x, reorder_blocks: [0, 0]}]\n", file: "bad.yaml")
    ) { error in
      XCTAssertTrue("\(error)".contains("expected a permutation"), "\(error)")
    }
  }
}
