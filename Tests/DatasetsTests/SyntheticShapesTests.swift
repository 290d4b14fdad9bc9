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
    for index in 0..<40 {
      for object in generator.sample(index: index, seed: 2).objects {
        XCTAssertFalse(["red circle", "blue star"].contains(object.phrase))
      }
    }
  }
}
