import Foundation
import Imaging
import TensorCore

/// Writes the synthetic dataset to a directory:
/// `images/NNNNNN.png`, `instances_shapes.json` (COCO, shape categories), `instances_phrases.json` (COCO,
/// colour+shape categories) and `grounding.odvg.jsonl` (one caption per image with phrase spans and boxes).
///
/// With `webCaptions`, also the image–text pairs of self-training: `web_captions.jsonl` (`{"file_name", "caption"}`
/// per image, the captions file of `glip pseudo-label`) and, withheld from training, `web_truth.odvg.jsonl` (the
/// boxes of the objects each caption mentions, for scoring pseudo-labels). The other files do not change.
public enum SyntheticDatasetWriter {
  /// The most images one call writes (each image's record is held until the annotation files are written).
  public static let imageCounts = 1...1_000_000
  /// The image sides drawn, in pixels.
  public static let sizes = 64...4096

  /// A request outside `imageCounts` or `sizes`.
  public struct RequestError: Error, CustomStringConvertible {
    public let description: String
  }

  /// What the pre-training data holds, in one line (for `glip data synth --list-tasks`).
  public static let summary =
    "the pre-training data: 5 shapes in 6 colours on textured backgrounds, shape and colour+shape COCO files, "
    + "referring-expression captions"

