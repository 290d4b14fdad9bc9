import Components
import Config
import Datasets
import Detection
import Foundation
import Imaging
import TensorCoreTestSupport
import Training
import XCTest

@testable import Experiments
@testable import Reporting

/// A tiny two-variant, two-seed ablation, trained once for all tests of this class.
final class AblationRunTests: XCTestCase {
  static var root = ""
  static var configPath = ""
  static var results: [RunResult] = []
  static var setupError: Error?

  static var ablation: String { root + "/ablation" }

  override class func setUp() {
    Builtins.registerAll()
    root = NSTemporaryDirectory() + "ablation-\(getpid())-\(UUID().uuidString)"
    do {
      try SyntheticDatasetWriter.write(to: root + "/train", images: 4, seed: 5, size: 64)
      try SyntheticDatasetWriter.write(to: root + "/val", images: 2, seed: 6, size: 64)
      configPath = root + "/tiny.yaml"
      try """
      model:
        backbone: {type: tiny_cnn, channels: [8, 8, 16, 16]}
        neck: {type: fpn, channels: 16, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))", freeze: true}
        fusion: {type: bi_attention, embed_dim: 16, heads: 2}
        head: {type: fcos, channels: 16, blocks: 1, text_heads: 2}
      data:
        train: {format: odvg, annotations: "\(root)/train/grounding.odvg.jsonl", images: "\(root)/train"}
        val: {format: coco, annotations: "\(root)/val/instances_shapes.json", images: "\(root)/val"}
        image_size: 64
      train: {batch_size: 2, iterations: 8, lr: 0.01, warmup: 2, log_every: 100}
      ablation:
        vary: {model.fusion.type: [none, bi_attention]}
        seeds: [0, 1]
        val: [{format: odvg, annotations: "\(root)/val/grounding.odvg.jsonl", images: "\(root)/val"}]
      """.write(toFile: configPath, atomically: true, encoding: .utf8)
      results = try AblationRunner(plan: try AblationPlan(configPath: configPath), directory: ablation).run()
    } catch {
      setupError = error
    }
  }

  override class func tearDown() { try? FileManager.default.removeItem(atPath: root) }

  override func setUpWithError() throws {
    if let error = AblationRunTests.setupError { throw error }
  }

  func testEveryRunIsTrainedEvaluatedAndWritten() throws {
    let results = AblationRunTests.results
    XCTAssertEqual(
      results.map(\.variant),
      [
        "fusion.type=none", "fusion.type=none", "fusion.type=bi_attention",
        "fusion.type=bi_attention",
      ])
    XCTAssertEqual(results.map(\.seed), [0, 1, 0, 1])
    for result in results {
      XCTAssertEqual(
        Set(result.metrics.keys),
        Set([
          "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10",
          "AR100", "ARs", "ARm", "ARl", "R@1", "R@5", "R@10",
        ]))
      XCTAssertEqual(
        result.initialisation,
        "pretrained: text_encoder; from scratch: backbone, neck, "
          + (result.variant == "fusion.type=none" ? "head" : "fusion, head"))
      XCTAssertEqual(result.pretrainedSlots, ["text_encoder"])
      XCTAssertGreaterThan(result.trainSeconds, 0)
      XCTAssertEqual(result.steps, 8)
      XCTAssertLessThan(result.trainableParameters, result.parameters, "the text encoder is frozen")
      XCTAssertEqual(result.slots.map(\.parameters).reduce(0, +), result.parameters)
      let checkpoints = try FileManager.default.contentsOfDirectory(
        atPath: AblationRunTests.ablation + "/" + result.run + "/checkpoints")
      XCTAssertEqual(checkpoints, ["final.safetensors"], "step checkpoints are removed once a run is finished")
    }
    XCTAssertGreaterThan(results[2].parameters, results[0].parameters, "fusion blocks add parameters")
    XCTAssertNotEqual(results[0].finalLoss, results[1].finalLoss, "seeds differ")
    let config = try String(
      contentsOfFile: AblationRunTests.ablation + "/runs/fusion.type=none/seed1/config.yaml", encoding: .utf8)
    XCTAssertTrue(config.contains("fusion:\n    type: none\n"), config)
    XCTAssertTrue(config.contains("checkpoint_every: 2"), "runs are resumable")

    let csv = try String(contentsOfFile: AblationRunTests.ablation + "/results.csv", encoding: .utf8)
    XCTAssertEqual(csv, ResultsTable.csv(results))
    let document = try JSONFiles.read(
      ResultsTable.Document.self, from: AblationRunTests.ablation + "/results.json")
    XCTAssertEqual(document.runs, results)
    XCTAssertEqual(document.seeds, [0, 1])
    XCTAssertEqual(document.summary.map(\.variant), ["fusion.type=none", "fusion.type=bi_attention"])
    let ap = document.summary[0].metrics["AP"]!
    XCTAssertEqual(ap.mean, (results[0].metrics["AP"]! + results[1].metrics["AP"]!) / 2, accuracy: 1e-12)
    XCTAssertEqual(ap.count, 2)
  }

