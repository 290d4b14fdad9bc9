import Foundation
import Imaging
import Language
import TensorCore

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
  /// For detection data, the COCO image id (nil for captions).
  public var imageId: Int?

  public init(
    imagePath: String, width: Int, height: Int, caption: String, boxes: [[Float]], spans: [[Range<Int>]],
    categories: [Int]? = nil, categoryNames: [Int: String]? = nil, imageId: Int? = nil
  ) {
    self.imagePath = imagePath
    self.width = width
    self.height = height
    self.caption = caption
    self.boxes = boxes
    self.spans = spans
    self.categories = categories
    self.categoryNames = categoryNames
    self.imageId = imageId
  }
}

/// Errors in dataset files: the file, the record (its index, and where it sits in the file) and the reason.
public struct DatasetError: Error, CustomStringConvertible {
  public let path: String
  /// The record's index: the image's index in a COCO file, the non-empty line's index in an ODVG file.
  public let record: Int?
  /// Where the record sits, e.g. "line 3" or "images[2], id 7" (nil for file-level problems).
  public let location: String?
  public let reason: String

  public init(path: String, record: Int?, location: String? = nil, reason: String) {
    self.path = path
    self.record = record
    self.location = location
    self.reason = reason
  }

  public var description: String {
    let place = record.map { index in ": record \(index)" + (location.map { " (\($0))" } ?? "") } ?? ""
    return "\(path)\(place): \(reason)"
  }
}

/// What to do with a record that is unusable (a box outside the image, a missing image, malformed JSON): stop with
/// its reason, or skip it and count it.
public enum BadRecordPolicy: String, Sendable, CaseIterable {
  case fail, skip
}

