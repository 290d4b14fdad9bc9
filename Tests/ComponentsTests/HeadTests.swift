import Components
import Config
import Detection
import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

final class HeadTests: XCTestCase {
  func testATSSAssignmentMatchesTheReference() throws {
    let reference = try SafetensorsFile.read(path: Fixtures.path("heads/assignment.safetensors"))
    let boxes = reference["atss.boxes"]!
    let target = GroundingTarget(
      boxes: (0..<boxes.shape[0]).map { Array(boxes.scalars[($0 * 4)..<($0 * 4 + 4)]) },
      positiveMap: .ones([boxes.shape[0], 1]))
    let design = ATSSHead.design(strides: [8, 16, 32])
    let grid = LocationGrid(levelSizes: [(12, 16), (6, 8), (3, 4)], scheme: design.locations)
    let assigned = design.assigner.assign(target, grid: grid).map { Float($0.box) }
    XCTAssertEqual(assigned, reference["atss.assigned"]!.scalars)
    XCTAssertGreaterThan(assigned.filter { $0 >= 0 }.count, 10)
  }

  func testBoxCoderRoundTripsAndClampsSizes() {
    let coder = DeltaBoxCoder(weights: ATSSHead.weights)
    let anchor: [Float] = [10, 20, 74, 84]
    let box: [Float] = [15, 30, 60, 100]
    let deltas = coder.encode(box, anchor: anchor)
    let decoded = coder.decode(
      Tensor(shape: [1, 4], values: deltas), references: Tensor(shape: [1, 4], values: anchor))
    assertClose(decoded, box, tolerance: 1e-4)
    let huge = coder.decode(
      Tensor(shape: [1, 4], values: [0, 0, 100, 100]), references: Tensor(shape: [1, 4], values: anchor))
    XCTAssertLessThanOrEqual(huge[flat: 2] - huge[flat: 0], 64 * 1000 / 16 + 1, "dw is clamped at log(1000/16)")
  }

  func testFocalAndGIoULossesMatchTorchvisionOps() throws {
    let reference = try SafetensorsFile.read(path: Fixtures.path("heads/assignment.safetensors"))
    let logits = reference["focal.logits"]!
    let focal = DetectionLoss.sigmoidFocal(logits, targets: reference["focal.targets"]!, weight: .ones(logits.shape))
    XCTAssertEqual(
      focal.item, reference["focal.loss"]!.item, accuracy: 1e-4 * max(1, abs(reference["focal.loss"]!.item)))
    assertClose(DetectionLoss.boxGIoU(reference["giou.predicted"]!, reference["giou.target"]!), reference["giou.loss"]!)
  }

  func testNMSKeepsTheGreedyTorchvisionSelection() {
    let boxes: [[Float]] = [[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10], [21, 21, 29, 29]]
    let scores: [Float] = [0.9, 0.8, 0.7, 0.95, 0.6]
    XCTAssertEqual(BoxOps.nms(boxes: boxes, scores: scores, iouThreshold: 0.5), [3, 2])
    XCTAssertEqual(
      BoxOps.batchedNMS(boxes: boxes, scores: scores, labels: [0, 1, 0, 1, 0], iouThreshold: 0.5), [3, 0, 2])
  }

  func testATSSGroundingModelTrainsAndDetects() throws {
    let config = tinyConfig.replacingOccurrences(of: "head: {type: fcos", with: "head: {type: atss")
    let (detector, usage, root) = try assemble(config)
    XCTAssertEqual(usage.unknownKeys(in: root), [])
    let encoder = detector.textEncoder as! ClassEmbeddingEncoder
    let images = Tensor.normal([1, 3, 64, 64], seed: 3)
    let target = GroundingTarget(boxes: [[6, 8, 50, 44]], positiveMap: Tensor(shape: [1, 3], values: [0, 0, 1]))
    let terms = detector.loss(images, tokens: encoder.prompt(batch: 1), targets: [target])
    XCTAssertGreaterThan(terms["loss_giou"]!.item, 0, "ATSS found positives")
    terms["loss"]!.backward()
    XCTAssertNotNil(detector.head.namedParameters().first { $0.key == "bbox_pred.weight" }?.parameter.grad)
    let prompt = ["red circle", "blue star", "ring"].enumerated().map { PromptPhrase(text: $1, tokens: [$0]) }
    let detections = detector.detect(images, tokens: encoder.prompt(batch: 1), phrases: [prompt])
    XCTAssertLessThanOrEqual(detections[0].count, 100)
    for detection in detections[0] { XCTAssertEqual(detection.phrase, prompt[detection.phraseIndex].text) }
  }
}

