import Datasets
import Foundation
import XCTest

/// Every error path of the COCO and ODVG loaders: the message names the file, the record and the reason, and
/// under `.skip` the record is left out and counted.
final class LoaderErrorTests: XCTestCase {
  private var directory = ""

  override func setUpWithError() throws {
    directory = NSTemporaryDirectory() + "loaders-\(getpid())-\(UUID().uuidString)"
    try SyntheticDatasetWriter.write(to: directory, images: 2, seed: 3, size: 64)
  }

  override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

  private func write(_ text: String, _ name: String) throws -> String {
    let path = directory + "/" + name
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  private func json(_ object: Any) throws -> String {
    String(data: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), encoding: .utf8)!
  }

  private func expectError(
    _ body: @autoclosure () throws -> Any, _ expected: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertThrowsError(try body(), file: file, line: line) { error in
      XCTAssertTrue(error is DatasetError, "\(type(of: error))", file: file, line: line)
      XCTAssertTrue(
        "\(error)".hasPrefix(expected), "got: \(error)\nexpected prefix: \(expected)", file: file, line: line)
    }
  }

  // MARK: ODVG

  private func odvgLine(
    file: String = "images/000000.png", width: Int = 64, caption: String = "the red circle",
    regions: [[String: Any]] = [["bbox": [2, 2, 20, 20], "tokens_positive": [[4, 14]]]]
  ) throws -> String {
    try json([
      "filename": file, "width": width, "height": 64, "grounding": ["caption": caption, "regions": regions],
    ])
  }

  func testODVGRecordProblemsNameTheRecordLineAndReason() throws {
    let good = try odvgLine()
    let cases: [(String, String)] = [
      ("{\"filename\": ", "not valid JSON ("),
      ("[1, 2]", "not a JSON object"),
      ("{\"filename\": \"images/000000.png\"}", "needs filename, width, height and grounding {caption, regions}"),
      (try odvgLine(file: "images/none.png"), "image file missing: \(directory)/images/none.png"),
      (try odvgLine(regions: [["bbox": [1, 2, 3], "tokens_positive": [[4, 14]]]]), "regions[0]: 'bbox' must be"),
      (try odvgLine(regions: [["bbox": [2, 2, 20, 20]]]), "regions[0]: needs tokens_positive"),
      (
        try odvgLine(regions: [
          ["bbox": [2, 2, 20, 20], "tokens_positive": [[4, 14]]],
          ["bbox": [50, 2, 70, 20], "tokens_positive": [[4, 14]]],
        ]),
        "regions[1]: box [50.0, 2.0, 70.0, 20.0] is empty or outside the 64×64 image"
      ),
      (
        try odvgLine(regions: [["bbox": [20, 2, 10, 20], "tokens_positive": [[4, 14]]]]),
        "regions[0]: box [20.0, 2.0, 10.0, 20.0] is empty or outside"
      ),
      (
        try odvgLine(regions: [["bbox": [2, 2, 20, 20], "tokens_positive": [[4, 40]]]]),
        "regions[0]: tokens_positive [4, 40] is not a span of the 14-character caption"
      ),
    ]
    for (index, (bad, reason)) in cases.enumerated() {
      // A blank line before the bad one: the record index counts records, the line number counts lines.
      let path = try write([good, "", bad, good].joined(separator: "\n"), "case\(index).odvg.jsonl")
      expectError(try GroundingData.loadODVG(path: path, imageRoot: directory), "\(path): record 1 (line 3): \(reason)")
      let (records, skipped) = try GroundingData.loadODVG(path: path, imageRoot: directory, policy: .skip)
      XCTAssertEqual(records.count, 2, reason)
      XCTAssertEqual(skipped, 1, reason)
    }
  }

  func testODVGFileProblems() throws {
    expectError(
      try GroundingData.loadODVG(path: directory + "/none.jsonl", imageRoot: directory),
      "\(directory)/none.jsonl: cannot read file")
    let path = directory + "/latin1.jsonl"
    try Data([0x7B, 0xE9, 0xFF, 0x7D]).write(to: URL(fileURLWithPath: path))
    expectError(
      try GroundingData.loadODVG(path: path, imageRoot: directory, policy: .skip), "\(path): not UTF-8 text")
  }

  // MARK: COCO