  func testAnInterruptedAblationResumesWhereItStopped() throws {
    let copy = AblationRunTests.root + "/interrupted"
    try FileManager.default.copyItem(atPath: AblationRunTests.ablation, toPath: copy)
    let plan = try AblationPlan(configPath: AblationRunTests.configPath)
    // One run never started, one stopped after step 4 of 8 (its step checkpoint and metrics up to there).
    try FileManager.default.removeItem(atPath: copy + "/runs/fusion.type=none/seed1")
    let half = copy + "/runs/fusion.type=bi_attention/seed0"
    for file in ["result.json", "checkpoints/final.safetensors"] {
      try FileManager.default.removeItem(atPath: half + "/" + file)
    }
    let runner = AblationRunner(plan: plan, directory: copy)
    let variant = plan.variants[1]
    let loaded = try runner.config(for: variant, seed: 0)
    let experiment = try CheckedExperiment(loaded, shapesOnly: false)
    let trainer = try Trainer(
      experiment: experiment, records: try DatasetFormats.loadRecords(experiment.data.train).records)
    try trainer.run(directory: AblationRunTests.root + "/scratch", config: YAMLEmitter.emit(loaded.root)) { _ in }
    try FileManager.default.copyItem(
      atPath: AblationRunTests.root + "/scratch/checkpoints/step_4.safetensors",
      toPath: half + "/checkpoints/step_4.safetensors")

    let resumed = try runner.run()
    XCTAssertEqual(
      runner.events,
      [
        .skipped("runs/fusion.type=none/seed0"),
        .trained("runs/fusion.type=none/seed1", from: 0), .evaluated("runs/fusion.type=none/seed1"),
        .trained("runs/fusion.type=bi_attention/seed0", from: 4), .evaluated("runs/fusion.type=bi_attention/seed0"),
        .skipped("runs/fusion.type=bi_attention/seed1"),
      ])
    for (again, original) in zip(resumed, AblationRunTests.results) {
      XCTAssertEqual(again.metrics, original.metrics, "\(again.run): the same model as an uninterrupted run")
      XCTAssertEqual(again.finalLoss, original.finalLoss, again.run)
    }
    let history = try RunHistory.read(run: half)
    XCTAssertEqual(history.map(\.step), Array(0..<8), "metrics.jsonl rewritten after step 4, not duplicated")

    try "model: {}\n".write(
      toFile: copy + "/runs/fusion.type=none/seed0/config.yaml", atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try AblationRunner(plan: plan, directory: copy).run()) { error in
      XCTAssertTrue(
        "\(error)".contains("runs/fusion.type=none/seed0: was trained with another config than variant"), "\(error)")
    }
  }

