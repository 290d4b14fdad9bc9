import Config
import Foundation
import XCTest

/// Writes config files into a fresh temporary directory and returns paths relative to the working directory.
private final class ConfigFiles {
  let directory: URL

  init() {
    directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("glip-config-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  deinit { try? FileManager.default.removeItem(at: directory) }

  @discardableResult
  func write(_ name: String, _ text: String) -> String {
    let url = directory.appendingPathComponent(name)
    try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try? text.write(to: url, atomically: true, encoding: .utf8)
    return url.path
  }
}

private enum BackboneKeys {
  static let type = ConfigKey<String>("type", "plugin name")
  static let depth = ConfigKey<Int>("depth", default: 50, "ResNet depth")
  static let frozenStages = ConfigKey<Int>("frozen_stages", default: 1, "stages to freeze")
  static let scales = ConfigKey<[Float]>("scales", default: [1], "scales")
}

final class ConfigTests: XCTestCase {
  func testParsesBlockAndFlowStylesWithPositions() throws {
    let root = try YAMLParser.parse(
      """
      model:
        backbone: {type: resnet, depth: 50}
        levels: [3, 4, 5]
        name: "quoted: text"
      """, file: "x.yaml")
    XCTAssertEqual(root.node(at: ["model", "backbone", "depth"])?.scalarText, "50")
    XCTAssertEqual(
      root.node(at: ["model", "backbone", "depth"])?.mark, SourceMark(file: "x.yaml", line: 2, column: 35))
    XCTAssertEqual(root.node(at: ["model", "levels"])?.items?.count, 3)
    XCTAssertEqual(root.node(at: ["model", "name"])?.value, .scalar("quoted: text", quoted: true))
  }

  func testAnchorsAliasesAndMergeKeys() throws {
    let root = try YAMLParser.parse(
      """
      defaults: &defaults {lr: 0.1, decay: 0.05}
      train:
        <<: *defaults
        lr: 0.2
      copy: *defaults
      """, file: "anchors.yaml")
    XCTAssertEqual(root.node(at: ["train", "lr"])?.scalarText, "0.2")
    XCTAssertEqual(root.node(at: ["train", "decay"])?.scalarText, "0.05")
    XCTAssertEqual(root.node(at: ["copy", "lr"])?.scalarText, "0.1")
  }

  func testSyntaxErrorReportsLibyamlPosition() {
    XCTAssertThrowsError(try YAMLParser.parse("model:\n  backbone: [resnet\n  neck: fpn\n", file: "broken.yaml")) {
      error in
      let text = "\(error)"
      XCTAssertTrue(text.hasPrefix("broken.yaml:"), text)
      XCTAssertTrue(text.contains("invalid YAML"), text)
    }
    XCTAssertThrowsError(try YAMLParser.parse("a: 1\na: 2\n", file: "dup.yaml")) { error in
      XCTAssertEqual("\(error)", "dup.yaml:2:1: duplicate key 'a'")
    }
  }

  func testBaseInheritanceMergesDeeplyAndDeleteReplaces() throws {
    let files = ConfigFiles()
    files.write(
      "_base_/model.yaml", "model:\n  backbone: {type: resnet, depth: 50, frozen_stages: 1}\n  neck: {type: fpn}\n")
    files.write("_base_/train.yaml", "train: {lr: 0.1, iterations: 100}\n")
    let path = files.write(
      "exp/child.yaml",
      """
      _base_: [../_base_/model.yaml, ../_base_/train.yaml]
      model:
        backbone: {depth: 18}
        neck: {_delete_: true, type: none}
      train: {iterations: 5}
      """)
    let root = try ConfigLoader.load(path: path)
    XCTAssertEqual(root.node(at: ["model", "backbone", "depth"])?.scalarText, "18")
    XCTAssertEqual(root.node(at: ["model", "backbone", "frozen_stages"])?.scalarText, "1")
    XCTAssertEqual(root.node(at: ["model", "neck"])?.entries?.map(\.key), ["type"])
    XCTAssertEqual(root.node(at: ["train", "lr"])?.scalarText, "0.1")
    XCTAssertEqual(root.node(at: ["train", "iterations"])?.scalarText, "5")
    XCTAssertTrue(root.node(at: ["model", "backbone", "depth"])!.mark.file.hasSuffix("child.yaml"))
  }

  func testAbsoluteBasePathIsUsedAsIs() throws {
    let files = ConfigFiles()
    let base = files.write("shared/text.yaml", "model:\n  text_encoder: {type: bert, layers: 2}\n")
    let path = files.write("exp/run.yaml", "_base_: \(base)\nmodel:\n  text_encoder: {layers: 3}\n")
    let root = try ConfigLoader.load(path: path)
    XCTAssertEqual(root.node(at: ["model", "text_encoder", "type"])?.scalarText, "bert")
    XCTAssertEqual(root.node(at: ["model", "text_encoder", "layers"])?.scalarText, "3")
  }

  func testMissingBaseAndCyclesAreReported() {
    let files = ConfigFiles()
    let missing = files.write("a.yaml", "_base_: nothere.yaml\n")
    XCTAssertThrowsError(try ConfigLoader.load(path: missing)) { error in
      XCTAssertTrue(
        "\(error)".hasSuffix("a.yaml:1:9: _base_ file not found: \(files.directory.path)/nothere.yaml"), "\(error)")
    }
    files.write("b.yaml", "_base_: c.yaml\n")
    let cyclic = files.write("c.yaml", "_base_: b.yaml\n")
    XCTAssertThrowsError(try ConfigLoader.load(path: cyclic)) { error in
      XCTAssertTrue("\(error)".contains("_base_ inheritance cycle: "), "\(error)")
      XCTAssertTrue("\(error)".contains("c.yaml -> "), "\(error)")
    }
  }

  func testOverridesParseYAMLValuesAndResetSlotsOnTypeChange() throws {
    let root = try YAMLParser.parse(
      "model:\n  backbone: {type: resnet, depth: 50, frozen_stages: 2}\n  head: {blocks: 6}\n", file: "m.yaml")
    let overrides = try [
      "model.backbone.type=mobilenet_v2", "model.backbone.frozen_stages=1", "model.head.blocks=4",
      "model.levels=[3, 4]",
    ].map(ConfigOverride.init(parsing:))
    let (result, notes) = try root.applying(overrides)
    XCTAssertEqual(result.node(at: ["model", "backbone"])?.entries?.map(\.key), ["type", "frozen_stages"])
    XCTAssertEqual(result.node(at: ["model", "backbone", "frozen_stages"])?.scalarText, "1")
    XCTAssertEqual(result.node(at: ["model", "head", "blocks"])?.scalarText, "4")
    XCTAssertEqual(result.node(at: ["model", "levels"])?.items?.count, 2)
    XCTAssertEqual(
      notes,
      ["model.backbone.type: resnet -> mobilenet_v2; reset model.backbone to the new plugin's defaults, dropped: depth"]
    )
    XCTAssertThrowsError(try ConfigOverride(parsing: "model.depth")) { error in
      XCTAssertEqual("\(error)", "--set expects KEY=VALUE, got 'model.depth'")
    }
  }

  func testTypedReadsReportWrongTypesWithPositions() throws {
    let root = try YAMLParser.parse("backbone:\n  type: resnet\n  depth: fifty\n  scales: [1, 2.5]\n", file: "x.yaml")
    let backbone = try ConfigSection(root: root).section("backbone")
    XCTAssertThrowsError(try backbone.read(BackboneKeys.depth)) { error in
      XCTAssertEqual("\(error)", "x.yaml:3:10: backbone.depth: expected an integer, got 'fifty'")
    }
    XCTAssertEqual(try backbone.read(BackboneKeys.scales), [1, 2.5])
    XCTAssertEqual(try backbone.read(BackboneKeys.frozenStages), 1)
    XCTAssertThrowsError(try ConfigSection(root: root).section("neck").read(BackboneKeys.type)) { error in
      XCTAssertEqual("\(error)", "missing required key 'neck.type' (plugin name)")
    }
  }

  func testUnreadKeysAreUnknownWithSuggestions() throws {
    let root = try YAMLParser.parse(
      "model:\n  backbone:\n    type: resnet\n    dpeth: 18\n  nek: {}\ntrain: {}\n", file: "configs/x.yaml")
    let usage = ConfigUsage()
    let config = ConfigSection(root: root, usage: usage)
    let model = try config.section("model")
    let backbone = try model.section("backbone")
    _ = try backbone.read(BackboneKeys.type)
    _ = try backbone.read(BackboneKeys.depth)
    _ = try model.section("neck")
    _ = try config.section("train")
    XCTAssertEqual(
      usage.unknownKeys(in: root).map(\.description),
      [
        "configs/x.yaml:4:5: unknown key 'dpeth' in model.backbone (did you mean 'depth'?)",
        "configs/x.yaml:5:3: unknown key 'nek' in model (did you mean 'neck'?)",
      ])
  }

  func testEmitterRoundTrips() throws {
    let text = """
      model:
        backbone:
          type: resnet
          depth: 50
          weights: "pretrained/r50.pth"
        levels: [3, 4, 5]
      train:
        param_groups:
          - match: "backbone.*"
            lr_mult: 0.1
        note: "yes"
      """
    let root = try YAMLParser.parse(text, file: "x.yaml")
    let emitted = YAMLEmitter.emit(root)
    let reparsed = try YAMLParser.parse(emitted, file: "y.yaml")
    XCTAssertEqual(YAMLEmitter.emit(reparsed), emitted)
    XCTAssertEqual(reparsed.node(at: ["train", "note"])?.value, .scalar("yes", quoted: true))
    XCTAssertEqual(reparsed.node(at: ["train", "param_groups"])?.items?.first?["lr_mult"]?.scalarText, "0.1")
  }
}
