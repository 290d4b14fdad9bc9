import Config
import Datasets
import Detection
import Experiments
import Foundation
import Imaging
import Language
import Training

/// Annotated predictions of several models on the same validation images, as PNG bytes: one row per image, a
/// ground-truth column, then one column per model.
public struct PredictionGrid {
  public struct Row {
    public var image: String
    public var prompt: String
    /// PNG bytes: the ground truth, then each model's detections.
    public var cells: [Data]
  }

  public var columns: [String]
  public var rows: [Row]
  public var threshold: Float
  public var maxBoxes: Int

  /// Runs each run's final model on the first `images` records of the first run's `data.val`. COCO sources are
  /// prompted with every category name, ODVG sources with each image's caption. Boxes scoring at least
  /// `threshold` are drawn, at most `maxBoxes` per image, coloured by phrase.
  public static func make(
    runs: [(name: String, directory: String)], images: Int, threshold: Float = 0.3, maxBoxes: Int = 5
  ) throws -> PredictionGrid {
    guard let first = runs.first else { throw ExperimentError("no runs to predict with") }
    let firstConfig = try LoadedConfig(path: TrainedModel.configPath(run: first.directory))
    let source = try CheckedExperiment(firstConfig, shapesOnly: true).data.val
    guard source.isSet else {
      throw ExperimentError("\(TrainedModel.configPath(run: first.directory)): data.val is not set, nothing to show")
    }
    let samples = try DatasetFormats.format(of: source).samples(source, count: images)
    var rows = try samples.map { sample in
      Row(
        image: URL(fileURLWithPath: sample.record.imagePath).lastPathComponent, prompt: sample.prompt.text,
        cells: [try ImageIO.encodePNG(groundTruth(sample.record, prompt: sample.prompt))])
    }
    for run in runs {
      let loaded = try LoadedConfig(path: TrainedModel.configPath(run: run.directory))
      let experiment = try TrainedModel.load(loaded, checkpoint: TrainedModel.checkpointPath(run: run.directory))
      let predictor = try Predictor(detector: experiment.detector, sizing: experiment.data.sizing)
      for (index, sample) in samples.enumerated() {
        let photo = try predictor.sizing.read(path: sample.record.imagePath)
        let found = try predictor.detect(photo, prompt: sample.prompt).filter { $0.score >= threshold }.prefix(maxBoxes)
        let (canvas, scale) = enlarged(photo)
        var image = canvas
        for detection in found {
          Drawing.labelledBox(
            &image, detection.box.map { $0 * Float(scale) },
            label: String(format: "%@ %.2f", detection.phrase, detection.score),
            color: Drawing.palette[detection.phraseIndex % Drawing.palette.count])
        }
        rows[index].cells.append(try ImageIO.encodePNG(image))
      }
    }
    return PredictionGrid(
      columns: ["ground truth"] + runs.map(\.name), rows: rows, threshold: threshold, maxBoxes: maxBoxes)
  }

  /// The `requested` variants among `runs`, in the order asked; an unknown name is an error with a suggestion.
  public static func requested(
    _ names: [String], among runs: [(name: String, directory: String)]
  ) throws -> [(name: String, directory: String)] {
    try names.map { name in
      guard let run = runs.first(where: { $0.name == name }) else {
        let hint = ConfigUsage.didYouMean(name, among: runs.map(\.name))
        throw ExperimentError("--predict \(name): no such variant\(hint)")
      }
      return run
    }
  }

  /// The runs a grid shows as columns: at most `limit` of `candidates`, all validated on the first one's
  /// `data.val`, since the rows are its images (another task of a transfer grid has other images). The note says
  /// what was left out of `total` variants, or is nil when nothing was.
  public static func columns(
    from candidates: [(name: String, directory: String)], limit: Int, total: Int
  ) throws -> (runs: [(name: String, directory: String)], note: String?) {
    guard let first = candidates.first else { return ([], nil) }
    let images = try validationSource(run: first.directory)
    let sameImages = try candidates.filter { try validationSource(run: $0.directory) == images }
    let shown = Array(sameImages.prefix(limit))
    guard shown.count < total else { return (shown, nil) }
    var note = "predictions of \(shown.count) of \(total) variants"
    if sameImages.count < candidates.count {
      note += " (\(candidates.count - sameImages.count) validate on other images than \(first.name))"
    }
    return (shown, note + "; choose them with --predict VARIANT")
  }

  /// The `data.val` annotations and images a run was configured with, read from its config without building it.
  static func validationSource(run: String) throws -> [String] {
    let loaded = try LoadedConfig(path: TrainedModel.configPath(run: run))
    let val = try ConfigSection(root: loaded.root).section("data").section("val")
    return try [val.read(DataSource.Keys.annotations), val.read(DataSource.Keys.images)]
  }

  /// The image scaled up by a whole factor (nearest neighbour) until its shorter side reaches 240 pixels, so the
  /// 5×7 label font stays legible.
  static func enlarged(_ photo: RGBImage) -> (RGBImage, Int) {
    let scale = max(1, 240 / max(1, min(photo.width, photo.height)))
    guard scale > 1 else { return (photo, 1) }
    var result = RGBImage(width: photo.width * scale, height: photo.height * scale)
    for y in 0..<result.height {
      for x in 0..<result.width { result[x, y] = photo[x / scale, y / scale] }
    }
    return (result, scale)
  }

  /// The record's boxes labelled with their phrases, coloured by the phrase's place in the prompt (as predictions are).
  static func groundTruth(_ record: GroundingRecord, prompt: Prompt) throws -> RGBImage {
    let (canvas, scale) = enlarged(try ImageIO.read(path: record.imagePath))
    var image = canvas
    let scalars = Array(record.caption.unicodeScalars)
    var phrases: [[Range<Int>]] = []
    for (box, spans) in zip(record.boxes, record.spans) {
      if !phrases.contains(spans) { phrases.append(spans) }
      let text = spans.map { span in
        String(String.UnicodeScalarView(scalars[max(0, span.lowerBound)..<min(scalars.count, span.upperBound)]))
      }.joined(separator: " ")
      Drawing.labelledBox(
        &image, box.map { $0 * Float(scale) }, label: text,
        color: Drawing.palette[
          (prompt.phraseSpans.firstIndex(of: spans) ?? phrases.firstIndex(of: spans)!) % Drawing.palette.count])
    }
    return image
  }
}