final class DyHeadTests: XCTestCase {
  func testDyHeadBlockMatchesTheReferenceForwardAndBackward() throws {
    let reference = try SafetensorsFile.read(path: Fixtures.path("heads/dyhead.safetensors"))
    var generator = SeededGenerator(seed: 0)
    let block = DyHeadConv(channels: 16, generator: &generator)
    var state: [String: Tensor] = [:]
    for (key, value) in reference.tensors where key.hasPrefix("weight.") {
      state[String(key.dropFirst(7))] = value
    }
    try block.load(parameters: state)
    var levels = (0..<3).map { reference["input.\($0)"]! }
    for index in levels.indices { levels[index].requiresGrad = true }
    let outputs = block(levels)
    var loss = Tensor(scalar: 0)
    for (index, output) in outputs.enumerated() {
      assertClose(output, reference["output.\(index)"]!, tolerance: 1e-4, "level \(index)")
      loss = loss + (output * reference["seed.\(index)"]!).sum()
    }
    loss.backward()
    for index in 0..<3 {
      assertClose(levels[index].grad!, reference["grad.\(index)"]!, tolerance: 1e-4, "gradient of level \(index)")
    }
  }
}

final class AlignmentTests: XCTestCase {
  func testAlignmentLogitsAndPhraseScoresMatchTheReference() throws {
    let reference = try SafetensorsFile.read(path: Fixtures.path("heads/alignment.safetensors"))
    var generator = SeededGenerator(seed: 0)
    let classifier = AlignmentClassifier(regionChannels: 8, textHidden: 6, generator: &generator)
    try classifier.load(
      parameters: [
        "projection.weight": reference["projection.weight"]!, "projection.bias": reference["projection.bias"]!,
        "bias_lang": reference["bias_lang"]!, "bias0": reference["bias0"]!, "log_scale": reference["log_scale"]!,
      ])
    let logits = classifier(regions: reference["regions"]!, tokens: reference["tokens"]!)
    assertClose(logits, reference["logits"]!, tolerance: 1e-5)
    let probabilities = logits.sigmoid()
    let phrases = [[0, 1], [2], [1, 3]]
    let scores = Tensor.stack(
      phrases.map { tokens in
        Tensor.concat(tokens.map { probabilities.narrow(axis: 2, start: $0, length: 1) }, axis: 2).mean(axes: [2])
      }, axis: 2)
    assertClose(scores, reference["phrase_scores"]!, tolerance: 1e-5)
    XCTAssertEqual(
      AlignmentClassifier(regionChannels: 8, textHidden: 6, generator: &generator).bias0.value.item, -4.59512,
      accuracy: 1e-4)
  }
}

final class RetinaNetTests: XCTestCase {
  func testRetinaNetAssignsByIoUBandsAndTrainsWithoutCenterness() throws {
    var generator = SeededGenerator(seed: 0)
    let design = RetinaNetHead.design(strides: [8])
    let head = DenseGroundingHead(
      inputSpecs: [FeatureSpec(channels: 8, stride: 8)], settings: .init(channels: 8, blocks: 1), design: design,
      textHidden: 4, generator: &generator)
    // Anchors of side 32 centred at multiples of 8: the one at (16, 16) overlaps the box with IoU 0.77, the one at
    // (8, 8) with 0.47 (between the thresholds), the one at (24, 24) with 0.28.
    let target = GroundingTarget(boxes: [[0, 0, 28, 28]], positiveMap: .ones([1, 1]))
    let assigned = design.assigner.assign(target, grid: LocationGrid(levelSizes: [(4, 4)], scheme: design.locations))
    XCTAssertEqual(assigned[2 * 4 + 2].box, 0, "IoU 0.77 is positive")
    XCTAssertTrue(assigned[1 * 4 + 1].ignored, "IoU 0.47 is ignored")
    XCTAssertEqual(assigned[3 * 4 + 3].box, -1, "a far anchor is negative")
    XCTAssertFalse(assigned[3 * 4 + 3].ignored)
    XCTAssertNil(head.centernessPred)

    let config = tinyConfig.replacingOccurrences(of: "head: {type: fcos", with: "head: {type: retinanet")
    let (detector, usage, root) = try assemble(config)
    XCTAssertEqual(usage.unknownKeys(in: root), [])
    let encoder = detector.textEncoder as! ClassEmbeddingEncoder
    let terms = detector.loss(
      Tensor.normal([1, 3, 64, 64], seed: 4), tokens: encoder.prompt(batch: 1),
      targets: [GroundingTarget(boxes: [[4, 4, 44, 52]], positiveMap: Tensor(shape: [1, 3], values: [1, 0, 0]))])
    XCTAssertEqual(Set(terms.keys), ["loss", "loss_tokens", "loss_giou"])
    terms["loss"]!.backward()
    XCTAssertEqual(detector.namedParameters().filter { $0.parameter.grad == nil }.map(\.key), [])
    XCTAssertLessThanOrEqual(
      detector.detect(Tensor.normal([1, 3, 64, 64], seed: 5), tokens: encoder.prompt(batch: 1), phrases: [[[0]]])[0]
        .count,
      100)
  }
}

