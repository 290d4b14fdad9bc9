import Foundation
import TensorCore

/// Errors reading COCO files: the file, the record and what is wrong.
public struct CocoFileError: Error, CustomStringConvertible {
  public let path: String
  public let reason: String
  public var description: String { "\(path): \(reason)" }
}

/// A COCO ground-truth file: images, categories and box annotations.
public struct CocoGroundTruth {
  public var imageIds: [Int]
  public var categoryIds: [Int]
  /// The categories' ids and names (an empty name where the file gives none).
  public var categories: [(id: Int, name: String)]
  public var annotations: [CocoAnnotation]

  public init(path: String) throws {
    func fail(_ reason: String) -> CocoFileError { CocoFileError(path: path, reason: reason) }
    let object = try CocoGroundTruth.json(path)
    guard let root = object as? [String: Any] else { throw fail("expected a JSON object with images and annotations") }
    guard let images = root["images"] as? [[String: Any]] else { throw fail("missing 'images' list") }
    guard let annotations = root["annotations"] as? [[String: Any]] else { throw fail("missing 'annotations' list") }
    let categories = root["categories"] as? [[String: Any]] ?? []
    imageIds = try images.enumerated().map { index, image in
      guard let id = StrictJSON.integer(image["id"]) else { throw fail("images[\(index)]: missing integer 'id'") }
      return id
    }
    categoryIds = try categories.enumerated().map { index, category in
      guard let id = StrictJSON.integer(category["id"]) else {
        throw fail("categories[\(index)]: missing integer 'id'")
      }
      return id
    }
    self.categories = zip(categoryIds, categories).map { ($0, $1["name"] as? String ?? "") }
    self.annotations = try annotations.enumerated().map { index, record in
      guard let id = StrictJSON.integer(record["id"]), let image = StrictJSON.integer(record["image_id"]),
        let category = StrictJSON.integer(record["category_id"])
      else { throw fail("annotations[\(index)]: needs integer id, image_id and category_id") }
      let box = try CocoGroundTruth.box(record["bbox"], where: "annotations[\(index)]", fail: fail)
      return CocoAnnotation(
        id: id, imageId: image, categoryId: category, bbox: box, area: StrictJSON.number(record["area"]),
        isCrowd: (StrictJSON.integer(record["iscrowd"]) ?? 0) != 0)
    }
    let known = Set(imageIds)
    if let stray = self.annotations.firstIndex(where: { !known.contains($0.imageId) }) {
      throw fail("annotations[\(stray)]: image_id \(self.annotations[stray].imageId) is not in 'images'")
    }
  }

  /// Refuses detections that cannot be matched to this ground truth, as pycocotools' `loadRes` refuses unknown
  /// image ids: a detection of an image not in `images`, or of a category not in `categories` (when the file lists
  /// categories). `path` names the detections file in the error.
  public func check(_ detections: [CocoDetection], from path: String) throws {
    let images = Set(imageIds), categories = Set(categoryIds)
    for (index, detection) in detections.enumerated() {
      guard images.contains(detection.imageId) else {
        throw CocoFileError(
          path: path, reason: "[\(index)]: image_id \(detection.imageId) is not an image of the ground truth")
      }
      guard categories.isEmpty || categories.contains(detection.categoryId) else {
        throw CocoFileError(
          path: path, reason: "[\(index)]: category_id \(detection.categoryId) is not a category of the ground truth")
      }
    }
  }

  static func json(_ path: String) throws -> Any {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CocoFileError(path: path, reason: "cannot read file")
    }
    do {
      return try JSONSerialization.jsonObject(with: data)
    } catch {
      throw CocoFileError(path: path, reason: "not valid JSON (\(error.localizedDescription))")
    }
  }

  static func box(_ value: Any?, where location: String, fail: (String) -> CocoFileError) throws -> [Double] {
    guard let box = StrictJSON.numbers(value), box.count == 4 else {
      throw fail("\(location): 'bbox' must be [x, y, width, height]")
    }
    guard box[2] >= 0, box[3] >= 0, box.allSatisfy(\.isFinite) else {
      throw fail("\(location): 'bbox' \(box) has a negative or non-finite size")
    }
    return box
  }
}

/// Reads a COCO results file: a list of {image_id, category_id, bbox, score}.
public func readCocoDetections(path: String) throws -> [CocoDetection] {
  func fail(_ reason: String) -> CocoFileError { CocoFileError(path: path, reason: reason) }
  guard let records = try CocoGroundTruth.json(path) as? [[String: Any]] else {
    throw fail("expected a JSON list of detections")
  }
  return try records.enumerated().map { index, record in
    guard let image = StrictJSON.integer(record["image_id"]), let category = StrictJSON.integer(record["category_id"]),
      let score = StrictJSON.number(record["score"])
    else { throw fail("[\(index)]: needs integer image_id and category_id and a numeric score") }
    return CocoDetection(
      imageId: image, categoryId: category,
      bbox: try CocoGroundTruth.box(record["bbox"], where: "[\(index)]", fail: fail), score: score)
  }
}
