import Foundation
import Language

/// One training or evaluation record in the grounding frame: an image, a caption, and boxes each tied to character
/// spans of the caption. Detection data becomes this by using a prompt made of class names.
public struct GroundingRecord: Sendable {
  public var imagePath: String
  public var width: Int
  public var height: Int
  public var caption: String
  /// Boxes `(x1, y1, x2, y2)` in image pixels.
  public var boxes: [[Float]]
  /// For each box, the caption spans (Unicode scalar offsets) of the phrase it grounds.
  public var spans: [[Range<Int>]]
  /// For detection data, each box's category id (nil for captions).
  public var categories: [Int]?
  /// For detection data, the name of every category of the dataset: what training prompts sample from.
  public var categoryNames: [Int: String]?

  public init(
    imagePath: String, width: Int, height: Int, caption: String, boxes: [[Float]], spans: [[Range<Int>]],
    categories: [Int]? = nil, categoryNames: [Int: String]? = nil
  ) {
    self.imagePath = imagePath
    self.width = width
    self.height = height
    self.caption = caption
    self.boxes = boxes
    self.spans = spans
    self.categories = categories
    self.categoryNames = categoryNames
  }
}

/// Errors in dataset files: the file, the record index and the reason.
public struct DatasetError: Error, CustomStringConvertible {
  public let path: String
  public let record: Int?
  public let reason: String
  public var description: String { "\(path)\(record.map { ": record \($0)" } ?? ""): \(reason)" }
}

/// What to do with a record that is unusable (a box outside the image, a missing image): stop with its reason, or
/// skip it and count it.
public enum BadRecordPolicy: String, Sendable {
  case fail, skip
}

