import Components
import Config
import Detection
import Experiments
import NN
import TensorCore
import XCTest

let tinyConfig = """
  model:
    seed: 3
    backbone: {type: tiny_cnn, channels: [8, 16, 16, 16]}
    neck: {type: none}
    text_encoder: {type: class_embedding, classes: 3, hidden: 16}
    fusion: {type: none}
    head: {type: fcos, channels: 16, blocks: 2}
  """

func assemble(_ text: String, overrides: [String] = [], shapesOnly: Bool = false) throws -> (
  GroundingDetector, ConfigUsage, ConfigNode
) {
  Builtins.registerAll()
  var root = try YAMLParser.parse(text, file: "test.yaml")
  (root, _) = try root.applying(try overrides.map(ConfigOverride.init(parsing:)))
  let usage = ConfigUsage()
  let detector = try Assembler.assemble(
    try ConfigSection(root: root, usage: usage).section("model"), shapesOnly: shapesOnly)
  return (detector, usage, root)
}

final class AssemblyTests: XCTestCase {
  func testAssemblesWiresSpecsAndUsesEveryKey() throws {
    let (detector, usage, root) = try assemble(tinyConfig)
    XCTAssertEqual(usage.unknownKeys(in: root), [])
    XCTAssertEqual(detector.backbone.outputSpecs.map(\.stride), [8, 16, 32])
    let keys = detector.namedParameters().map(\.key)
    XCTAssertTrue(keys.contains("backbone.stage0.0.weight"))
    XCTAssertTrue(keys.contains("text_encoder.embedding.weight"))
    XCTAssertTrue(keys.contains("head.tower.1.conv.0.weight"))
    XCTAssertTrue(keys.contains("head.classifier.bias0"))
    XCTAssertTrue(keys.contains("head.scales.2"))
    XCTAssertFalse(keys.contains { $0.hasPrefix("neck.") })
  }

  func testForwardLossBackwardAndDetections() throws {
    let (detector, _, _) = try assemble(tinyConfig)
    let encoder = detector.textEncoder as! ClassEmbeddingEncoder
    let images = Tensor.normal([2, 3, 64, 64], seed: 1)
    let tokens = encoder.prompt(batch: 2)
    let positive = Tensor(shape: [2, 3], values: [1, 0, 0, 0, 0, 1])
    let targets = [
      GroundingTarget(boxes: [[4, 4, 30, 40], [20, 10, 60, 50]], positiveMap: positive),
      GroundingTarget(boxes: [[10, 12, 50, 44]], positiveMap: Tensor(shape: [1, 3], values: [0, 1, 0])),
    ]
    let terms = detector.loss(images, tokens: tokens, targets: targets)
    XCTAssertEqual(Set(terms.keys), ["loss", "loss_tokens", "loss_giou", "loss_centerness"])
    XCTAssertTrue(terms["loss"]!.item.isFinite)
    terms["loss"]!.backward()
    let missing = detector.namedParameters().filter { $0.parameter.grad == nil }.map(\.key)
    XCTAssertEqual(missing, [], "every trainable parameter gets a gradient")
    let detections = detector.detect(images, tokens: tokens, phrases: [[[0], [1], [2]], [[0], [1], [2]]])
    XCTAssertEqual(detections.count, 2)
    XCTAssertLessThanOrEqual(detections[0].count, 100)
    for detection in detections.joined() {
      XCTAssertTrue((0..<3).contains(detection.phraseIndex))
      XCTAssertTrue(detection.box[0] <= detection.box[2] && detection.box[1] <= detection.box[3])
    }
  }

  func testSwappingTheBackboneTypeThroughSetChangesOnlyThatSlot() throws {
    let (base, _, _) = try assemble(tinyConfig)
    let (swapped, usage, root) = try assemble(
      tinyConfig,
      overrides: [
        "model.backbone.type=tiny_cnn", "model.backbone.channels=[8, 16, 16, 16]", "model.backbone.frozen_stages=2",
      ])
    XCTAssertEqual(usage.unknownKeys(in: root), [])
    let frozen = swapped.namedParameters().filter { $0.parameter.isFrozen }.map(\.key)
    XCTAssertTrue(frozen.allSatisfy { $0.hasPrefix("backbone.stage0.") || $0.hasPrefix("backbone.stage1.") })
    XCTAssertFalse(frozen.isEmpty)
    let nonBackbone = { (detector: GroundingDetector) in
      detector.namedParameters().filter { !$0.key.hasPrefix("backbone.") }.map { "\($0.key)\($0.parameter.shape)" }
    }
    XCTAssertEqual(nonBackbone(base), nonBackbone(swapped))
  }

