import Datasets
import Foundation
import Imaging
import XCTest

final class SyntheticShapesTests: XCTestCase {
  private func temporary() -> String {
    NSTemporaryDirectory() + "synth-\(getpid())-\(UUID().uuidString)"
  }

  func testGenerationIsDeterministicForASeed() throws {
    let (first, second, other) = (temporary(), temporary(), temporary())
    defer { for path in [first, second, other] { try? FileManager.default.removeItem(atPath: path) } }
    try SyntheticDatasetWriter.write(to: first, images: 6, seed: 7, size: 96)
    try SyntheticDatasetWriter.write(to: second, images: 6, seed: 7, size: 96)
    try SyntheticDatasetWriter.write(to: other, images: 6, seed: 8, size: 96)
    for file in ["instances_shapes.json", "instances_phrases.json", "grounding.odvg.jsonl", "images/000005.png"] {
      let a = try Data(contentsOf: URL(fileURLWithPath: "\(first)/\(file)"))
      XCTAssertEqual(a, try Data(contentsOf: URL(fileURLWithPath: "\(second)/\(file)")), file)
      if file.hasSuffix(".png") || file.hasSuffix(".jsonl") {
        XCTAssertNotEqual(a, try Data(contentsOf: URL(fileURLWithPath: "\(other)/\(file)")), "another seed: \(file)")
      }
    }
  }

  func testBoxesCoverThePaintedShapesAndCaptionSpansNameTheirPhrases() throws {
    let generator = SyntheticShapes(size: 128)
    var distractors = 0
    for index in 0..<20 {
      let sample = generator.sample(index: index, seed: 1)
      XCTAssertGreaterThanOrEqual(sample.objects.count, 2)
      for object in sample.objects {
        XCTAssertTrue(object.box[0] >= 0 && object.box[1] >= 0 && object.box[2] <= 128 && object.box[3] <= 128)
        XCTAssertLessThan(object.box[0], object.box[2])
      }
      let scalars = Array(sample.caption.text.unicodeScalars)
      for region in sample.caption.regions {
        XCTAssertEqual(String(String.UnicodeScalarView(scalars[region.span])), region.phrase)
        XCTAssertTrue(region.phrase.hasSuffix(SyntheticShapes.shapes[sample.objects[region.object].shape]))
      }
      let target = sample.objects[sample.caption.regions[0].object]
      if sample.objects.contains(where: { $0.shape == target.shape && $0.colour != target.colour }) { distractors += 1 }
    }
    XCTAssertGreaterThan(distractors, 5, "captions often need the colour to tell the target from a distractor")
  }

  func testHeldOutPairsNeverAppear() {
    let generator = SyntheticShapes(size: 96, holdout: ["red circle", "blue star"])
    var seen = Set<String>()
    for index in 0..<40 {
      let objects = generator.sample(index: index, seed: 2).objects
      XCTAssertGreaterThanOrEqual(objects.count, 2)
      for object in objects {
        XCTAssertFalse(["red circle", "blue star"].contains(object.phrase))
        seen.insert(object.phrase)
      }
    }
    XCTAssertTrue(seen.contains("red square") && seen.contains("blue circle"), "other pairs of those words stay")
  }

  func testHoldoutIsParsedStrictlyAndGenerationStaysDeterministic() throws {
    XCTAssertEqual(try SyntheticShapes.holdout(parsing: " Red  circle,blue star, "), ["red circle", "blue star"])
    XCTAssertEqual(try SyntheticShapes.holdout(parsing: ""), [])
    XCTAssertThrowsError(try SyntheticShapes.holdout(parsing: "red circle, bleu star")) { error in
      XCTAssertTrue("\(error)".hasPrefix("held-out pair 'bleu star' is not a colour and a shape"), "\(error)")
    }
    XCTAssertThrowsError(try SyntheticShapes.holdout(parsing: SyntheticShapes.phrases.joined(separator: ",")))

    let (first, second) = (temporary(), temporary())
    defer { for path in [first, second] { try? FileManager.default.removeItem(atPath: path) } }
    for path in [first, second] {
      try SyntheticDatasetWriter.write(to: path, images: 4, seed: 9, size: 64, holdout: ["green ring", "red circle"])
    }
    for file in ["instances_phrases.json", "grounding.odvg.jsonl", "images/000003.png"] {
      XCTAssertEqual(
        try Data(contentsOf: URL(fileURLWithPath: "\(first)/\(file)")),
        try Data(contentsOf: URL(fileURLWithPath: "\(second)/\(file)")), file)
    }
    let phrases = try GroundingData.loadCOCO(path: first + "/instances_phrases.json", imageRoot: first)
    XCTAssertEqual(
      phrases.categories.map(\.name), SyntheticShapes.phrases.filter { !["green ring", "red circle"].contains($0) },
      "held-out pairs are no categories of the split, so training prompts never name them as negatives")
    XCTAssertEqual(
      phrases.categories.map(\.id), SyntheticShapes.phrases.indices.map { $0 + 1 }.filter { ![1, 10].contains($0) },
      "the other categories keep the ids a split without held-out pairs gives them")
  }
}

final class GroundingDataTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    directory = NSTemporaryDirectory() + "grounding-\(getpid())-\(UUID().uuidString)"
    try SyntheticDatasetWriter.write(to: directory, images: 4, seed: 5, size: 96)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  func testLoadsTheSyntheticCOCOAndODVGFiles() throws {
    let coco = try GroundingData.loadCOCO(path: directory + "/instances_phrases.json", imageRoot: directory)
    XCTAssertEqual(coco.records.count, 4)
    XCTAssertEqual(coco.categories.count, 30)
    let record = coco.records[0]
    let scalars = Array(record.caption.unicodeScalars)
    for (spans, category) in zip(record.spans, record.categories!) {
      let phrase = String(String.UnicodeScalarView(scalars[spans[0]]))
      XCTAssertEqual(phrase, coco.categories.first { $0.id == category }!.name)
    }
    let odvg = try GroundingData.loadODVG(path: directory + "/grounding.odvg.jsonl", imageRoot: directory)
    XCTAssertEqual(odvg.records.count, 4)
    XCTAssertTrue(odvg.records.allSatisfy { !$0.boxes.isEmpty && $0.boxes.count == $0.spans.count })
  }

  func testBadRecordsFailWithTheirIndexOrAreSkippedAndCounted() throws {
    let path = directory + "/broken.odvg.jsonl"
    let lines = try String(contentsOfFile: directory + "/grounding.odvg.jsonl", encoding: .utf8)
      .split(separator: "\n").map(String.init)
    let outside = lines[1].replacingOccurrences(of: "\"width\":96", with: "\"width\":10")
    try
      ([lines[0], outside, "{not json", lines[2].replacingOccurrences(of: "000002", with: "999999")].joined(
        separator: "\n"))
      .write(toFile: path, atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try GroundingData.loadODVG(path: path, imageRoot: directory)) { error in
      XCTAssertTrue("\(error)".hasPrefix("\(path): record 1 (line 2): regions[0]: box"), "\(error)")
      XCTAssertTrue("\(error)".contains("outside the 10×96 image"), "\(error)")
    }
    let (records, skipped) = try GroundingData.loadODVG(path: path, imageRoot: directory, policy: .skip)
    XCTAssertEqual(records.count, 1)
    XCTAssertEqual(skipped, 3)
    XCTAssertThrowsError(try GroundingData.loadCOCO(path: directory + "/missing.json", imageRoot: directory)) { error in
      XCTAssertEqual("\(error)", "\(directory)/missing.json: cannot read file")
    }
  }
}
