import Datasets
import Foundation
import XCTest

/// A COCO record's width and height are checked against the image as decoded — after its EXIF orientation when that
/// is applied — read from the file's header.
final class ImageSizeCheckTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    directory = NSTemporaryDirectory() + "size-check-\(getpid())-\(UUID().uuidString)"
    try SyntheticDatasetWriter.write(to: directory, images: 2, seed: 3, size: 64)
    // Stored 16×8 with EXIF orientation 6: displayed 8×16, as a phone's portrait photo.
    let rotated = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/images/exif_6.jpg")
    try FileManager.default.copyItem(atPath: rotated.path, toPath: directory + "/images/phone.jpg")
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  private func cocoFile(second: [String: Any]) throws -> String {
    let object: [String: Any] = [
      "images": [["id": 1, "file_name": "images/000000.png", "width": 64, "height": 64], second],
      "annotations": [["id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10]]],
      "categories": [["id": 1, "name": "circle"]],
    ]
    let path = directory + "/instances-\(UUID().uuidString).json"
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    return path
  }

  private func expectError(_ body: @autoclosure () throws -> Any, _ expected: String, line: UInt = #line) {
    XCTAssertThrowsError(try body(), line: line) { error in
      XCTAssertEqual("\(error)", expected, line: line)
    }
  }

  func testAWrongSizeNamesTheFileTheRecordAndBothSizes() throws {
    let path = try cocoFile(second: ["id": 7, "file_name": "images/000001.png", "width": 64, "height": 48])
    expectError(
      try GroundingData.loadCOCO(path: path, imageRoot: directory),
      "\(path): record 1 (images[1], id 7): file_name images/000001.png: the record says width 64, height 48, but "
        + "the image is 64×64")
    let skipped = try GroundingData.loadCOCO(path: path, imageRoot: directory, policy: .skip)
    XCTAssertEqual(skipped.skipped, 1)
    XCTAssertEqual(skipped.records.map(\.imageId), [1])
  }

  func testTheOrientedSizeIsTheRecordsSize() throws {
    let portrait = try cocoFile(second: ["id": 2, "file_name": "images/phone.jpg", "width": 8, "height": 16])
    let loaded = try GroundingData.loadCOCO(path: portrait, imageRoot: directory)
    XCTAssertEqual(loaded.records.map(\.width), [64, 8])
    expectError(
      try GroundingData.loadCOCO(path: portrait, imageRoot: directory, exifOrientation: false),
      "\(portrait): record 1 (images[1], id 2): file_name images/phone.jpg: the record says width 8, height 16, but "
        + "the image is 16×8 (its EXIF orientation 6 is off: data.exif_orientation)")

    let stored = try cocoFile(second: ["id": 2, "file_name": "images/phone.jpg", "width": 16, "height": 8])
    XCTAssertEqual(
      try GroundingData.loadCOCO(path: stored, imageRoot: directory, exifOrientation: false).records.count, 2)
    expectError(
      try GroundingData.loadCOCO(path: stored, imageRoot: directory),
      "\(stored): record 1 (images[1], id 2): file_name images/phone.jpg: the record says width 16, height 8, but "
        + "the image is 8×16 after its EXIF orientation 6 (stored 16×8)")
  }

  func testAFileThatIsNotAnImageIsARecordProblem() throws {
    try "hello".write(toFile: directory + "/images/text.png", atomically: true, encoding: .utf8)
    let path = try cocoFile(second: ["id": 2, "file_name": "images/text.png", "width": 8, "height": 8])
    expectError(
      try GroundingData.loadCOCO(path: path, imageRoot: directory),
      "\(path): record 1 (images[1], id 2): file_name images/text.png: not a PNG or JPEG file")
    XCTAssertEqual(try GroundingData.loadCOCO(path: path, imageRoot: directory, policy: .skip).skipped, 1)
  }
}
