import Components
import Config
import Datasets
import Detection
import Evaluation
import Experiments
import Foundation
import NN
import TensorCore
import TensorCoreTestSupport
import XCTest

@testable import Training

/// What a run leaves behind: kept and best checkpoints with their metadata, evaluation lines, the stop on a
/// non-finite loss, progress output, and the JSON documents of eval and predict.
final class TrainingOutputTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    Builtins.registerAll()
    directory = NSTemporaryDirectory() + "outputs-\(getpid())-\(UUID().uuidString)"
    try SyntheticDatasetWriter.write(to: directory + "/data", images: 4, seed: 5, size: 64)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  private func config(train: String, data: String = "") throws -> (path: String, yaml: String) {
    let yaml = """
      model:
        backbone: {type: tiny_cnn, channels: [8, 8, 16, 16]}
        neck: {type: fpn, channels: 16, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))", freeze: true}
        fusion: {type: none}
        head: {type: fcos, channels: 16, blocks: 1}
      data:
        train: {format: odvg, annotations: "\(directory)/data/grounding.odvg.jsonl", images: "\(directory)/data"}
        val: {format: coco, annotations: "\(directory)/data/instances_shapes.json", images: "\(directory)/data"}
        image_size: 64
      \(data)
      train: {\(train)}
      """
    let path = directory + "/config-\(UUID().uuidString).yaml"
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    return (path, yaml)
  }

  private func trainer(_ path: String) throws -> Trainer {
    let experiment = try CheckedExperiment(try LoadedConfig(path: path), shapesOnly: false)
    return try Trainer(experiment: experiment, records: try DatasetFormats.loadRecords(experiment.data.train).records)
  }

  private func json(_ text: String?) -> [String: Any]? {
    text.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
  }

  func testKeepsTheNewestCheckpointsTheBestAndTheTrainingStateInMetadata() throws {
    let (path, yaml) = try config(
      train: "batch_size: 2, iterations: 6, lr: 0.01, warmup: 2, seed: 4, checkpoint_every: 2, keep_checkpoints: 2, "
        + "eval_every: 3")
    let run = directory + "/run"
    let trainer = try trainer(path)
    var evaluations: [(step: Int, isBest: Bool)] = []
    var written: [String] = []
    try trainer.train(directory: run, config: yaml) { event in
      switch event {
      case .evaluated(let step, let metrics, let isBest):
        XCTAssertEqual(metrics.map(\.name), CocoMetrics.names)
        evaluations.append((step, isBest))
      case .checkpoint(let path): written.append(URL(fileURLWithPath: path).lastPathComponent)
      case .step: break
      }
    }
    XCTAssertEqual(evaluations.map(\.step), [3, 6])
    XCTAssertTrue(evaluations[0].isBest)
    XCTAssertEqual(
      try FileManager.default.contentsOfDirectory(atPath: run + "/checkpoints").sorted(),
      ["best.safetensors", "final.safetensors", "step_4.safetensors", "step_6.safetensors"],
      "keep_checkpoints: 2 removed step_2")
    XCTAssertEqual(
      written.filter { $0.hasPrefix("step_") }, ["step_2", "step_4", "step_6"].map { $0 + ".safetensors" })

    let lines = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
      json(String($0))
    }
    XCTAssertEqual(lines.count, 8, "6 steps and 2 evaluations")
    let evalLines = lines.filter { $0["eval"] != nil }
    XCTAssertEqual(evalLines.map { $0["step"] as? Int }, [2, 5], "logged after steps 2 and 5 (counted from 0)")
    XCTAssertEqual(Set((evalLines[0]["eval"] as? [String: Any])?.keys ?? [:].keys), Set(CocoMetrics.names))

    let step6 = try SafetensorsFile.read(path: run + "/checkpoints/step_6.safetensors")
    XCTAssertEqual(step6.metadata["config"], yaml)
    XCTAssertEqual(step6.metadata["steps"], "6")
    XCTAssertTrue(step6.tensors.keys.contains { $0.hasPrefix("optimizer/") && $0.hasSuffix(".exp_avg_sq") })
    XCTAssertEqual(json(step6.metadata["optimizer"])?["type"] as? String, "AdamW")
    XCTAssertEqual(json(step6.metadata["optimizer"])?["lr"] as? Double, 0.01)
    let scheduler = json(step6.metadata["scheduler"])
    XCTAssertEqual(scheduler?["warmup"] as? Int, 2)
    XCTAssertEqual(scheduler?["iterations"] as? Int, 6)
    XCTAssertEqual(scheduler?["last_step"] as? Int, 5)
    XCTAssertEqual(json(step6.metadata["rng"])?["seed"] as? Int, 4)
    XCTAssertEqual(json(step6.metadata["rng"])?["next_step"] as? Int, 6)
    let bestRecord = try XCTUnwrap(json(step6.metadata["best"]))
    XCTAssertEqual(bestRecord["metric"] as? String, "AP")
    XCTAssertEqual(bestRecord["step"] as? Int, trainer.best?.step)

    let best = try SafetensorsFile.read(path: run + "/checkpoints/best.safetensors")
    XCTAssertEqual(best.metadata["steps"], "\(trainer.best!.step)")
    XCTAssertEqual(try XCTUnwrap(json(best.metadata["eval"])?["AP"] as? Double), trainer.best!.value, accuracy: 1e-12)
    XCTAssertFalse(best.tensors.keys.contains { $0.hasPrefix("optimizer/") }, "best is for use, not for resuming")
    // Any checkpoint of the run loads for inference from its own metadata; step ones drop their optimizer state.
    XCTAssertNoThrow(try TrainedModel.load(checkpoint: run + "/checkpoints/best.safetensors"))
    XCTAssertNoThrow(try TrainedModel.load(checkpoint: run + "/checkpoints/step_4.safetensors"))

    let resumed = try self.trainer(path)
    XCTAssertEqual(try resumed.resume(from: run + "/checkpoints/step_4.safetensors"), 4)
    XCTAssertEqual(resumed.best?.step, 3, "the best so far comes back with the checkpoint")
    let (otherSeed, _) = try config(train: "batch_size: 2, iterations: 6, seed: 5")
    XCTAssertThrowsError(try self.trainer(otherSeed).resume(from: run + "/checkpoints/step_4.safetensors")) { error in
      XCTAssertTrue("\(error)".contains("was trained with train.seed 4, but the config has 5"), "\(error)")
    }
  }

  func testANonFiniteLossStopsAndNamesTheLastGoodCheckpoint() throws {
    let (path, yaml) = try config(train: "batch_size: 2, iterations: 4, lr: 0.01, warmup: 1, checkpoint_every: 2")
    let run = directory + "/run"
    let trainer = try trainer(path)
    try trainer.run(directory: run, config: yaml) { _ in }
    // Poison the model after step 2 and run the rest again from the step-2 checkpoint.
    let start = try trainer.resume(from: run + "/checkpoints/step_2.safetensors")
    var state = trainer.detector.state()
    let key = state.keys.filter { $0.hasPrefix("backbone.") && $0.hasSuffix(".weight") }.sorted()[0]
    state[key] = Tensor.full(state[key]!.shape, .nan)
    try trainer.detector.load(parameters: state)
    let before = try Data(contentsOf: URL(fileURLWithPath: run + "/checkpoints/step_4.safetensors"))
    XCTAssertThrowsError(try trainer.run(directory: run, config: yaml, start: start) { _ in }) { error in
      let text = "\(error)"
      XCTAssertTrue(text.hasPrefix("non-finite loss at step 2"), text)
      XCTAssertTrue(text.hasSuffix("the last good checkpoint is \(run)/checkpoints/step_2.safetensors"), text)
    }
    XCTAssertEqual(
      try Data(contentsOf: URL(fileURLWithPath: run + "/checkpoints/step_4.safetensors")), before,
      "nothing is written after a non-finite loss")

    let (fresh, _) = try config(train: "batch_size: 2, iterations: 2")
    let unsaved = try self.trainer(fresh)
    var poisoned = unsaved.detector.state()
    poisoned[key] = Tensor.full(poisoned[key]!.shape, .infinity)
    try unsaved.detector.load(parameters: poisoned)
    XCTAssertThrowsError(try unsaved.run(directory: directory + "/unsaved", config: yaml) { _ in }) { error in
      XCTAssertTrue("\(error)".hasSuffix("set train.checkpoint_every to keep one)"), "\(error)")
    }
    // Weights can turn non-finite while the loss was still finite (a non-finite gradient); checkpoints check them.
    XCTAssertThrowsError(try unsaved.checkFiniteWeights(after: 3, lastGood: "run/step_2.safetensors")) { error in
      XCTAssertEqual(
        "\(error)",
        "non-finite weights after step 3 (first in '\(key)'); training stopped; "
          + "the last good checkpoint is run/step_2.safetensors")
    }
    _ = try trainer.resume(from: run + "/checkpoints/step_2.safetensors")
    XCTAssertNoThrow(try trainer.checkFiniteWeights(after: 2, lastGood: nil), "the checkpoint's weights are finite")
  }

  func testEvalEveryNeedsValidationData() throws {
    let (path, yaml) = try config(train: "iterations: 2, eval_every: 1", data: "")
    let experiment = try CheckedExperiment(try LoadedConfig(path: path), shapesOnly: false)
    let trainer = try Trainer(
      experiment: experiment, records: try DatasetFormats.loadRecords(experiment.data.train).records)
    trainer.validation = nil
    XCTAssertThrowsError(try trainer.run(directory: directory + "/run", config: yaml) { _ in }) { error in
      XCTAssertEqual("\(error)", "train.eval_every is 1 but data.val is not set")
    }
  }

  func testOptimizerKeysChooseTheOptimizerAndRefuseWhatDoesNotApply() throws {
    let (sgdPath, _) = try config(train: "iterations: 1, optimizer: sgd, momentum: 0.8, weight_decay: 0.0001")
    let sgd = try CheckedExperiment(try LoadedConfig(path: sgdPath), shapesOnly: false)
    let trainer = try Trainer(experiment: sgd, records: try DatasetFormats.loadRecords(sgd.data.train).records)
    let optimizer = try XCTUnwrap(trainer.optimizer as? SGD)
    XCTAssertEqual(optimizer.momentum, 0.8)
    XCTAssertEqual(optimizer.weightDecay, 0.0001)
    XCTAssertTrue(trainer.trainingMetadata(after: 1, config: "")["optimizer"]!.hasPrefix("{\"type\": \"SGD\""))

    let (adamPath, _) = try config(train: "iterations: 1")
    let adam = try CheckedExperiment(try LoadedConfig(path: adamPath), shapesOnly: false)
    XCTAssertTrue(
      try Trainer(experiment: adam, records: try DatasetFormats.loadRecords(adam.data.train).records).optimizer
        is AdamW, "AdamW is the default, as GLIP trains")

    for (train, message) in [
      ("optimizer: adam", "train.optimizer"), ("momentum: 0.9", "applies to optimizer: sgd only"),
      ("optimizer: sgd, momentum: 1.5", "expected 0 ≤ momentum < 1"),
    ] {
      let (path, _) = try config(train: "iterations: 1, " + train)
      XCTAssertThrowsError(try CheckedExperiment(try LoadedConfig(path: path), shapesOnly: false), train) { error in
        XCTAssertTrue("\(error)".contains(message), "\(train): \(error)")
      }
    }
  }

  func testOnBadRecordSkipIsReadFromTheConfig() throws {
    let lines = try String(contentsOfFile: directory + "/data/grounding.odvg.jsonl", encoding: .utf8)
    try (lines + "{broken\n").write(
      toFile: directory + "/data/grounding.odvg.jsonl", atomically: true, encoding: .utf8)
    let (failing, _) = try config(train: "iterations: 1")
    let strict = try CheckedExperiment(try LoadedConfig(path: failing), shapesOnly: false)
    XCTAssertThrowsError(try DatasetFormats.loadRecords(strict.data.train).records) { error in
      XCTAssertTrue("\(error)".contains("grounding.odvg.jsonl: record 4 (line 5): not valid JSON ("), "\(error)")
    }
    let (skipping, _) = try config(train: "iterations: 1", data: "  on_bad_record: skip")
    let lenient = try CheckedExperiment(try LoadedConfig(path: skipping), shapesOnly: false)
    let (records, skipped) = try DatasetFormats.loadRecords(lenient.data.train)
    XCTAssertEqual(records.count, 4)
    XCTAssertEqual(skipped, 1)
  }

  func testCheckpointWithoutConfigMetadataIsAClearError() throws {
    let path = directory + "/bare.safetensors"
    try SafetensorsFile(tensors: ["x": Tensor(shape: [1], values: [0])]).write(path: path)
    XCTAssertThrowsError(try TrainedModel.load(checkpoint: path)) { error in
      XCTAssertEqual(
        "\(error)", "\(path): has no 'config' in its metadata (not written by glip train); give --config or --run")
    }
  }

  func testProgressIsABarOnATerminalAndPlainLinesOtherwise() {
    func report(_ step: Int) -> Trainer.StepReport {
      Trainer.StepReport(
        step: step, total: 4, terms: ["loss": 1.5], learningRate: 0.001, stepsPerSecond: 2, secondsLeft: 125)
    }
    var plain = ""
    let lines = ProgressDisplay(logEvery: 2, isTerminal: false) { plain += $0 }
    for step in 1...4 { lines.handle(.step(report(step))) }
    lines.handle(.evaluated(step: 4, metrics: [("AP", 0.5), ("APs", 0.1), ("AP50", 0.75)], isBest: true))
    lines.finish()
    XCTAssertEqual(
      plain,
      """
      step     1/4  loss 1.5000  lr 1.00e-03  2.00 it/s  ETA 2m05s
      step     3/4  loss 1.5000  lr 1.00e-03  2.00 it/s  ETA 2m05s
      step     4/4  loss 1.5000  lr 1.00e-03  2.00 it/s  ETA 2m05s
      eval after step 4: AP 0.5000  AP50 0.7500  (best so far)

      """)

    var terminal = ""
    let bar = ProgressDisplay(logEvery: 2, isTerminal: true) { terminal += $0 }
    bar.handle(.step(report(1)))
    bar.handle(.checkpoint(path: "run/checkpoints/step_1.safetensors"))
    bar.handle(.step(report(4)))
    bar.finish()
    let erase = "\r\u{1B}[2K"
    let first = "step 1/4 [######..................]  25%  loss 1.5000  lr 1.00e-03  2.00 it/s  ETA 2m05s"
    XCTAssertEqual(
      terminal,
      erase + first + erase + "wrote run/checkpoints/step_1.safetensors\n" + first + erase
        + "step 4/4 [########################] 100%  loss 1.5000  lr 1.00e-03  2.00 it/s  ETA 2m05s\n")
    XCTAssertEqual(Trainer.duration(3725), "1h02m")
    XCTAssertEqual(Trainer.duration(42), "42s")
  }

  func testEvalAndPredictDocumentsHaveTheDocumentedShape() throws {
    let metrics = CocoMetrics(values: (0..<12).map { Double($0) / 100 })
    let result = DatasetEvaluation.DirectoryResult(
      detection: [("shapes", metrics), ("phrases", metrics)], grounding: [1: 0.5, 5: 0.75, 10: 1], skipped: 0)
    let object = try XCTUnwrap(json(result.json))
    XCTAssertEqual(Set(object.keys), ["detection", "grounding"])
    let detection = try XCTUnwrap(object["detection"] as? [String: [String: Double]])
    XCTAssertEqual(Set(detection.keys), ["shapes", "phrases"])
    XCTAssertEqual(Set(detection["shapes"]!.keys), Set(CocoMetrics.names))
    XCTAssertEqual(detection["phrases"]?["AP50"], 0.01)
    XCTAssertEqual(object["grounding"] as? [String: Double], ["R@1": 0.5, "R@5": 0.75, "R@10": 1])
    XCTAssertTrue(result.summary.hasSuffix("grounding: R@1 0.500  R@5 0.750  R@10 1.000"), result.summary)

    let document = Predictor.detectionsJSON([
      ("a \"b\".png", [Detection(box: [1, 2, 3.5, 4], score: 0.9, phraseIndex: 1, phrase: "blue square")]),
      ("c.png", []),
    ])
    let images = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [[String: Any]])
    XCTAssertEqual(images.map { $0["image"] as? String }, ["a \"b\".png", "c.png"])
    let found = try XCTUnwrap((images[0]["detections"] as? [[String: Any]])?.first)
    XCTAssertEqual(Set(found.keys), ["box", "score", "phrase", "phrase_index"])
    XCTAssertEqual(found["box"] as? [Double], [1, 2, 3.5, 4])
    XCTAssertEqual(found["score"] as? Double, 0.9)
    XCTAssertEqual(found["phrase"] as? String, "blue square")
    XCTAssertEqual(found["phrase_index"] as? Int, 1)
    XCTAssertEqual((images[1]["detections"] as? [Any])?.count, 0)
  }
}