final class LegacyBoxTests: XCTestCase {
  func testLegacyPlusOneReproducesGLIPsAnchorsCoderAndIoU() throws {
    let anchors = SquareAnchors(strides: [8, 16, 32, 64, 128], scale: 8, legacyPlusOne: true)
    // GLIP's first anchor per level (GLIP-NOTES): [-28,-28,35,35], [-56,-56,71,71], …
    let expected: [[Float]] = [
      [-28, -28, 35, 35], [-56, -56, 71, 71], [-112, -112, 143, 143], [-224, -224, 287, 287], [-448, -448, 575, 575],
    ]
    for (level, anchor) in expected.enumerated() {
      XCTAssertEqual(anchors.reference(level: level, position: 0, width: 4), anchor)
    }
    let coder = DeltaBoxCoder(weights: [10, 10, 5, 5], legacyPlusOne: true)
    let anchor: [Float] = [-28, -28, 35, 35]
    let box: [Float] = [10, 5, 40, 60]
    let decoded = coder.decode(
      Tensor(shape: [1, 4], values: coder.encode(box, anchor: anchor)),
      references: Tensor(shape: [1, 4], values: anchor))
    assertClose(decoded, box, tolerance: 1e-4)
    XCTAssertEqual(BoxOps.iou([0, 0, 9, 9], [0, 0, 9, 9], legacyPlusOne: true), 1)
    XCTAssertEqual(BoxOps.area([0, 0, 9, 9], legacyPlusOne: true), 100)
    // IoU 0.33 with +1 sizes, 0.29 without: only the legacy convention suppresses the second box at 0.3.
    let pair: [[Float]] = [[0, 0, 9, 9], [5, 0, 14, 9]]
    XCTAssertEqual(BoxOps.nms(boxes: pair, scores: [0.9, 0.8], iouThreshold: 0.3, legacyPlusOne: true), [0])
    XCTAssertEqual(BoxOps.nms(boxes: pair, scores: [0.9, 0.8], iouThreshold: 0.3), [0, 1])
  }
}

final class NMSReferenceTests: XCTestCase {
  func testBatchedNMSKeepsTheBoxesOfTorchvisionsAlgorithm() throws {
    let reference = try SafetensorsFile.read(path: Fixtures.path("heads/nms.safetensors"))
    let boxes = (0..<60).map { Array(reference["boxes"]!.scalars[($0 * 4)..<($0 * 4 + 4)]) }
    let kept = BoxOps.batchedNMS(
      boxes: boxes, scores: reference["scores"]!.scalars, labels: reference["labels"]!.scalars.map { Int($0) },
      iouThreshold: 0.5)
    XCTAssertEqual(kept, reference["keep"]!.scalars.map { Int($0) })
  }

  func testEveryImageOfABatchCanHaveItsOwnPrompt() throws {
    let (detector, _, _) = try assemble(tinyConfig)
    let tokens = TokenBatch(ids: Tensor(shape: [2, 3], values: [0, 1, 2, 2, 0, 1]), attentionMask: .ones([2, 3]))
    let prompts = [
      [PromptPhrase(text: "circle", tokens: [0]), PromptPhrase(text: "square", tokens: [1, 2])],
      [PromptPhrase(text: "star", tokens: [2])],
    ]
    let detections = detector.detect(Tensor.normal([2, 3, 64, 64], seed: 9), tokens: tokens, phrases: prompts)
    XCTAssertEqual(detections.count, 2)
    for (index, found) in detections.enumerated() {
      for detection in found { XCTAssertEqual(detection.phrase, prompts[index][detection.phraseIndex].text) }
    }
    XCTAssertTrue(detections[1].allSatisfy { $0.phraseIndex == 0 })
  }
}