/// Loaders for COCO detection files and ODVG grounding files. Image paths resolve against `imageRoot`.
///
/// File-level problems (an unreadable file, a COCO file that is not JSON or lacks its lists, a malformed category)
/// always fail. Record-level problems (a line that is not JSON or lacks fields, a missing image file, a box that is
/// empty or outside its image, an unknown category, an annotation of an unknown image) fail with the record's index
/// under `.fail`, and leave the record out, counted in `skipped`, under `.skip`.
public enum GroundingData {
  /// Reads ODVG lines: `{"filename", "width", "height", "grounding": {"caption", "regions": [{"bbox": [x1,y1,x2,y2],
  /// "phrase", "tokens_positive": [[s, e], …]}]}}`.
  public static func loadODVG(
    path: String, imageRoot: String, policy: BadRecordPolicy = .fail
  ) throws -> (records: [GroundingRecord], skipped: Int) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DatasetError(path: path, record: nil, reason: "cannot read file")
    }
    guard let text = String(data: data, encoding: .utf8) else {
      throw DatasetError(path: path, record: nil, reason: "not UTF-8 text")
    }
    var records: [GroundingRecord] = []
    var skipped = 0
    var index = 0
    for (lineIndex, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      guard !line.allSatisfy(\.isWhitespace) else { continue }
      defer { index += 1 }
      do {
        records.append(try odvgRecord(String(line), imageRoot: imageRoot))
      } catch let reason as RecordProblem {
        if policy == .skip {
          skipped += 1
          continue
        }
        throw DatasetError(path: path, record: index, location: "line \(lineIndex + 1)", reason: reason.message)
      }
    }
    return (records, skipped)
  }

  /// Reads a COCO detection file and turns each image into a record whose caption is GLIP's class-name prompt over
  /// all categories in id order. Crowd annotations are left out of the records. Each image's `width` and `height`
  /// must be its size as decoded — after its EXIF orientation when `exifOrientation` — read from the file's header.
  public static func loadCOCO(
    path: String, imageRoot: String, policy: BadRecordPolicy = .fail, exifOrientation: Bool = true
  ) throws -> (records: [GroundingRecord], categories: [(id: Int, name: String)], skipped: Int) {
    func fileError(_ reason: String) -> DatasetError { DatasetError(path: path, record: nil, reason: reason) }
    guard let data = FileManager.default.contents(atPath: path) else { throw fileError("cannot read file") }
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: data)
    } catch {
      throw fileError("not valid JSON (\(jsonProblem(error)))")
    }
    guard let root = object as? [String: Any] else { throw fileError("not a JSON object") }
    guard let images = root["images"] as? [[String: Any]], let annotations = root["annotations"] as? [[String: Any]],
      let categoryList = root["categories"] as? [[String: Any]]
    else { throw fileError("needs 'images', 'annotations' and 'categories' lists of objects") }
    let categories = try categoryList.enumerated().map { index, entry -> (id: Int, name: String) in
      guard let id = StrictJSON.integer(entry["id"]), let name = entry["name"] as? String else {
        throw fileError("categories[\(index)]: needs an integer 'id' and a 'name'")
      }
      return (id, name)
    }.sorted { $0.id < $1.id }
    if let duplicate = zip(categories, categories.dropFirst()).first(where: { $0.0.id == $0.1.id }) {
      throw fileError("categories: id \(duplicate.0.id) is used twice")
    }
    let prompt = PromptBuilder.detectionPrompt(classNames: categories.map(\.name))
    let names = Dictionary(categories.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    let spanOfCategory = Dictionary(uniqueKeysWithValues: zip(categories.map(\.id), prompt.phraseSpans.map { $0[0] }))

    let imageIds = images.map { StrictJSON.integer($0["id"]) }
    let imageIndex = Dictionary(
      imageIds.enumerated().compactMap { index, id in id.map { ($0, index) } }, uniquingKeysWith: { first, _ in first })
    var byImage = [[(index: Int, annotation: [String: Any])]](repeating: [], count: images.count)
    var skipped = 0
    for (index, annotation) in annotations.enumerated() {
      guard let image = StrictJSON.integer(annotation["image_id"]), let owner = imageIndex[image] else {
        let reason = "annotations[\(index)]: image_id \(annotation["image_id"] ?? "(missing)") is not in 'images'"
        if policy == .skip {
          skipped += 1
          continue
        }
        throw fileError(reason)
      }
      byImage[owner].append((index, annotation))
    }
    var records: [GroundingRecord] = []
    for (index, image) in images.enumerated() {
      do {
        guard let id = imageIds[index], let file = image["file_name"] as? String,
          let width = StrictJSON.integer(image["width"]), let height = StrictJSON.integer(image["height"])
        else { throw RecordProblem("image needs an integer id, width and height and a file_name") }
        guard imageIndex[id] == index else { throw RecordProblem("image id \(id) is used by an earlier image") }
        let imagePath = URL(fileURLWithPath: imageRoot).appendingPathComponent(file).path
        guard FileManager.default.fileExists(atPath: imagePath) else {
          throw RecordProblem("image file missing: \(imagePath)")
        }
        try checkSize(of: imagePath, name: file, width: width, height: height, exifOrientation: exifOrientation)
        var boxes: [[Float]] = [], spans: [[Range<Int>]] = [], labels: [Int] = []
        for (annotationIndex, annotation) in byImage[index] {
          func problem(_ reason: String) -> RecordProblem {
            RecordProblem("annotations[\(annotationIndex)]: \(reason)")
          }
          guard let box = StrictJSON.numbers(annotation["bbox"])?.map(Float.init), box.count == 4 else {
            throw problem("'bbox' must be [x, y, width, height]")
          }
          guard let category = StrictJSON.integer(annotation["category_id"]) else {
            throw problem("needs an integer category_id, got \(jsonText(annotation["category_id"]))")
          }
          guard let span = spanOfCategory[category] else {
            throw problem("category_id \(category) is not in 'categories'")
          }
          if (StrictJSON.integer(annotation["iscrowd"]) ?? 0) != 0 { continue }
          let corners = [box[0], box[1], box[0] + box[2], box[1] + box[3]]
          do {
            try checkBox(corners, width: width, height: height)
          } catch let outside as RecordProblem {
            throw problem(outside.message)
          }
          boxes.append(corners)
          spans.append([span])
          labels.append(category)
        }
        records.append(
          GroundingRecord(
            imagePath: imagePath, width: width, height: height, caption: prompt.text, boxes: boxes, spans: spans,
            categories: labels, categoryNames: names, imageId: id))
      } catch let problem as RecordProblem {
        if policy == .skip {
          skipped += 1
          continue
        }
        let location = "images[\(index)]" + (imageIds[index].map { ", id \($0)" } ?? "")
        throw DatasetError(path: path, record: index, location: location, reason: problem.message)
      }
    }
    return (records, categories, skipped)
  }

  struct RecordProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
  }

  /// Foundation's JSON error, reduced to its debug description when it has one (it names the byte offset).
  static func jsonProblem(_ error: Error) -> String {
    let info = (error as NSError).userInfo
    return (info[NSDebugDescriptionErrorKey] as? String) ?? error.localizedDescription
  }

  /// A JSON value as it appears in the file, for error messages.
  static func jsonText(_ value: Any?) -> String {
    guard let value else { return "(missing)" }
    guard JSONSerialization.isValidJSONObject([value]),
      let data = try? JSONSerialization.data(withJSONObject: [value], options: [.fragmentsAllowed]),
      let text = String(data: data, encoding: .utf8)
    else { return "\(value)" }
    return String(text.dropFirst().dropLast())
  }

  /// Throws unless the image at `imagePath` decodes to `width` × `height`.
  static func checkSize(of imagePath: String, name: String, width: Int, height: Int, exifOrientation: Bool) throws {
    let header: ImageHeader
    do {
      header = try ImageIO.header(path: imagePath)
    } catch let error as ImageError {
      throw RecordProblem("file_name \(name): \(error.reason)")
    }
    let size = exifOrientation ? header.orientedSize : (header.width, header.height)
    guard size != (width, height) else { return }
    let turned =
      exifOrientation && header.orientation != 1
      ? " after its EXIF orientation \(header.orientation) (stored \(header.width)×\(header.height))"
      : header.orientation >= 5 ? " (its EXIF orientation \(header.orientation) is off: data.exif_orientation)" : ""
    throw RecordProblem(
      "file_name \(name): the record says width \(width), height \(height), but the image is "
        + "\(size.0)×\(size.1)\(turned)")
  }

  static func checkBox(_ box: [Float], width: Int, height: Int) throws {
    let tolerance: Float = 1
    guard box.allSatisfy(\.isFinite), box[2] > box[0], box[3] > box[1], box[0] >= -tolerance, box[1] >= -tolerance,
      box[2] <= Float(width) + tolerance, box[3] <= Float(height) + tolerance
    else { throw RecordProblem("box \(box) is empty or outside the \(width)×\(height) image") }
  }

  static func odvgRecord(_ line: String, imageRoot: String) throws -> GroundingRecord {
    let parsed: Any
    do {
      parsed = try JSONSerialization.jsonObject(with: Data(line.utf8))
    } catch {
      throw RecordProblem("not valid JSON (\(jsonProblem(error)))")
    }
    guard let object = parsed as? [String: Any] else { throw RecordProblem("not a JSON object") }
    guard let file = object["filename"] as? String, let width = StrictJSON.integer(object["width"]),
      let height = StrictJSON.integer(object["height"]), let grounding = object["grounding"] as? [String: Any],
      let caption = grounding["caption"] as? String, let regions = grounding["regions"] as? [[String: Any]]
    else { throw RecordProblem("needs filename, width, height and grounding {caption, regions}") }
    let imagePath = URL(fileURLWithPath: imageRoot).appendingPathComponent(file).path
    guard FileManager.default.fileExists(atPath: imagePath) else {
      throw RecordProblem("image file missing: \(imagePath)")
    }
    let length = caption.unicodeScalars.count
    var boxes: [[Float]] = [], spans: [[Range<Int>]] = []
    for (index, region) in regions.enumerated() {
      func problem(_ reason: String) -> RecordProblem { RecordProblem("regions[\(index)]: \(reason)") }
      guard let box = StrictJSON.numbers(region["bbox"])?.map(Float.init), box.count == 4 else {
        throw problem("'bbox' must be [x1, y1, x2, y2]")
      }
      guard let pairs = region["tokens_positive"] as? [Any], !pairs.isEmpty else {
        throw problem("needs tokens_positive: a list of [start, end] character spans")
      }
      do {
        try checkBox(box, width: width, height: height)
      } catch let outside as RecordProblem {
        throw problem(outside.message)
      }
      let scalars = Array(caption.unicodeScalars)
      let ranges = try pairs.map { item -> Range<Int> in
        let integers = StrictJSON.integers(item)
        guard let pair = integers, pair.count == 2, pair[0] >= 0, pair[0] < pair[1], pair[1] <= length else {
          let shown = integers.map { "\($0)" } ?? jsonText(item)
          throw problem("tokens_positive \(shown) is not a span of the \(length)-character caption")
        }
        guard scalars[pair[0]..<pair[1]].contains(where: { !$0.properties.isWhitespace }) else {
          throw problem("tokens_positive \(pair) covers only whitespace of the caption")
        }
        return pair[0]..<pair[1]
      }
      boxes.append(box)
      spans.append(ranges)
    }
    return GroundingRecord(
      imagePath: imagePath, width: width, height: height, caption: caption, boxes: boxes, spans: spans)
  }
}