  private func cocoFile(
    images: [[String: Any]]? = nil, annotations: [[String: Any]]? = nil, categories: [[String: Any]]? = nil
  ) -> [String: Any] {
    [
      "images": images ?? [
        ["id": 1, "file_name": "images/000000.png", "width": 64, "height": 64],
        ["id": 2, "file_name": "images/000001.png", "width": 64, "height": 64],
      ],
      "annotations": annotations ?? [
        ["id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10]],
        ["id": 2, "image_id": 2, "category_id": 2, "bbox": [30, 30, 10, 10]],
      ],
      "categories": categories ?? [["id": 1, "name": "circle"], ["id": 2, "name": "square"]],
    ]
  }

  func testCOCOFileProblemsAlwaysFail() throws {
    let cases: [(String, String)] = [
      ("{\"images\": [", "not valid JSON ("),
      ("[]", "not a JSON object"),
      (try json(["images": [], "annotations": []]), "needs 'images', 'annotations' and 'categories' lists"),
      (try json(cocoFile(categories: [["id": 1]])), "categories[0]: needs an integer 'id' and a 'name'"),
      (
        try json(cocoFile(categories: [["id": 1, "name": "a"], ["id": 1, "name": "b"]])),
        "categories: id 1 is used twice"
      ),
    ]
    for (index, (text, reason)) in cases.enumerated() {
      let path = try write(text, "file\(index).json")
      for policy in [BadRecordPolicy.fail, .skip] {
        expectError(try GroundingData.loadCOCO(path: path, imageRoot: directory, policy: policy), "\(path): \(reason)")
      }
    }
    expectError(
      try GroundingData.loadCOCO(path: directory + "/none.json", imageRoot: directory),
      "\(directory)/none.json: cannot read file")
  }

  func testCOCORecordProblemsNameTheImageAndAnnotation() throws {
    let image2 = ["id": 2, "file_name": "images/000001.png", "width": 64, "height": 64] as [String: Any]
    let first = ["id": 1, "file_name": "images/000000.png", "width": 64, "height": 64] as [String: Any]
    let cases: [([String: Any], String)] = [
      (
        cocoFile(images: [first, ["id": 2, "file_name": "images/000001.png"]]),
        "record 1 (images[1], id 2): image needs an integer id, width and height and a file_name"
      ),
      (
        cocoFile(
          images: [first, ["file_name": "x.png"]],
          annotations: [["id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10]]]),
        "record 1 (images[1]): image needs an integer id"
      ),
      (
        cocoFile(images: [first, ["id": 2, "file_name": "images/gone.png", "width": 64, "height": 64]]),
        "record 1 (images[1], id 2): image file missing: \(directory)/images/gone.png"
      ),
      (
        cocoFile(images: [first, ["id": 1, "file_name": "images/000001.png", "width": 64, "height": 64], image2]),
        "record 1 (images[1], id 1): image id 1 is used by an earlier image"
      ),
      (
        cocoFile(annotations: [["id": 1, "image_id": 2, "category_id": 1, "bbox": [2, 2, 10]]]),
        "record 1 (images[1], id 2): annotations[0]: 'bbox' must be [x, y, width, height]"
      ),
      (
        cocoFile(annotations: [["id": 1, "image_id": 2, "bbox": [2, 2, 10, 10]]]),
        "record 1 (images[1], id 2): annotations[0]: needs an integer category_id"
      ),
      (
        cocoFile(annotations: [["id": 1, "image_id": 2, "category_id": 7, "bbox": [2, 2, 10, 10]]]),
        "record 1 (images[1], id 2): annotations[0]: category_id 7 is not in 'categories'"
      ),
      (
        cocoFile(annotations: [
          ["id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10]],
          ["id": 2, "image_id": 2, "category_id": 1, "bbox": [60, 2, 10, 10]],
        ]),
        "record 1 (images[1], id 2): annotations[1]: box [60.0, 2.0, 70.0, 12.0] is empty or outside the 64×64 image"
      ),
    ]
    for (index, (object, reason)) in cases.enumerated() {
      let path = try write(try json(object), "records\(index).json")
      expectError(try GroundingData.loadCOCO(path: path, imageRoot: directory), "\(path): \(reason)")
      let loaded = try GroundingData.loadCOCO(path: path, imageRoot: directory, policy: .skip)
      XCTAssertEqual(loaded.skipped, 1, reason)
      // The duplicate-id case (index 3) keeps the first image of each id.
      XCTAssertEqual(loaded.records.map(\.imageId), index == 3 ? [1, 2] : [1], reason)
    }
  }

  func testCOCOAnnotationsOfUnknownImagesAndCrowds() throws {
    let orphan = try write(
      try json(cocoFile(annotations: [["id": 1, "image_id": 9, "category_id": 1, "bbox": [2, 2, 10, 10]]])),
      "orphan.json")
    expectError(
      try GroundingData.loadCOCO(path: orphan, imageRoot: directory),
      "\(orphan): annotations[0]: image_id 9 is not in 'images'")
    let skipped = try GroundingData.loadCOCO(path: orphan, imageRoot: directory, policy: .skip)
    XCTAssertEqual(skipped.skipped, 1)
    XCTAssertEqual(skipped.records.count, 2)

    let crowd = try write(
      try json(
        cocoFile(annotations: [
          ["id": 1, "image_id": 1, "category_id": 2, "bbox": [2, 2, 10, 10]],
          ["id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 200, 200], "iscrowd": 1],
        ])),
      "crowd.json")
    let loaded = try GroundingData.loadCOCO(path: crowd, imageRoot: directory)
    XCTAssertEqual(loaded.records[0].boxes, [[2, 2, 12, 12]], "crowd regions are not training boxes")
    XCTAssertEqual(loaded.records[0].categories, [2])
    XCTAssertEqual(loaded.records[0].caption, "circle. square")
    XCTAssertEqual(loaded.records[0].spans, [[8..<14]])
  }
}