  func testUnknownTypeAndUnknownKeysAreReportedWithPositions() throws {
    XCTAssertThrowsError(try assemble(tinyConfig, overrides: ["model.backbone.type=tiny_cn"])) { error in
      XCTAssertTrue(
        "\(error)".hasPrefix(
          "--set model.backbone.type=tiny_cn: model.backbone.type: unknown backbone 'tiny_cn'; did you mean 'tiny_cnn'? "
            + "registered: tiny_cnn"), "\(error)")
    }
    let typo = tinyConfig.replacingOccurrences(of: "channels: 16, blocks: 2", with: "channels: 16, blcoks: 2")
    let (_, usage, root) = try assemble(typo)
    XCTAssertEqual(
      usage.unknownKeys(in: root).map(\.description),
      ["test.yaml:7:36: unknown key 'blcoks' in model.head (did you mean 'blocks'?)"])
  }

  func testFreezeFlagsAndTuningPresets() throws {
    let (detector, _, _) = try assemble(
      tinyConfig.replacingOccurrences(of: "hidden: 16}", with: "hidden: 16, freeze: true}"))
    XCTAssertTrue(
      detector.namedParameters().filter { $0.key.hasPrefix("text_encoder.") }.allSatisfy { $0.parameter.isFrozen })
    try TuningMode.linearProbe.apply(to: detector)
    let trainable = Set(detector.namedParameters().filter { !$0.parameter.isFrozen }.map(\.key))
    XCTAssertEqual(
      trainable,
      [
        "head.bbox_pred.weight", "head.bbox_pred.bias", "head.centerness.weight", "head.centerness.bias",
        "head.classifier.projection.weight", "head.classifier.projection.bias", "head.classifier.log_scale",
        "head.classifier.bias_lang", "head.classifier.bias0",
      ])
    try TuningMode.promptTuning.apply(to: detector)
    XCTAssertEqual(detector.trainableParameterCount, 0, "no prompt offset in this model: the preset skips it")
    XCTAssertThrowsError(try TuningMode.custom.apply(to: detector, unfreeze: ["head.towr.*"]))
  }

  func testAPresetNeverUnfreezesWhatTheModelSectionFroze() throws {
    let frozenText = tinyConfig.replacingOccurrences(of: "hidden: 16}", with: "hidden: 16, freeze: true}")
    let (detector, _, _) = try assemble(frozenText)
    XCTAssertThrowsError(try TuningMode.languagePromptV1.apply(to: detector)) { error in
      XCTAssertEqual(
        error as? TuningError, .presetTrainsFrozen(.languagePromptV1, keys: ["text_encoder.embedding.weight"]))
    }
    XCTAssertTrue(
      detector.namedParameters().filter { $0.key.hasPrefix("text_encoder.") }.allSatisfy(\.parameter.isFrozen))
    let (explicit, _, _) = try assemble(frozenText)
    try TuningMode.languagePromptV1.apply(to: explicit, unfreeze: ["text_encoder.*"])
    XCTAssertEqual(
      Set(explicit.namedParameters().filter { !$0.parameter.isFrozen }.map(\.key)), ["text_encoder.embedding.weight"])
  }

  func testAPresetConflictIsReportedAtTrainMode() throws {
    Builtins.registerAll()
    let config = try LoadedConfig(
      text: tinyConfig.replacingOccurrences(of: "hidden: 16}", with: "hidden: 16, freeze: true}")
        + "\ntrain: {mode: language_prompt_v1}\n",
      displayPath: "test.yaml")
    XCTAssertThrowsError(try CheckedExperiment(config)) { error in
      XCTAssertTrue("\(error)".contains("train.mode"), "\(error)")
      XCTAssertTrue("\(error)".contains("text_encoder.embedding.weight"), "\(error)")
    }
  }

  func testShapesOnlyAssemblyMatchesRealParameterCounts() throws {
    let (real, _, _) = try assemble(tinyConfig)
    let (shapes, _, _) = try assemble(tinyConfig, shapesOnly: true)
    XCTAssertEqual(real.parameterCount, shapes.parameterCount)
    XCTAssertEqual(real.namedParameters().map(\.key), shapes.namedParameters().map(\.key))
  }
}

