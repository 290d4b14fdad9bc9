import Foundation

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
  public var annotations: [CocoAnnotation]

  public init(path: String) throws {
    func fail(_ reason: String) -> CocoFileError { CocoFileError(path: path, reason: reason) }
    let object = try CocoGroundTruth.json(path)
    guard let root = object as? [String: Any] else { throw fail("expected a JSON object with images and annotations") }
    guard let images = root["images"] as? [[String: Any]] else { throw fail("missing 'images' list") }
    guard let annotations = root["annotations"] as? [[String: Any]] else { throw fail("missing 'annotations' list") }
    let categories = root["categories"] as? [[String: Any]] ?? []
    imageIds = try images.enumerated().map { index, image in
      guard let id = (image["id"] as? NSNumber)?.intValue else { throw fail("images[\(index)]: missing integer 'id'") }
      return id
    }
    categoryIds = try categories.enumerated().map { index, category in
      guard let id = (category["id"] as? NSNumber)?.intValue else {
        throw fail("categories[\(index)]: missing integer 'id'")
      }
      return id
    }
    self.annotations = try annotations.enumerated().map { index, record in
      guard let id = (record["id"] as? NSNumber)?.intValue, let image = (record["image_id"] as? NSNumber)?.intValue,
        let category = (record["category_id"] as? NSNumber)?.intValue
      else { throw fail("annotations[\(index)]: needs integer id, image_id and category_id") }
      let box = try CocoGroundTruth.box(record["bbox"], where: "annotations[\(index)]", fail: fail)
      return CocoAnnotation(
        id: id, imageId: image, categoryId: category, bbox: box, area: (record["area"] as? NSNumber)?.doubleValue,
        isCrowd: ((record["iscrowd"] as? NSNumber)?.intValue ?? 0) != 0)
    }
    let known = Set(imageIds)
    if let stray = self.annotations.firstIndex(where: { !known.contains($0.imageId) }) {
      throw fail("annotations[\(stray)]: image_id \(self.annotations[stray].imageId) is not in 'images'")
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
    guard let numbers = value as? [NSNumber], numbers.count == 4 else {
      throw fail("\(location): 'bbox' must be [x, y, width, height]")
    }
    let box = numbers.map(\.doubleValue)
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
    guard let image = (record["image_id"] as? NSNumber)?.intValue,
      let category = (record["category_id"] as? NSNumber)?.intValue,
      let score = (record["score"] as? NSNumber)?.doubleValue
    else { throw fail("[\(index)]: needs image_id, category_id and score") }
    return CocoDetection(
      imageId: image, categoryId: category,
      bbox: try CocoGroundTruth.box(record["bbox"], where: "[\(index)]", fail: fail), score: score)
  }
}
