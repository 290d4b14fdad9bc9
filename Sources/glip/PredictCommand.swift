import ArgumentParser
import Detection
import Foundation
import Imaging
import Language
import Training

struct PredictCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "predict",
    abstract: "Ground a prompt's phrases in images: annotated PNGs and detections.json.",
    discussion: """
      The prompt is a list of phrases separated by '.' ("red circle. blue square"; long lists are split into \
      prompts that fit the text encoder) or a caption with its phrases in brackets ("a [red circle] left of a \
      [blue square]").

      --out DIR writes DIR/<image name>.png for each image (boxes with phrase and score) and DIR/detections.json: \
      [{"image": path, "detections": [{"box": [x1, y1, x2, y2], "score": s, "phrase": "...", "phrase_index": i}]}], \
      boxes in the input image's pixels, best first. --out FILE.png (one image) writes only the annotated image.

      A folder given to --image stands for its .png, .jpg and .jpeg files, in name order; a progress bar with the \
      time per image and the ETA goes to standard error.

      Photos are turned upright by their EXIF orientation (phones store them rotated) and boxes are in the upright \
      image's pixels, unless the config sets data.exif_orientation: false (GLIP's own loader ignores EXIF).
      """)

  @OptionGroup var model: ModelSourceOptions

  @Option(help: "A PNG or JPEG image, or a folder of them (repeatable).")
  var image: [String] = []

  @Option(help: "Phrases separated by '.' or a caption with [bracketed] phrases.")
  var prompt: String?

  @Option(
    help: ArgumentHelp(
      """
      A prompt per image instead of --prompt and --image: JSON Lines of {"image": PATH, "prompt": TEXT}, PATH \
      relative to the file's folder; images with different prompts still run --batch-size at a time.
      """, valueName: "file"))
  var prompts: String?

  @Option(help: "Output directory (or one annotated .png file for a single image).")
  var out: String

  @Option(help: "Keep detections scoring at least this.")
  var threshold: Float = 0.3

  @Option(
    help: """
      Images run as one batch, padded to the largest of them: same-size images give the detections they get \
      alone, a smaller image's change (the padding enters DyHead's pooling and the fusion). More memory.
      """)
  var batchSize = 1

  @Flag(help: "Print detections.json instead of one line per detection.")
  var json = false

  private var singleFile: Bool { out.lowercased().hasSuffix(".png") }

  func validate() throws {
    if prompts != nil {
      guard prompt == nil, image.isEmpty else {
        throw ValidationError("--prompts FILE names the images and their prompts; leave out --prompt and --image")
      }
      guard !singleFile else { throw ValidationError("--prompts writes a directory; give --out DIR") }
    } else {
      guard prompt != nil else { throw ValidationError("give --prompt TEXT (or --prompts FILE)") }
      guard !image.isEmpty else { throw ValidationError("give at least one --image") }
    }
    if singleFile && (image.count > 1 || image.contains(where: isDirectory)) {
      throw ValidationError("--out \(out) is one PNG file; give a directory for several images")
    }
    guard threshold.isFinite else { throw ValidationError("--threshold must be a number") }
    guard (1...256).contains(batchSize) else { throw ValidationError("--batch-size must be 1...256, got \(batchSize)") }
  }

  func run() throws {
    let list = try prompts.map { path in try reportingErrors { try ImagePrompts(path: path) } }
    let input = try prompt.map { text in try reportingErrors { try PromptInput(parsing: text) } }
    let (_, experiment) = try model.load()
    try reportingErrors {
      var predictor = try Predictor(detector: experiment.detector, sizing: experiment.data.sizing)
      predictor.batchSize = batchSize
      let paths = try list.map { $0.entries.map(\.image) } ?? imagePaths()
      let progress = paths.count > 1 ? ItemProgress(total: paths.count, label: "images") : nil
      var results: [(image: String, detections: [Detection])] = []
      let handle = { (index: Int, photo: RGBImage, detections: [Detection]) in
        try report(
          detections.filter { $0.score >= threshold }, of: photo, at: paths[index], among: paths, into: &results)
        progress?.update(results.count)
      }
      if let list, let prompts {
        try predictor.detect(list, file: prompts, handle)
      } else if let input {
        try predictor.detect(paths: paths, prompts: try predictor.prompts(for: input), handle)
      }
      let document = Predictor.detectionsJSON(results)
      if !singleFile {
        let path = URL(fileURLWithPath: out).appendingPathComponent("detections.json").path
        try document.write(toFile: path, atomically: true, encoding: .utf8)
        printError("wrote \(paths.count) annotated images and \(path)")
      }
      if json { print(document, terminator: "") }
    }
  }

  /// Writes one image's annotated copy and prints its detections; appends them to `results`.
  private func report(
    _ kept: [Detection], of photo: RGBImage, at path: String, among paths: [String],
    into results: inout [(image: String, detections: [Detection])]
  ) throws {
    results.append((path, kept))
    let annotated = Predictor.annotate(photo, kept, threshold: threshold)
    if singleFile {
      try ImageIO.writePNG(annotated, path: out)
      printError("wrote \(out) with \(kept.count) boxes")
    }
    if !json {
      for detection in kept {
        let box = detection.box.map { String(format: "%.1f", $0) }.joined(separator: ", ")
        print(
          (paths.count > 1 ? "\(path)  " : "")
            + "\(String(format: "%.4f", detection.score))  \(detection.phrase)  [\(box)]")
      }
    }
    if !singleFile { try write(annotated, for: path, among: paths, index: results.count - 1) }
  }

  private func isDirectory(_ path: String) -> Bool {
    var directory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
  }

  /// The --image paths with each folder replaced by its images in name order.
  private func imagePaths() throws -> [String] {
    try image.flatMap { path -> [String] in
      guard isDirectory(path) else { return [path] }
      let names = try FileManager.default.contentsOfDirectory(atPath: path).filter {
        ["png", "jpg", "jpeg"].contains(URL(fileURLWithPath: $0).pathExtension.lowercased())
      }.sorted()
      guard !names.isEmpty else { throw ValidationError("--image \(path): the folder has no .png or .jpg images") }
      return names.map { URL(fileURLWithPath: path).appendingPathComponent($0).path }
    }
  }

  /// OUT/<stem>.png, or OUT/<index>_<stem>.png when two images share a file name.
  private func write(_ annotated: RGBImage, for path: String, among paths: [String], index: Int) throws {
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    let names = paths.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
    let stem = names[index]
    let name = names.filter { $0 == stem }.count > 1 ? "\(index)_\(stem).png" : "\(stem).png"
    try ImageIO.writePNG(annotated, path: URL(fileURLWithPath: out).appendingPathComponent(name).path)
  }
}
