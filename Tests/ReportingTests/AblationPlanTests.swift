import Components
import Config
import Foundation
import TensorCoreTestSupport
import XCTest

@testable import Experiments
@testable import Reporting

final class AblationPlanTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    Builtins.registerAll()
    directory = NSTemporaryDirectory() + "plan-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  private func write(_ name: String, _ text: String) throws -> String {
    let path = directory + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  private func base(ablation: String = "") throws -> String {
    try write(
      "base.yaml",
      """
      model:
        backbone: {type: tiny_cnn, channels: [8, 8, 16, 16]}
        neck: {type: fpn, channels: 16, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))", freeze: true}
        fusion: {type: bi_attention, embed_dim: 16, heads: 2}
        head: {type: fcos, channels: 16, blocks: 1, text_heads: 2}
      train: {iterations: 8, seed: 3}
      \(ablation)
      """)
  }

  func testVaryingASlotTypeResetsTheSlotLikeSet() throws {
    let plan = try AblationPlan(configPath: try base(), vary: ["model.fusion.type=none,bi_attention"])
    XCTAssertEqual(plan.variants.map(\.name), ["fusion.type=none", "fusion.type=bi_attention"])
    XCTAssertNil(plan.seeds)
    XCTAssertEqual(plan.runs.map(\.seed), [3, 3], "the config's own train.seed")
    let none = try plan.config(for: plan.variants[0], seed: 3)
    XCTAssertEqual(none.root.node(at: ["model", "fusion"]).map(ConfigText.inline), "{type: none}")
    XCTAssertTrue(none.notes.contains { $0.contains("dropped: embed_dim, heads") }, "\(none.notes)")
    let fused = try plan.config(for: plan.variants[1], seed: 3)
    XCTAssertEqual(
      fused.root.node(at: ["model", "fusion"]).map(ConfigText.inline), "{type: bi_attention, embed_dim: 16, heads: 2}")
    XCTAssertEqual(try plan.check().map(\.variant.name), plan.variants.map(\.name))
  }

  func testOverlayFilesAndVaryMakeAGridAndSeedsSetBothSeeds() throws {
    let overlay = try write(
      "resnet18.yaml", "model:\n  backbone: {type: resnet, depth: 18, base_width: 8}\n  neck: {channels: 8}\n")
    let plan = try AblationPlan(
      configPath: try base(), vary: ["train.lr=0.01,0.001"], variantFiles: [overlay], seeds: [0, 1])
    XCTAssertEqual(plan.variants.map(\.name), ["resnet18+lr=0.01", "resnet18+lr=0.001"])
    XCTAssertEqual(plan.runs.count, 4)
    let loaded = try plan.config(for: plan.variants[1], seed: 1)
    XCTAssertEqual(
      loaded.root.node(at: ["model", "backbone"]).map(ConfigText.inline), "{type: resnet, depth: 18, base_width: 8}",
      "the tiny_cnn channels are dropped with the type change")
    XCTAssertEqual(loaded.root.node(at: ["model", "neck", "channels"])?.scalarText, "8", "other keys merge")
    XCTAssertEqual(loaded.root.node(at: ["model", "neck", "type"])?.scalarText, "fpn")
    XCTAssertEqual(loaded.root.node(at: ["train", "lr"])?.scalarText, "0.001")
    XCTAssertEqual(loaded.root.node(at: ["model", "seed"])?.scalarText, "1")
    XCTAssertEqual(loaded.root.node(at: ["train", "seed"])?.scalarText, "1")
    XCTAssertEqual(try plan.check().count, 2)
  }

  func testAblationSectionIsReadAndTheCommandLineReplacesIt() throws {
    let path = try base(
      ablation: """
        ablation:
          vary: {model.fusion.type: [none, film]}
          variants:
            wide: {model: {neck: {channels: 32}}}
          seeds: [4, 5]
          val: [{format: odvg, annotations: val.jsonl, images: val}]
        """)
    let plan = try AblationPlan(configPath: path)
    XCTAssertEqual(plan.variants.map(\.name), ["wide+fusion.type=none", "wide+fusion.type=film"])
    XCTAssertEqual(plan.seeds, [4, 5])
    XCTAssertEqual(plan.validation, [ValidationSource(format: "odvg", annotations: "val.jsonl", images: "val")])
    XCTAssertNil(plan.base.root["ablation"], "the section is not part of the runs' configs")
    XCTAssertTrue(AblationPlan.isAblation(path))
    _ = try plan.check()

    let replaced = try AblationPlan(configPath: path, vary: ["model.head.blocks=1,2"], seeds: [0])
    XCTAssertEqual(replaced.variants.map(\.name), ["wide+head.blocks=1", "wide+head.blocks=2"])
    XCTAssertEqual(replaced.seeds, [0])
  }

  func testAListOfOverlayMappingsMakesEachAnAxisOfTheGrid() throws {
    let path = try base(
      ablation: """
        ablation:
          variants:
            - {narrow: {model: {neck: {channels: 8}}}, wide: {model: {neck: {channels: 32}}}}
            - {fused: {}, plain: {model: {fusion: {_delete_: true, type: none}}}}
          vary: {train.lr: [0.01]}
        """)
    let plan = try AblationPlan(configPath: path)
    XCTAssertEqual(
      plan.variants.map(\.name),
      ["narrow+fused+lr=0.01", "narrow+plain+lr=0.01", "wide+fused+lr=0.01", "wide+plain+lr=0.01"])
    let widePlain = try plan.config(for: plan.variants[3], seed: 3)
    XCTAssertEqual(widePlain.root.node(at: ["model", "neck", "channels"])?.scalarText, "32")
    XCTAssertEqual(widePlain.root.node(at: ["model", "fusion"]).map(ConfigText.inline), "{type: none}")
    XCTAssertEqual(try plan.check().count, 4)
    XCTAssertThrowsError(
      try AblationPlan(configPath: try base(ablation: "ablation:\n  variants: [{a: {}}, [1, 2]]"))
    ) {
      XCTAssertTrue("\($0)".contains("ablation.variants[1]: expected a mapping of NAME: overlay"), "\($0)")
    }
  }

  func testATypoInAVaryKeyNamesTheArgument() throws {
    let plan = try AblationPlan(configPath: try base(), vary: ["model.fusoin.type=none,bi_attention"])
    XCTAssertThrowsError(try plan.check()) { error in
      let text = "\(error)"
      XCTAssertTrue(text.contains("--vary model.fusoin.type=none"), text)
      XCTAssertTrue(text.contains("unknown key 'fusoin' in model (did you mean 'fusion'?)"), text)
    }
    XCTAssertThrowsError(try AblationPlan(configPath: try base(), vary: ["model.fusion.type"])) { error in
      XCTAssertTrue("\(error)".contains("--vary expects KEY=V1,V2"), "\(error)")
    }
  }

  func testAMissingOverlayAndABadAblationKeyAreNamed() throws {
    let missing = directory + "/nope.yaml"
    XCTAssertThrowsError(try AblationPlan(configPath: try base(), variantFiles: [missing])) { error in
      XCTAssertEqual("\(error)", "overlay file not found: \(missing)")
    }
    let path = try base(ablation: "ablation:\n  seed: [0, 1]\n")
    XCTAssertThrowsError(try AblationPlan(configPath: path)) { error in
      XCTAssertTrue(
        "\(error)".contains("base.yaml:9:3: unknown key 'seed' in ablation (did you mean 'seeds'?)"), "\(error)")
    }
    let overlay = try write("bad.yaml", "model:\n  backbone: {type: resnet, dpeth: 18}\n")
    let plan = try AblationPlan(configPath: try base(), variantFiles: [overlay])
    XCTAssertThrowsError(try plan.check()) { error in
      XCTAssertTrue("\(error)".contains("bad.yaml:2:35: variant bad: unknown key 'dpeth'"), "\(error)")
    }
  }

  func testEveryAblationUnderConfigsAssemblesEveryVariant() throws {
    let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let folder = repository.appendingPathComponent("configs/ablations")
    let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
    XCTAssertEqual(Set(files), ["fusion.yaml", "backbones.yaml", "self_training.yaml"])
    guard
      FileManager.default.fileExists(
        atPath: repository.appendingPathComponent("pretrained/all-MiniLM-L6-v2/config.json").path)
        || ProcessInfo.processInfo.environment["CI"] == "true"
    else { throw XCTSkip("pretrained/all-MiniLM-L6-v2 is missing: run make weights") }
    let previous = FileManager.default.currentDirectoryPath
    FileManager.default.changeCurrentDirectoryPath(repository.path)
    defer { FileManager.default.changeCurrentDirectoryPath(previous) }
    let fusion = try AblationPlan(configPath: "configs/ablations/fusion.yaml")
    XCTAssertEqual(fusion.variants.map(\.name), ["none", "bi_attention"])
    XCTAssertEqual(fusion.seeds, [0, 1])
    XCTAssertEqual(try fusion.check().count, 2)
    let backbones = try AblationPlan(configPath: "configs/ablations/backbones.yaml")
    XCTAssertEqual(backbones.variants.map(\.name), ["tiny_cnn", "resnet18", "mobilenet_v2"])
    XCTAssertEqual(
      try backbones.variants.map {
        RunResult.initialisation(of: try backbones.config(for: $0, seed: 0).root).pretrained
      }, [["text_encoder"], ["text_encoder"], ["backbone", "text_encoder"]])
    XCTAssertEqual(try backbones.check().count, 3)
    let selfTraining = try AblationPlan(configPath: "configs/ablations/self_training.yaml")
    XCTAssertEqual(
      selfTraining.variants.map(\.name), ["supervised", "self_trained", "self_trained_counted", "true_boxes"])
    XCTAssertEqual(try selfTraining.check().count, 4)
  }

  func testValuesSplitAtTopLevelCommas() {
    XCTAssertEqual(AblationPlan.splitValues("a,[1, 2],'x,y', {b: 1, c: 2}"), ["a", "[1, 2]", "'x,y'", "{b: 1, c: 2}"])
  }

  func testMeanAndSampleStandardDeviationOverSeeds() {
    func result(_ variant: String, _ seed: Int, _ ap: Double) -> RunResult {
      RunResult(
        variant: variant, seed: seed, run: "runs/\(variant)/seed\(seed)", parameters: 10, trainableParameters: 4,
        initialisation: "pretrained: text_encoder; from scratch: backbone", pretrainedSlots: ["text_encoder"],
        trainSeconds: 2, steps: 8, finalLoss: 1, metrics: ["AP": ap, "R@1": 0.5], slots: [], overrides: [])
    }
    let results = [result("a", 0, 0.2), result("a", 1, 0.4), result("b", 0, 0.3)]
    let groups = VariantSummary.group(results)
    XCTAssertEqual(groups.map(\.variant), ["a", "b"])
    let ap = groups[0].metric("AP")!
    XCTAssertEqual(ap.mean, 0.3, accuracy: 1e-12)
    XCTAssertEqual(ap.std, (0.02 as Double).squareRoot(), accuracy: 1e-12)
    XCTAssertEqual(ResultsTable.meanStd(ap), "0.300 ± 0.141")
    XCTAssertEqual(ResultsTable.meanStd(groups[1].metric("AP")), "0.300")
    let table = ResultsTable.text(results).split(separator: "\n")
    XCTAssertEqual(table.count, 3)
    XCTAssertTrue(table[1].hasPrefix("a ") && table[1].contains("0.300 ± 0.141"), String(table[1]))
    let csv = ResultsTable.csv(results).split(separator: "\n")
    XCTAssertEqual(
      csv[0],
      "variant,seed,run,parameters,trainable_parameters,initialisation,train_seconds,steps,final_loss,AP,R@1")
    XCTAssertEqual(
      csv[1],
      "a,0,runs/a/seed0,10,4,pretrained: text_encoder; from scratch: backbone,2.0,8,1.00000,0.200000,0.500000")
    XCTAssertEqual(ResultsTable.csvField("a, \"b\""), "\"a, \"\"b\"\"\"")
  }
}
