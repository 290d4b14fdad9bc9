import Datasets
import Foundation
import Language
import XCTest

/// `glip data synth --web-captions`: web-style captions with their withheld boxes, deterministic, and the rest of
/// the dataset unchanged.
final class SyntheticWebCaptionsTests: XCTestCase {
  private var directories: [String] = []

  private func temporary() -> String {
    let path = NSTemporaryDirectory() + "web-\(getpid())-\(UUID().uuidString)"
    directories.append(path)
    return path
  }

  override func tearDown() { for path in directories { try? FileManager.default.removeItem(atPath: path) } }

  private func contents(_ directory: String, _ file: String) throws -> Data {
    try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(file)"))
  }

  /// FNV-1a, enough to pin file contents.
  private func digest(_ data: Data) -> UInt64 {
    data.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
  }

  func testTheOtherFilesAreBitIdenticalWithAndWithoutWebCaptions() throws {
    let (plain, web) = (temporary(), temporary())
    try SyntheticDatasetWriter.write(to: plain, images: 8, seed: 1, size: 96)
    try SyntheticDatasetWriter.write(to: web, images: 8, seed: 1, size: 96, webCaptions: true)
    let files =
      ["instances_shapes.json", "instances_phrases.json", "grounding.odvg.jsonl"]
      + (0..<8).map {
        String(format: "images/%06d.png", $0)
      }
    for file in files { XCTAssertEqual(try contents(plain, file), try contents(web, file), file) }
    XCTAssertFalse(FileManager.default.fileExists(atPath: plain + "/web_captions.jsonl"))
    // Pinned on the generator as it was before web captions existed: the demo's data must not move.
    XCTAssertEqual(digest(try contents(plain, "grounding.odvg.jsonl")), 17_165_647_385_665_362_466)
    XCTAssertEqual(digest(try contents(plain, "instances_phrases.json")), 9_865_121_562_932_696_508)
    XCTAssertEqual(digest(try contents(plain, "images/000003.png")), 6_380_106_011_604_632_847)
  }

  func testWebCaptionsAreDeterministicAndDependOnTheSeed() throws {
    let (first, second, other) = (temporary(), temporary(), temporary())
    try SyntheticDatasetWriter.write(to: first, images: 6, seed: 7, size: 96, webCaptions: true)
    try SyntheticDatasetWriter.write(to: second, images: 6, seed: 7, size: 96, webCaptions: true)
    try SyntheticDatasetWriter.write(to: other, images: 6, seed: 8, size: 96, webCaptions: true)
    for file in ["web_captions.jsonl", "web_truth.odvg.jsonl"] {
      XCTAssertEqual(try contents(first, file), try contents(second, file), file)
      XCTAssertNotEqual(try contents(first, file), try contents(other, file), file)
    }
  }

  func testCaptionsMentionSomeObjectsWithSpansTheChunkerFinds() throws {
    let directory = temporary()
    try SyntheticDatasetWriter.write(to: directory, images: 60, seed: 3, size: 96, webCaptions: true)
    let pairs = try CaptionPairs.load(path: directory + "/web_captions.jsonl", imageRoot: directory)
    let truth = try GroundingData.loadODVG(path: directory + "/web_truth.odvg.jsonl", imageRoot: directory).records
    let shapes = try GroundingData.loadCOCO(path: directory + "/instances_phrases.json", imageRoot: directory).records
    XCTAssertEqual(pairs.count, 60)
    XCTAssertEqual(truth.map(\.caption), pairs.map(\.caption))
    let chunker = NounPhraseChunker()
    var (mentioned, objects, chunked, spans, partial) = (0, 0, 0, 0, 0)
    for (record, all) in zip(truth, shapes) {
      XCTAssertFalse(record.boxes.isEmpty, record.caption)
      XCTAssertTrue(record.boxes.allSatisfy(all.boxes.contains), "mentions are objects of the image")
      mentioned += record.boxes.count
      objects += all.boxes.count
      if record.boxes.count < all.boxes.count { partial += 1 }
      let phrases = Set(chunker.phrases(in: record.caption).map(\.span))
      for span in Set(record.spans.map { $0[0] }) {
        spans += 1
        if phrases.contains(span) { chunked += 1 }
      }
    }
    XCTAssertGreaterThan(partial, 10, "many captions leave objects out")
    XCTAssertLessThan(mentioned, objects)
    XCTAssertEqual(chunked, spans, "every mention is a noun phrase of the chunker")
  }

  func testAWebCaptionReadsLikeADescription() {
    let generator = SyntheticShapes(size: 96)
    let sample = generator.sample(index: 1, seed: 7)
    let caption = generator.webCaption(for: sample.objects, index: 1, seed: 7)
    let scalars = Array(caption.text.unicodeScalars)
    for mention in caption.mentions {
      XCTAssertEqual(String(String.UnicodeScalarView(scalars[mention.span])), mention.phrase)
      let object = sample.objects[mention.objects[0]]
      XCTAssertTrue(mention.phrase.contains(SyntheticShapes.colours[object.colour].name), mention.phrase)
    }
    XCTAssertFalse(caption.text.contains("left of") || caption.text.contains("above"), caption.text)
  }
}