final class ClassifierSwitchTests: XCTestCase {
  func testSwitchingTheClassifierKeyTurnsADetectorIntoAGroundingModel() throws {
    let detectorConfig = tinyConfig.replacingOccurrences(
      of: "head: {type: fcos, channels: 16, blocks: 2}",
      with: "head: {type: fcos, channels: 16, blocks: 2, classifier: linear, num_classes: 4}")
    let (detector, usage, root) = try assemble(detectorConfig)
    XCTAssertEqual(usage.unknownKeys(in: root), [])
    XCTAssertTrue(detector.namedParameters().contains { $0.key == "head.classifier.logits.weight" })
    let encoder = detector.textEncoder as! ClassEmbeddingEncoder
    let images = Tensor.normal([1, 3, 64, 64], seed: 7)
    let outputs = detector(images, tokens: encoder.prompt(batch: 1))
    XCTAssertEqual(outputs.logits[0].shape.last, 4, "linear logits run over the fixed classes")
    let target = GroundingTarget(boxes: [[8, 8, 40, 48]], positiveMap: Tensor(shape: [1, 4], values: [0, 0, 1, 0]))
    let terms = detector.loss(images, tokens: encoder.prompt(batch: 1), targets: [target])
    XCTAssertTrue(terms["loss"]!.item.isFinite)
    let (grounding, _, _) = try assemble(tinyConfig)
    let shared = Set(detector.namedParameters().map(\.key)).intersection(grounding.namedParameters().map(\.key))
    XCTAssertTrue(shared.contains("head.bbox_pred.weight"), "everything but the classifier is shared")
    XCTAssertFalse(shared.contains { $0.hasPrefix("head.classifier.") })
  }
}

final class BackboneSwapTests: XCTestCase {
  func testSwappingTheBackbonePluginResetsOnlyThatSlot() throws {
    let config = tinyConfig.replacingOccurrences(of: "neck: {type: none}", with: "neck: {type: fpn, channels: 16}")
    Builtins.registerAll()
    let root = try YAMLParser.parse(config, file: "test.yaml")
    let overrides = try ["model.backbone.type=resnet", "model.backbone.depth=18", "model.backbone.base_width=8"]
      .map(ConfigOverride.init(parsing:))
    let (swappedRoot, notes) = try root.applying(overrides)
    XCTAssertEqual(
      notes,
      ["model.backbone.type: tiny_cnn -> resnet; reset model.backbone to the new plugin's defaults, dropped: channels"])
    for slot in ["neck", "text_encoder", "fusion", "head"] {
      XCTAssertEqual(swappedRoot.node(at: ["model", slot]), root.node(at: ["model", slot]), "\(slot) untouched")
    }
    let usage = ConfigUsage()
    let swapped = try Assembler.assemble(
      try ConfigSection(root: swappedRoot, usage: usage).section("model"), shapesOnly: true)
    XCTAssertEqual(usage.unknownKeys(in: swappedRoot), [])
    XCTAssertTrue(swapped.backbone is ResNet)
    let (original, _, _) = try assemble(config, shapesOnly: true)
    func keys(_ detector: GroundingDetector, _ prefix: String) -> [String] {
      detector.namedParameters().map(\.key).filter { $0.hasPrefix(prefix) }
    }
    XCTAssertEqual(keys(swapped, "head."), keys(original, "head."))
    XCTAssertEqual(keys(swapped, "text_encoder."), keys(original, "text_encoder."))
    XCTAssertEqual(keys(swapped, "neck."), keys(original, "neck."), "the neck adapts its input widths, not its layout")
  }
}

final class GroundingConversionTests: XCTestCase {
  func testADetectorCheckpointLoadsIntoItsGroundingVariantExceptTheClassifier() throws {
    let detectorConfig = tinyConfig.replacingOccurrences(
      of: "head: {type: fcos, channels: 16, blocks: 2}",
      with: "head: {type: atss, channels: 16, blocks: 2, classifier: linear, num_classes: 3}")
    let groundingConfig = tinyConfig.replacingOccurrences(
      of: "head: {type: fcos, channels: 16, blocks: 2}", with: "head: {type: atss, channels: 16, blocks: 2}"
    ).replacingOccurrences(of: "classes: 3, hidden: 16", with: "classes: 7, hidden: 24")
    let (detector, _, _) = try assemble(detectorConfig)
    let (grounding, _, _) = try assemble(groundingConfig)
    let (state, skipped) = try GroundingConversion.convert(detectorState: detector.state(), into: grounding)
    XCTAssertTrue(skipped.contains("head.classifier.logits.weight"))
    XCTAssertTrue(skipped.contains("text_encoder.embedding.weight"))
    let report = try grounding.load(parameters: state, verify: [.noUnusedKeys, .shapes])
    XCTAssertTrue(report.missingKeys.allSatisfy { $0.hasPrefix("head.classifier.") || $0.hasPrefix("text_encoder.") })
    XCTAssertEqual(
      grounding.state()["backbone.stage1.0.weight"]?.scalars, detector.state()["backbone.stage1.0.weight"]?.scalars)
    let (otherHead, _, _) = try assemble(
      groundingConfig.replacingOccurrences(of: "channels: 16, blocks: 2", with: "channels: 32, blocks: 2"))
    XCTAssertThrowsError(try GroundingConversion.convert(detectorState: detector.state(), into: otherHead)) { error in
      XCTAssertTrue("\(error)".contains("shape mismatch at head."), "\(error)")
    }
  }
}