  func testTheReportShowsEveryPartWithoutExternalReferences() throws {
    let data = try ReportData.load(AblationRunTests.ablation)
    XCTAssertEqual(data.kind, .ablation)
    XCTAssertEqual(data.variants, ["fusion.type=none", "fusion.type=bi_attention"])
    XCTAssertEqual(data.runs.map(\.history.count), [8, 8, 8, 8])
    let differences = HTMLReport.differences(data)
    XCTAssertEqual(differences.map(\.key), ["model.fusion.type", "model.fusion.embed_dim", "model.fusion.heads"])
    XCTAssertEqual(differences[0].values, ["none", "bi_attention"])
    XCTAssertEqual(differences[1].values, [nil, "16"])

    let grid = try PredictionGrid.make(
      runs: data.representatives.map { ($0.result.variant, $0.directory) }, images: 2, threshold: 0)
    XCTAssertEqual(grid.columns, ["ground truth", "fusion.type=none", "fusion.type=bi_attention"])
    XCTAssertEqual(grid.rows.map(\.cells.count), [3, 3])
    let cell = try ImageIO.decode(grid.rows[0].cells[1])
    XCTAssertEqual(cell.width, 192, "64-pixel images are enlarged 3× for legible labels")

    let html = HTMLReport.render(data, predictions: grid)
    for part in [
      "<h2>Results</h2>", "Training loss per variant", "Learning rate", "Parameters per slot", "Config differences",
      "model.fusion.embed_dim", "class=\"best\"", "<svg", "<polyline", "data:image/png;base64,", "0.",
    ] {
      XCTAssertTrue(html.contains(part), "report.html has \(part)")
    }
    XCTAssertEqual(html.components(separatedBy: "<img ").count - 1, 6)
    XCTAssertFalse(html.contains("http:") || html.contains("https:") || html.contains("<script"), "self-contained")
    XCTAssertEqual(html.components(separatedBy: "src=\"").count, html.components(separatedBy: "src=\"data:").count)
  }

  func testPredictionColumnsAreTheRequestedVariantsOnOneValidationSet() throws {
    let data = try ReportData.load(AblationRunTests.ablation)
    let variants = data.representatives.map { (name: $0.result.variant, directory: $0.directory) }
    XCTAssertEqual(
      try PredictionGrid.requested(["fusion.type=bi_attention", "fusion.type=none"], among: variants).map(\.name),
      ["fusion.type=bi_attention", "fusion.type=none"])
    XCTAssertThrowsError(try PredictionGrid.requested(["fusion.type=bi_atention"], among: variants)) { error in
      XCTAssertEqual(
        "\(error)", "--predict fusion.type=bi_atention: no such variant (did you mean 'fusion.type=bi_attention'?)")
    }

    let all = try PredictionGrid.columns(from: variants, limit: 8, total: 2)
    XCTAssertEqual(all.runs.map(\.name), ["fusion.type=none", "fusion.type=bi_attention"])
    XCTAssertNil(all.note)
    let one = try PredictionGrid.columns(from: variants, limit: 1, total: 2)
    XCTAssertEqual(one.runs.map(\.name), ["fusion.type=none"])
    XCTAssertEqual(one.note, "predictions of 1 of 2 variants; choose them with --predict VARIANT")

    let elsewhere = AblationRunTests.root + "/other-val"
    try FileManager.default.copyItem(atPath: variants[1].directory, toPath: elsewhere)
    let configPath = TrainedModel.configPath(run: elsewhere)
    var config = try String(contentsOfFile: configPath, encoding: .utf8)
    let val = try XCTUnwrap(config.range(of: "\n  val:"))
    let images = try XCTUnwrap(config.range(of: "\n    images: ", range: val.upperBound..<config.endIndex))
    config.replaceSubrange(images, with: "\n    images: other/")
    try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    let mixed = try PredictionGrid.columns(
      from: [variants[0], (name: "other task", directory: elsewhere)], limit: 8, total: 3)
    XCTAssertEqual(mixed.runs.map(\.name), ["fusion.type=none"])
    XCTAssertEqual(
      mixed.note,
      "predictions of 1 of 3 variants (1 validate on other images than fusion.type=none); "
        + "choose them with --predict VARIANT")
  }

  func testARunDirectoryGetsAReportAndOtherDirectoriesAreRefused() throws {
    let run = AblationRunTests.ablation + "/runs/fusion.type=none/seed0"
    let data = try ReportData.load(run)
    XCTAssertEqual(data.kind, .run)
    XCTAssertEqual(data.runs[0].result.metrics, AblationRunTests.results[0].metrics)
    XCTAssertTrue(HTMLReport.render(data, predictions: nil).contains("One variant: nothing to compare"))

    let plain = AblationRunTests.root + "/plain"
    try FileManager.default.copyItem(atPath: run, toPath: plain)
    for file in [AblationRunner.resultFile, AblationRunner.timingFile] {
      try FileManager.default.removeItem(atPath: plain + "/" + file)
    }
    let evaluated = try ReportData.load(plain)
    let result = evaluated.runs[0].result
    XCTAssertEqual(result.variant, "plain")
    XCTAssertFalse(evaluated.runs[0].timed)
    XCTAssertEqual(result.parameters, AblationRunTests.results[0].parameters)
    XCTAssertEqual(result.trainableParameters, AblationRunTests.results[0].trainableParameters)
    XCTAssertEqual(
      result.metrics, AblationRunTests.results[0].metrics.filter { !$0.key.hasPrefix("R@") },
      "a plain run is scored on its data.val")
    XCTAssertEqual(try ReportData.load(plain, evaluate: false).runs[0].result.metrics, [:])

    XCTAssertThrowsError(try ReportData.load(AblationRunTests.root + "/train")) { error in
      XCTAssertTrue(
        "\(error)".hasSuffix(
          "/train: not a run directory (needs config.yaml and metrics.jsonl from "
            + "glip train) nor an ablation directory (needs results.json from glip ablate)"), "\(error)")
    }
    XCTAssertThrowsError(try ReportData.load(AblationRunTests.root + "/missing")) { error in
      XCTAssertTrue("\(error)".hasSuffix("/missing: no such directory"), "\(error)")
    }
  }

