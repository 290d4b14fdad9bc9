import Config
import XCTest

@testable import Experiments
@testable import Reporting

/// The transfer view of `glip report`: points read from each run's resolved config, statistics over seeds, the
/// average over tasks, the parameters stored per mode and the prompt-tuning gap.
final class TransferSummaryTests: XCTestCase {
  func run(
    task: String, mode: String, fusion: String, shots: Int, iterations: Int = 50, seed: Int, ap: Double,
    trainable: Int
  ) throws -> ReportRun {
    let text = """
      model: {fusion: {type: \(fusion)}}
      data:
        train: {format: coco, annotations: data/\(task)/train/instances.json, shots: \(shots)}
        val: {format: coco, annotations: data/\(task)/val/instances.json}
      train: {mode: \(mode), iterations: \(iterations), seed: \(seed)}
      """
    let result = RunResult(
      variant: "\(task)+\(fusion)+\(mode)+\(shots)", seed: seed, run: "r", parameters: 1000,
      trainableParameters: trainable, initialisation: "", pretrainedSlots: [], trainSeconds: 1, steps: iterations,
      finalLoss: nil, metrics: ["AP": ap], slots: [], overrides: [])
    return ReportRun(
      directory: "r", configText: text, config: try YAMLParser.parse(text, file: "config.yaml"), history: [],
      result: result, timed: true)
  }

  func runs() throws -> [ReportRun] {
    var runs: [ReportRun] = []
    for task in ["new_shapes", "patterns"] {
      let offset = task == "patterns" ? 0.1 : 0
      for fusion in ["bi_attention", "none"] {
        let fusedBonus = fusion == "none" ? 0 : 0.05
        runs.append(
          try run(
            task: task, mode: "full", fusion: fusion, shots: 0, iterations: 0, seed: 0, ap: 0.1 + offset,
            trainable: 800))
        for (seed, noise) in [(0, -0.01), (1, 0.01)] {
          runs.append(
            try run(
              task: task, mode: "full", fusion: fusion, shots: 1, seed: seed, ap: 0.4 + offset + noise,
              trainable: 800))
          runs.append(
            try run(
              task: task, mode: "prompt_tuning", fusion: fusion, shots: 1, seed: seed,
              ap: 0.3 + offset + fusedBonus + noise, trainable: 12))
        }
        runs.append(
          try run(task: task, mode: "full", fusion: fusion, shots: 0, seed: 0, ap: 0.6 + offset, trainable: 800))
      }
    }
    return runs
  }

  func testPointsStatisticsAndAverages() throws {
    let summary = try XCTUnwrap(TransferSummary.of(try runs()))
    XCTAssertEqual(summary.tasks, ["new_shapes", "patterns"])
    XCTAssertEqual(summary.amounts, [.zeroShot, .shots(1), .full])
    let fusedPrompt = TransferSummary.Line(mode: "prompt_tuning", fused: true)
    let fusedFull = TransferSummary.Line(mode: "full", fused: true)
    XCTAssertEqual(
      summary.lines.map(\.description),
      ["full, deep fusion", "full, no fusion", "prompt_tuning, deep fusion", "prompt_tuning, no fusion"])
    let onePatterns = try XCTUnwrap(summary.statistic(task: "patterns", line: fusedPrompt, amount: .shots(1)))
    XCTAssertEqual(onePatterns.mean, 0.45, accuracy: 1e-12)
    XCTAssertEqual(onePatterns.std, (2 * 0.01 * 0.01).squareRoot(), accuracy: 1e-12)
    XCTAssertEqual(onePatterns.count, 2)
    let average = try XCTUnwrap(summary.statistic(task: nil, line: fusedPrompt, amount: .shots(1)))
    XCTAssertEqual(average.mean, 0.40, accuracy: 1e-12, "mean of 0.35 and 0.45")
    XCTAssertNil(summary.statistic(task: nil, line: fusedPrompt, amount: .zeroShot), "no zero-shot prompt tuning run")
    XCTAssertEqual(summary.statistic(task: "new_shapes", line: fusedFull, amount: .zeroShot)?.mean, 0.1)
    XCTAssertEqual(summary.storedParameters[fusedPrompt], 12)
    XCTAssertEqual(summary.storedParameters[fusedFull], 800)
    let fused = try XCTUnwrap(summary.gapToFullFineTuning(mode: "prompt_tuning", fused: true))
    let plain = try XCTUnwrap(summary.gapToFullFineTuning(mode: "prompt_tuning", fused: false))
    XCTAssertEqual(fused.gap, 0.05, accuracy: 1e-12)
    XCTAssertEqual(plain.gap, 0.10, accuracy: 1e-12)
    XCTAssertEqual(fused.points, 2, "one trained amount both modes have, on two tasks")
  }

  func testTheReportShowsTheTransferSectionOnlyForTransferAblations() throws {
    let data = ReportData(kind: .ablation, path: "runs/transfer", runs: try runs(), notes: [])
    let html = HTMLReport.render(data, predictions: nil)
    XCTAssertTrue(html.contains("<h2>Transfer</h2>"))
    XCTAssertTrue(html.contains(">1-shot</text>"), "the x axis names the amounts")
    XCTAssertTrue(html.contains("0.450 ± 0.014 (2)"), "the table shows the spread over seeds")
    XCTAssertTrue(html.contains("with deep fusion: prompt tuning is 0.050 AP below full fine-tuning"))

    let plain = try runs().filter { TransferSummary.point(of: $0.config)?.amount == .full }
    XCTAssertNil(TransferSummary.of(plain), "only the full training set: not a transfer ablation")
    XCTAssertFalse(
      HTMLReport.render(ReportData(kind: .ablation, path: "x", runs: plain, notes: []), predictions: nil)
        .contains("<h2>Transfer</h2>"))
  }
}
