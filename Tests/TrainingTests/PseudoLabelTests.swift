import Components
import Config
import Datasets
import Detection
import Experiments
import Foundation
import Imaging
import Language
import TensorCoreTestSupport
import XCTest

@testable import Training

/// `glip pseudo-label`'s parts: the captions file's strict reader, and labelling with a tiny untrained teacher
/// (records that read back as ODVG training data, batching that changes nothing, negatives).
final class PseudoLabelTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    Builtins.registerAll()
    directory = NSTemporaryDirectory() + "pseudo-\(getpid())-\(UUID().uuidString)"
    try SyntheticDatasetWriter.write(to: directory + "/data", images: 5, seed: 3, size: 64)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  private func writeCaptions(_ lines: [String]) throws -> String {
    let path = directory + "/captions-\(UUID().uuidString).jsonl"
    try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  private func teacher() throws -> Predictor {
    let yaml = """
      model:
        backbone: {type: tiny_cnn, channels: [8, 8, 16, 16]}
        neck: {type: fpn, channels: 16, extra_levels: 0}
        text_encoder: {type: bert, model_dir: "\(Fixtures.path("language/bert-tiny"))", freeze: true}
        fusion: {type: none}
        head: {type: fcos, channels: 16, blocks: 1, score_threshold: 0, max_detections: 10}
      data:
        image_size: 64
      """
    let path = directory + "/teacher.yaml"
    try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    let experiment = try CheckedExperiment(try LoadedConfig(path: path), shapesOnly: false)
    return try Predictor(detector: experiment.detector, sizing: experiment.data.sizing)
  }

  private let captionLines = [
    #"{"file_name": "images/000000.png", "caption": "a grainy photo with two purple stars and a yellow ring"}"#,
    #"{"file_name": "images/000001.png", "caption": "A red circle next to a blue square."}"#,
    "",
    #"{"file_name": "images/000002.png", "caption": "so it is"}"#,
    #"{"file_name": "images/000003.png", "caption": "the small green triangle above an orange star"}"#,
    #"{"file_name": "images/000001.png", "caption": "some shapes on a noisy background"}"#,
  ]

  func testCaptionsFileIsReadWithLineNumbers() throws {
    let pairs = try CaptionPairs.load(path: try writeCaptions(captionLines), imageRoot: directory + "/data")
    XCTAssertEqual(pairs.map(\.line), [1, 2, 4, 5, 6])
    XCTAssertEqual(pairs[1].fileName, "images/000001.png")
    XCTAssertEqual(pairs[1].caption, "A red circle next to a blue square.")
  }

  func testBadCaptionLinesAreErrorsNamingFileLineAndProblem() throws {
    let good = captionLines[0]
    let cases: [(line: String, message: String)] = [
      ("{\"file_name\": \"images/000000.png\"", "not valid JSON"),
      ("[1, 2]", "not a JSON object"),
      (#"{"file_name": "images/000000.png", "caption": "a dog", "boxes": []}"#, "unknown key 'boxes'"),
      (#"{"caption": "a dog"}"#, "'file_name' must be a non-empty string, got (missing)"),
      (#"{"file_name": 7, "caption": "a dog"}"#, "'file_name' must be a non-empty string, got 7"),
      (#"{"file_name": "images/000000.png", "caption": null}"#, "'caption' must be a string"),
      (#"{"file_name": "images/000000.png", "caption": "  "}"#, "'caption' is empty"),
      (#"{"file_name": "images/nope.png", "caption": "a dog"}"#, "image file missing"),
    ]
    for (line, message) in cases {
      let path = try writeCaptions([good, "", line])
      XCTAssertThrowsError(try CaptionPairs.load(path: path, imageRoot: directory + "/data"), line) { error in
        let text = "\(error)"
        XCTAssertTrue(text.hasPrefix(path), text)
        XCTAssertTrue(text.contains("(line 3)"), text)
        XCTAssertTrue(text.contains(message), "\(text) lacks \(message)")
      }
    }
    XCTAssertThrowsError(try CaptionPairs.load(path: try writeCaptions(["", " "]), imageRoot: directory)) {
      XCTAssertTrue("\($0)".contains("no caption lines"), "\($0)")
    }
    XCTAssertThrowsError(try CaptionPairs.load(path: directory + "/missing.jsonl", imageRoot: directory)) {
      XCTAssertTrue("\($0)".contains("missing.jsonl: cannot read file"), "\($0)")
    }
  }

  func testPseudoLabelsReadBackAsGroundingData() throws {
    let pairs = try CaptionPairs.load(path: try writeCaptions(captionLines), imageRoot: directory + "/data")
    let labeler = PseudoLabeler(predictor: try teacher(), threshold: 0, batchSize: 2)
    var progress: [Int] = []
    let labels = try labeler.label(
      pairs, imageRoot: directory + "/data", captionsPath: "captions.jsonl", progress: { progress.append($0) })
    XCTAssertEqual(progress, [2, 4, 5])
    XCTAssertEqual(labels.map(\.pair), pairs)
    XCTAssertEqual(labels[0].phrases.map(\.text), ["a grainy photo", "purple stars", "a yellow ring"])
    XCTAssertTrue(labels[2].phrases.isEmpty, "'so it is' has no noun phrase")
    XCTAssertTrue(labels[2].regions.isEmpty)
    XCTAssertFalse(labels[0].regions.isEmpty, "at threshold 0 an untrained teacher still gives boxes")

    let file = directory + "/pseudo.odvg.jsonl"
    try (labels.map(\.odvgLine).joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
    let records = try GroundingData.loadODVG(path: file, imageRoot: directory + "/data").records
    XCTAssertEqual(records.count, labels.count)
    for (record, label) in zip(records, labels) {
      XCTAssertEqual(record.caption, label.pair.caption)
      XCTAssertEqual(record.boxes.count, label.regions.count)
      XCTAssertEqual(record.spans, label.regions.map { [$0.span] })
      XCTAssertTrue(label.regions.allSatisfy { label.phrases.map(\.span).contains($0.span) })
    }
    let line = try XCTUnwrap(
      try JSONSerialization.jsonObject(with: Data(labels[0].odvgLine.utf8)) as? [String: Any])
    let region = try XCTUnwrap(((line["grounding"] as? [String: Any])?["regions"] as? [[String: Any]])?.first)
    XCTAssertEqual(Set(region.keys), ["bbox", "phrase", "tokens_positive", "score"])
  }

  func testBatchingGivesTheSameLabelsAndAHighThresholdGivesNegatives() throws {
    let pairs = try CaptionPairs.load(path: try writeCaptions(captionLines), imageRoot: directory + "/data")
    let predictor = try teacher()
    let one = try PseudoLabeler(predictor: predictor, threshold: 0, batchSize: 1)
      .label(pairs, imageRoot: directory + "/data", captionsPath: "c")
    let three = try PseudoLabeler(predictor: predictor, threshold: 0, batchSize: 3)
      .label(pairs, imageRoot: directory + "/data", captionsPath: "c")
    XCTAssertFalse(one.allSatisfy(\.regions.isEmpty))
    for (single, batched) in zip(one, three) {
      XCTAssertEqual(single.regions.map(\.span), batched.regions.map(\.span))
      for (a, b) in zip(single.regions, batched.regions) {
        XCTAssertEqual(a.score, b.score, accuracy: 1e-4)
        for (x, y) in zip(a.box, b.box) { XCTAssertEqual(x, y, accuracy: 1e-2) }
      }
    }
    let none = try PseudoLabeler(predictor: predictor, threshold: 1, batchSize: 4)
      .label(pairs, imageRoot: directory + "/data", captionsPath: "c")
    XCTAssertTrue(none.allSatisfy(\.regions.isEmpty))
    XCTAssertTrue(none[0].odvgLine.contains("\"regions\":[]"), none[0].odvgLine)
  }

  func testPredictingWithAPromptPerImageMatchesEachImageAlone() throws {
    let predictor = try teacher()
    let file = directory + "/data/prompts.jsonl"
    try [
      #"{"image": "images/000000.png", "prompt": "purple star. yellow ring"}"#,
      "",
      #"{"image": "images/000001.png", "prompt": "a [red circle] next to a [blue square]"}"#,
      #"{"image": "\#(directory)/data/images/000002.png", "prompt": "green triangle"}"#,
    ].joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
    let list = try ImagePrompts(path: file)
    XCTAssertEqual(list.entries.map(\.line), [1, 3, 4])
    XCTAssertEqual(list.entries[0].image, directory + "/data/images/000000.png", "relative to the file's folder")
    var batched = predictor
    batched.batchSize = 3
    var found: [[Detection]] = []
    try batched.detect(list, file: file) { index, _, detections in
      XCTAssertEqual(index, found.count)
      found.append(detections)
    }
    for (entry, detections) in zip(list.entries, found) {
      let alone = try predictor.detect(
        try ImageIO.read(path: entry.image), prompts: try predictor.prompts(for: entry.prompt))
      XCTAssertEqual(detections.map(\.phrase), alone.map(\.phrase), "same-size images batch as they run alone")
      for (a, b) in zip(detections, alone) { XCTAssertEqual(a.score, b.score, accuracy: 1e-5) }
    }

    for (line, reason) in [
      (#"{"image": "a.png"}"#, "line 1): missing string 'prompt'"),
      (#"{"image": "a.png", "prompt": "x", "size": 3}"#, "line 1): unknown key 'size' (expected image and prompt)"),
      ("[1]", "line 1): expected a JSON object {\"image\": …, \"prompt\": …}"),
    ] {
      try line.write(toFile: file, atomically: true, encoding: .utf8)
      XCTAssertThrowsError(try ImagePrompts(path: file)) { XCTAssertTrue("\($0)".hasSuffix(reason), "\($0)") }
    }
    try "\n".write(toFile: file, atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try ImagePrompts(path: file)) { XCTAssertTrue("\($0)".contains("no lines"), "\($0)") }
  }
}

/// Scoring pseudo-labels against the withheld boxes of web captions.
final class PseudoLabelScoreTests: XCTestCase {
  func testBoxesCountWhenTheyOverlapATrueBoxOfTheSamePhrase() {
    let pair = CaptionPair(fileName: "a.png", caption: "a red circle and a blue star", line: 1)
    let truth = GroundingRecord(
      imagePath: "/data/a.png", width: 64, height: 64, caption: pair.caption,
      boxes: [[0, 0, 10, 10], [20, 20, 30, 30]],
      spans: [[0..<12], [17..<28]])
    func region(_ box: [Float], _ span: Range<Int>, _ score: Float) -> PseudoLabel.Region {
      PseudoLabel.Region(box: box, phrase: "", span: span, score: score)
    }
    let label = PseudoLabel(
      pair: pair, width: 64, height: 64, phrases: [],
      regions: [
        region([0, 0, 10, 9], 0..<12, 0.9),  // right
        region([0, 0, 10, 10], 0..<12, 0.8),  // the circle is already claimed
        region([20, 20, 30, 30], 0..<12, 0.7),  // the star's box under the circle's phrase
        region([21, 20, 30, 30], 17..<28, 0.6),  // right
      ])
    let other = PseudoLabel(
      pair: CaptionPair(fileName: "b.png", caption: "x", line: 2), width: 8, height: 8, phrases: [], regions: [])
    let score = PseudoLabelScore([label, other], truth: [truth], imageRoot: "/data")
    XCTAssertEqual(score.pseudoBoxes, 4)
    XCTAssertEqual(score.trueBoxes, 2)
    XCTAssertEqual(score.correct, 2)
    XCTAssertEqual(score.unscored, 1)
    XCTAssertEqual(score.precision, 0.5)
    XCTAssertEqual(score.recall, 1)

    let sweep = PseudoLabelScore.sweep([label, other], truth: [truth], imageRoot: "/data", from: 0.65)
    XCTAssertEqual(sweep.map(\.threshold), [0.65, 0.7, 0.8, 0.9])
    XCTAssertEqual(sweep.map(\.score.pseudoBoxes), [3, 3, 2, 1])
    XCTAssertEqual(sweep.map(\.score.correct), [1, 1, 1, 1], "the star's own box scored 0.6, under every threshold")
    XCTAssertEqual(sweep[0].score.unscored, 1)
  }
}
