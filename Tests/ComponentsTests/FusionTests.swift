import Components
import Config
import Detection
import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

final class FusionTests: XCTestCase {
  func testXMHABlockMatchesTheReferenceForwardAndBackward() throws {
    let reference = try SafetensorsFile.read(path: Fixtures.path("heads/bi_attention.safetensors"))
    var generator = SeededGenerator(seed: 0)
    let block = BiAttentionFusion(
      visualDim: 8, textDim: 6, embedDim: 16, heads: 4, dropout: 0.1, towerBlocks: 2, direction: .both,
      generator: &generator)
    XCTAssertEqual(block.gammaV.value.scalars.first, 0.5, "γ starts at 1/blocks")
    var state: [String: Tensor] = [:]
    for (key, value) in reference.tensors where key.hasPrefix("weight.") { state[String(key.dropFirst(7))] = value }
    try block.load(parameters: state)
    block.eval()
    var levels = [reference["input.level0"]!, reference["input.level1"]!]
    var text = reference["input.text"]!
    for index in levels.indices { levels[index].requiresGrad = true }
    text.requiresGrad = true
    let textFeatures = TextFeatures(hidden: text, mask: reference["input.mask"]!)
    let (streamed, streamedText) = withNoGrad { block.fuse(image: levels, text: textFeatures) }
    assertClose(streamed[0], reference["output.level0"]!, tolerance: 1e-5, "level 0 without gradients (streamed)")
    assertClose(streamed[1], reference["output.level1"]!, tolerance: 1e-5, "level 1 without gradients (streamed)")
    assertClose(streamedText.hidden, reference["output.text"]!, tolerance: 1e-5, "text without gradients (streamed)")
    let (fused, fusedText) = block.fuse(image: levels, text: textFeatures)
    assertClose(fused[0], reference["output.level0"]!, tolerance: 1e-5, "level 0")
    assertClose(fused[1], reference["output.level1"]!, tolerance: 1e-5, "level 1")
    assertClose(fusedText.hidden, reference["output.text"]!, tolerance: 1e-5, "text")
    let loss =
      (fused[0] * reference["seed.level0"]!).sum() + (fused[1] * reference["seed.level1"]!).sum()
      + (fusedText.hidden * reference["seed.text"]!).sum()
    loss.backward()
    assertClose(levels[0].grad!, reference["grad.input.level0"]!, tolerance: 1e-4, "d level 0")
    assertClose(levels[1].grad!, reference["grad.input.level1"]!, tolerance: 1e-4, "d level 1")
    assertClose(text.grad!, reference["grad.input.text"]!, tolerance: 1e-4, "d text")
    for (key, parameter) in block.namedParameters() {
      assertClose(parameter.grad!, reference["grad.\(key)"]!, tolerance: 1e-4, "d \(key)")
    }
  }

  func testDeepFusionPutsOneBlockInEveryTowerStage() throws {
    let config = tinyConfig.replacingOccurrences(
      of: "fusion: {type: none}", with: "fusion: {type: bi_attention, embed_dim: 32, heads: 4}"
    ).replacingOccurrences(of: "blocks: 2}", with: "blocks: 2, text_heads: 4}")
    let (detector, usage, root) = try assemble(config)
    XCTAssertEqual(usage.unknownKeys(in: root), [])
    let keys = detector.namedParameters().map(\.key)
    XCTAssertTrue(keys.contains("head.tower.0.fusion.attn.v_proj.weight"))
    XCTAssertTrue(keys.contains("head.tower.1.fusion.gamma_l"))
    XCTAssertTrue(keys.contains("head.tower.1.text_layer.attention.self.query.weight"), "a new BERT layer per block")
    let gamma = detector.namedParameters().first { $0.key == "head.tower.0.fusion.gamma_v" }!.parameter
    XCTAssertEqual(gamma.value.scalars.first, 0.5, "γ = 1/blocks for a 2-block tower")
    let late = try assemble(
      config.replacingOccurrences(of: "type: bi_attention,", with: "type: bi_attention, placement: late,"))
    XCTAssertFalse(late.0.namedParameters().contains { $0.key.contains(".fusion.") })
    let encoder = detector.textEncoder as! ClassEmbeddingEncoder
    let target = GroundingTarget(boxes: [[4, 4, 40, 40]], positiveMap: Tensor(shape: [1, 3], values: [0, 1, 0]))
    let loss = detector.loss(
      Tensor.normal([1, 3, 64, 64], seed: 2), tokens: encoder.prompt(batch: 1), targets: [target])
    loss["loss"]!.backward()
    XCTAssertNotNil(gamma.grad, "the fusion block trains")
  }

  func testOneDirectionVariantsLeaveTheOtherStreamNormalisedOnly() throws {
    var generator = SeededGenerator(seed: 1)
    let levels = [Tensor.normal([1, 8, 3, 3], seed: 3)]
    let text = TextFeatures(hidden: Tensor.normal([1, 4, 6], seed: 4), mask: .ones([1, 4]))
    let textOnly = BiAttentionFusion(
      visualDim: 8, textDim: 6, embedDim: 16, heads: 2, dropout: 0, towerBlocks: 1, direction: .imageToText,
      generator: &generator)
    let (visual, _) = textOnly.fuse(image: levels, text: text)
    let normalized = textOnly.normV(levels[0].flattened(startAxis: 2).transposed(1, 2)).transposed(1, 2).reshaped([
      1, 8, 3, 3,
    ])
    assertClose(visual[0], normalized)
  }
}

final class FiLMTests: XCTestCase {
  func testFiLMModulatesChannelsFromUnpaddedTokensAndTrains() throws {
    var generator = SeededGenerator(seed: 2)
    let film = FiLMFusion(visualDim: 4, textDim: 3, towerBlocks: 2, generator: &generator)
    let level = Tensor.normal([2, 4, 2, 2], seed: 5)
    let hidden = Tensor.normal([2, 3, 3], seed: 6)
    let mask = Tensor(shape: [2, 3], values: [1, 1, 1, 1, 0, 0])
    let (fused, text) = film.fuse(image: [level], text: TextFeatures(hidden: hidden, mask: mask))
    XCTAssertEqual(text.hidden.scalars, hidden.scalars)
    // Padded tokens must not matter: change them and the output stays.
    var changed = hidden
    for index in 12..<18 { changed[flat: index] = 100 }
    let (again, _) = film.fuse(image: [level], text: TextFeatures(hidden: changed, mask: mask))
    assertClose(again[0], fused[0])
    GradientChecker.check([level, hidden], epsilon: 1e-3) {
      film.fuse(image: [$0[0]], text: TextFeatures(hidden: $0[1], mask: mask)).image[0]
    }
  }
}