  /// Renders report.html in headless Chromium and checks the screenshot shows the page: mostly not blank, with the
  /// loss curves' colours (inline SVG) and the embedded images' many colours.
  func testReportRendersInHeadlessChromium() throws {
    guard let chromium = Browser.chromium() else {
      if ProcessInfo.processInfo.environment["CI"] == "true" {
        XCTFail("chromium is not installed; .ci/run installs it under CI=true")
        return
      }
      throw XCTSkip("chromium not found on PATH: install the Debian package chromium to run this test")
    }
    let data = try ReportData.load(AblationRunTests.ablation)
    let grid = try PredictionGrid.make(
      runs: data.representatives.map { ($0.result.variant, $0.directory) }, images: 2, threshold: 0)
    let page = AblationRunTests.root + "/report.html", shot = AblationRunTests.root + "/report.png"
    try HTMLReport.render(data, predictions: grid).write(toFile: page, atomically: true, encoding: .utf8)
    try Browser.screenshot(chromium, page: page, to: shot, width: 1280, height: 3200)
    let image = try ImageIO.read(path: shot)
    XCTAssertEqual(image.width, 1280)
    var nonWhite = 0
    var colours = Set<Int>()
    var seriesPixels = [0, 0]
    let series = [(31, 119, 180), (214, 39, 40)]  // SVGChart.palette[0], [1]
    for y in 0..<image.height {
      for x in 0..<image.width {
        let (r, g, b) = image[x, y]
        if r < 245 || g < 245 || b < 245 { nonWhite += 1 }
        colours.insert(Int(r) << 16 | Int(g) << 8 | Int(b))
        for (index, colour) in series.enumerated()
        where abs(Int(r) - colour.0) < 12 && abs(Int(g) - colour.1) < 12 && abs(Int(b) - colour.2) < 12 {
          seriesPixels[index] += 1
        }
      }
    }
    let fraction = Double(nonWhite) / Double(image.width * image.height)
    XCTAssertGreaterThan(fraction, 0.05, "the page is not blank (\(fraction) of pixels are not white)")
    XCTAssertGreaterThan(seriesPixels[0], 200, "the first variant's loss curve is drawn")
    XCTAssertGreaterThan(seriesPixels[1], 200, "the second variant's loss curve is drawn")
    XCTAssertGreaterThan(colours.count, 3000, "the embedded prediction images are drawn")
  }
}

/// Finds and runs a headless Chromium.
enum Browser {
  static func chromium() -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
      for name in ["chromium", "chromium-browser"] {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      }
    }
    return nil
  }

  static func screenshot(_ chromium: String, page: String, to path: String, width: Int, height: Int) throws {
    let profile = NSTemporaryDirectory() + "chromium-profile-\(getpid())-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: profile) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: chromium)
    process.arguments = [
      "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(profile)",
      "--window-size=\(width),\(height)", "--screenshot=\(path)", URL(fileURLWithPath: page).absoluteString,
    ]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    let deadline = Date().addingTimeInterval(90)
    while process.isRunning && Date() < deadline { usleep(100_000) }
    if process.isRunning {
      process.terminate()
      throw ExperimentError("\(chromium) did not finish the screenshot within 90 s")
    }
    guard process.terminationStatus == 0, FileManager.default.fileExists(atPath: path) else {
      throw ExperimentError("\(chromium) exited with \(process.terminationStatus) and wrote no screenshot")
    }
  }
}