/// Loaders for COCO detection files and ODVG grounding files. Image paths resolve against `imageRoot`.
public enum GroundingData {
  /// Reads ODVG lines: `{"filename", "width", "height", "grounding": {"caption", "regions": [{"bbox": [x1,y1,x2,y2],
  /// "phrase", "tokens_positive": [[s, e], …]}]}}`.
  public static func loadODVG(
    path: String, imageRoot: String, policy: BadRecordPolicy = .fail
  ) throws -> (records: [GroundingRecord], skipped: Int) {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      throw DatasetError(path: path, record: nil, reason: "cannot read file")
    }
    var records: [GroundingRecord] = []
    var skipped = 0
    for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
      do {
        records.append(try odvgRecord(String(line), imageRoot: imageRoot))
      } catch let reason as RecordProblem {
        if policy == .skip {
          skipped += 1
          continue
        }
        throw DatasetError(path: path, record: index, reason: reason.message)
      }
    }
    return (records, skipped)
  }

  /// Reads a COCO detection file and turns each image into a record whose caption is GLIP's class-name prompt over
  /// `categoryNames` (all categories in id order when nil).
  public static func loadCOCO(
    path: String, imageRoot: String, policy: BadRecordPolicy = .fail
  ) throws -> (records: [GroundingRecord], categories: [(id: Int, name: String)], skipped: Int) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DatasetError(path: path, record: nil, reason: "cannot read file")
    }
    guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
      throw DatasetError(path: path, record: nil, reason: "not a JSON object")
    }
    guard let images = root["images"] as? [[String: Any]], let annotations = root["annotations"] as? [[String: Any]],
      let categoryList = root["categories"] as? [[String: Any]]
    else { throw DatasetError(path: path, record: nil, reason: "needs 'images', 'annotations' and 'categories' lists") }
    let categories = try categoryList.enumerated().map { index, entry -> (id: Int, name: String) in
      guard let id = (entry["id"] as? NSNumber)?.intValue, let name = entry["name"] as? String else {
        throw DatasetError(path: path, record: index, reason: "category needs an integer 'id' and a 'name'")
      }
      return (id, name)
    }.sorted { $0.id < $1.id }
    let prompt = PromptBuilder.detectionPrompt(classNames: categories.map(\.name))
    let names = Dictionary(categories.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    let spanOfCategory = Dictionary(uniqueKeysWithValues: zip(categories.map(\.id), prompt.phraseSpans.map { $0[0] }))
    var byImage: [Int: [[String: Any]]] = [:]
    for annotation in annotations {
      if let image = (annotation["image_id"] as? NSNumber)?.intValue { byImage[image, default: []].append(annotation) }
    }
    var records: [GroundingRecord] = []
    var skipped = 0
    for (index, image) in images.enumerated() {
      do {
        guard let id = (image["id"] as? NSNumber)?.intValue, let file = image["file_name"] as? String,
          let width = (image["width"] as? NSNumber)?.intValue, let height = (image["height"] as? NSNumber)?.intValue
        else { throw RecordProblem("image needs integer id, width, height and a file_name") }
        let imagePath = URL(fileURLWithPath: imageRoot).appendingPathComponent(file).path
        guard FileManager.default.fileExists(atPath: imagePath) else {
          throw RecordProblem("image file missing: \(imagePath)")
        }
        var boxes: [[Float]] = [], spans: [[Range<Int>]] = [], labels: [Int] = []
        for annotation in byImage[id] ?? [] where ((annotation["iscrowd"] as? NSNumber)?.intValue ?? 0) == 0 {
          guard let box = (annotation["bbox"] as? [NSNumber])?.map(\.floatValue), box.count == 4,
            let category = (annotation["category_id"] as? NSNumber)?.intValue, let span = spanOfCategory[category]
          else { throw RecordProblem("annotation needs a 4-number bbox and a known category_id") }
          let corners = [box[0], box[1], box[0] + box[2], box[1] + box[3]]
          try checkBox(corners, width: width, height: height)
          boxes.append(corners)
          spans.append([span])
          labels.append(category)
        }
        records.append(
          GroundingRecord(
            imagePath: imagePath, width: width, height: height, caption: prompt.text, boxes: boxes, spans: spans,
            categories: labels, categoryNames: names))
      } catch let problem as RecordProblem {
        if policy == .skip {
          skipped += 1
          continue
        }
        throw DatasetError(path: path, record: index, reason: problem.message)
      }
    }
    return (records, categories, skipped)
  }

  struct RecordProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
  }

  static func checkBox(_ box: [Float], width: Int, height: Int) throws {
    let tolerance: Float = 1
    guard box.allSatisfy(\.isFinite), box[2] > box[0], box[3] > box[1], box[0] >= -tolerance, box[1] >= -tolerance,
      box[2] <= Float(width) + tolerance, box[3] <= Float(height) + tolerance
    else { throw RecordProblem("box \(box) is empty or outside the \(width)×\(height) image") }
  }

  static func odvgRecord(_ line: String, imageRoot: String) throws -> GroundingRecord {
    guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
      throw RecordProblem("not a JSON object")
    }
    guard let file = object["filename"] as? String, let width = (object["width"] as? NSNumber)?.intValue,
      let height = (object["height"] as? NSNumber)?.intValue, let grounding = object["grounding"] as? [String: Any],
      let caption = grounding["caption"] as? String, let regions = grounding["regions"] as? [[String: Any]]
    else { throw RecordProblem("needs filename, width, height and grounding {caption, regions}") }
    let imagePath = URL(fileURLWithPath: imageRoot).appendingPathComponent(file).path
    guard FileManager.default.fileExists(atPath: imagePath) else {
      throw RecordProblem("image file missing: \(imagePath)")
    }
    let length = caption.unicodeScalars.count
    var boxes: [[Float]] = [], spans: [[Range<Int>]] = []
    for region in regions {
      guard let box = (region["bbox"] as? [NSNumber])?.map(\.floatValue), box.count == 4,
        let positive = region["tokens_positive"] as? [[NSNumber]]
      else { throw RecordProblem("region needs a 4-number bbox and tokens_positive") }
      try checkBox(box, width: width, height: height)
      let ranges = try positive.map { pair -> Range<Int> in
        guard pair.count == 2, pair[0].intValue >= 0, pair[0].intValue < pair[1].intValue, pair[1].intValue <= length
        else {
          throw RecordProblem("tokens_positive \(pair) is not a span of the \(length)-character caption")
        }
        return pair[0].intValue..<pair[1].intValue
      }
      boxes.append(box)
      spans.append(ranges)
    }
    return GroundingRecord(
      imagePath: imagePath, width: width, height: height, caption: caption, boxes: boxes, spans: spans)
  }
}