  public static func write(
    to directory: String, images count: Int, seed: UInt64, size: Int = 320, holdout: Set<String> = [],
    webCaptions: Bool = false
  ) throws {
    try checkRequest(images: count, size: size)
    let generator = SyntheticShapes(size: size, holdout: holdout)
    let root = URL(fileURLWithPath: directory)
    let all = try writeImages(count: count, size: size, root: root) { index in
      let sample = generator.sample(index: index, seed: seed)
      return (sample.image, sample)
    }
    try write(
      coco(all.map { $0.objects.map { ($0.shape, $0.box) } }, categories: SyntheticShapes.shapes, size: size),
      to: root.appendingPathComponent("instances_shapes.json"))
    try write(
      coco(
        all.map { $0.objects.map { ($0.colour * SyntheticShapes.shapes.count + $0.shape, $0.box) } },
        categories: SyntheticShapes.phrases, omitting: holdout, size: size),
      to: root.appendingPathComponent("instances_phrases.json"))
    let lines = try all.enumerated().map { index, sample -> String in
      let regions: [[String: Any]] = sample.caption.regions.map { region in
        [
          "bbox": sample.objects[region.object].box.map(round2), "phrase": region.phrase,
          "tokens_positive": [[region.span.lowerBound, region.span.upperBound]],
        ]
      }
      let record: [String: Any] = [
        "filename": fileName(index), "height": size, "width": size,
        "grounding": ["caption": sample.caption.text, "regions": regions],
      ]
      return String(
        data: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes]),
        encoding: .utf8)!
    }
    try (lines.joined(separator: "\n") + "\n").write(
      to: root.appendingPathComponent("grounding.odvg.jsonl"), atomically: true, encoding: .utf8)
    if webCaptions { try writeWebCaptions(all, generator: generator, seed: seed, root: root) }
  }

  /// `web_captions.jsonl` and `web_truth.odvg.jsonl`: one line per image, in image order.
  static func writeWebCaptions(
    _ samples: [SyntheticShapes.Sample], generator: SyntheticShapes, seed: UInt64, root: URL
  ) throws {
    var captionLines: [String] = [], truthLines: [String] = []
    for (index, sample) in samples.enumerated() {
      let caption = generator.webCaption(for: sample.objects, index: index, seed: seed)
      captionLines.append(try jsonLine(["file_name": fileName(index), "caption": caption.text]))
      let regions: [[String: Any]] = caption.mentions.flatMap { mention in
        mention.objects.map { object in
          [
            "bbox": sample.objects[object].box.map(round2), "phrase": mention.phrase,
            "tokens_positive": [[mention.span.lowerBound, mention.span.upperBound]],
          ]
        }
      }
      truthLines.append(
        try jsonLine([
          "filename": fileName(index), "height": generator.size, "width": generator.size,
          "grounding": ["caption": caption.text, "regions": regions],
        ]))
    }
    try (captionLines.joined(separator: "\n") + "\n").write(
      to: root.appendingPathComponent("web_captions.jsonl"), atomically: true, encoding: .utf8)
    try (truthLines.joined(separator: "\n") + "\n").write(
      to: root.appendingPathComponent("web_truth.odvg.jsonl"), atomically: true, encoding: .utf8)
  }

  static func jsonLine(_ object: [String: Any]) throws -> String {
    String(
      decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
      as: UTF8.self)
  }

  static func fileName(_ index: Int) -> String { String(format: "images/%06d.png", index) }

  static func round2(_ value: Float) -> Double { (Double(value) * 100).rounded() / 100 }

  /// A COCO detection file: for each image, its objects' category indices (into `categories`) and
  /// `[x1, y1, x2, y2]` boxes, written as COCO's `[x, y, width, height]`. Categories named in `omitting` are left
  /// out of the category list (held-out pairs: a training prompt must not name them as negatives) and the others
  /// keep their ids, so a split written without them scores the same ids.
  static func coco(
    _ images: [[(category: Int, box: [Float])]], categories: [String], omitting: Set<String> = [], size: Int
  ) -> [String: Any] {
    var annotations: [[String: Any]] = []
    for (index, objects) in images.enumerated() {
      for object in objects {
        let box = [object.box[0], object.box[1], object.box[2] - object.box[0], object.box[3] - object.box[1]].map(
          round2)
        annotations.append([
          "id": annotations.count + 1, "image_id": index + 1, "category_id": object.category + 1, "bbox": box,
          "area": box[2] * box[3], "iscrowd": 0,
        ])
      }
    }
    return [
      "images": images.indices.map { ["id": $0 + 1, "file_name": fileName($0), "width": size, "height": size] },
      "annotations": annotations,
      "categories": categories.enumerated().filter { !omitting.contains($0.element) }.map {
        ["id": $0.offset + 1, "name": $0.element]
      },
    ]
  }

  /// Throws unless `count` is in `imageCounts` and `size` in `sizes`.
  static func checkRequest(images count: Int, size: Int) throws {
    guard imageCounts.contains(count) else {
      throw RequestError(
        description:
          "the image count (--images) must be in \(imageCounts.lowerBound)…\(imageCounts.upperBound), got \(count)")
    }
    try checkSize(size)
  }

  /// Throws unless `size` is in `sizes`.
  static func checkSize(_ size: Int) throws {
    guard sizes.contains(size) else {
      throw RequestError(
        description: "the image side (--size) must be in \(sizes.lowerBound)…\(sizes.upperBound), got \(size)")
    }
  }

  /// Makes images `0..<count` in parallel, writes each to `images/NNNNNN.png` under `root`, and returns what `make`
  /// returned beside each image, in image order. The first error of any image is thrown.
  static func writeImages<Record>(
    count: Int, size: Int, root: URL, make: (Int) throws -> (RGBImage, Record)
  ) throws -> [Record] {
    try FileManager.default.createDirectory(
      at: root.appendingPathComponent("images"), withIntermediateDirectories: true)
    var records = [Record?](repeating: nil, count: count)
    let lock = NSLock()
    var failure: Error?
    Parallel.forEach(count, costPerItem: size * size * 8) { index in
      do {
        let (image, record) = try make(index)
        try ImageIO.writePNG(image, path: root.appendingPathComponent(fileName(index)).path)
        lock.lock()
        records[index] = record
        lock.unlock()
      } catch {
        lock.lock()
        failure = failure ?? error
        lock.unlock()
      }
    }
    if let failure { throw failure }
    return records.map { $0! }
  }

  static func write(_ object: [String: Any], to url: URL) throws {
    try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]).write(
      to: url, options: .atomic)
  }
}
