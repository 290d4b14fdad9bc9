import Datasets
import Detection
import Evaluation
import Foundation
import Imaging
import Language

/// Scores a detector on COCO-format data: every image is prompted with all category names (in chunks that fit the
/// text encoder) and the detections go through the COCO bbox protocol.
public enum DatasetEvaluation {
  public struct Result {
    public var metrics: CocoMetrics
    public var detections: [CocoDetection]
    /// Bad records left out under `on_bad_record: skip`.
    public var skipped: Int = 0
    /// The metrics over each category group's categories alone, in the order the groups were given.
    public var groups: [(name: String, metrics: CocoMetrics)] = []

    public init(
      metrics: CocoMetrics, detections: [CocoDetection], skipped: Int = 0,
      groups: [(name: String, metrics: CocoMetrics)] = []
    ) {
      self.metrics = metrics
      self.detections = detections
      self.skipped = skipped
      self.groups = groups
    }

    /// Scores `detections` against `truth` over `categoryIds`, and over each group's category ids alone.
    public init(
      scoring detections: [CocoDetection], truth: [CocoAnnotation], imageIds: [Int], categoryIds: [Int],
      groups: [(name: String, ids: [Int])] = [], skipped: Int = 0
    ) {
      func score(_ ids: [Int]) -> CocoMetrics {
        CocoEvaluator.evaluate(annotations: truth, detections: detections, imageIds: imageIds, categoryIds: ids)
      }
      self.init(
        metrics: score(categoryIds), detections: detections, skipped: skipped,
        groups: groups.map { ($0.name, score($0.ids)) })
    }

    /// The metrics reported per group, `AP[name]`, `AP50[name]` and `AR100[name]`.
    public static let groupMetricNames = ["AP", "AP50", "AR100"]

    /// The 12 numbers, then each group's `AP[name]`, `AP50[name]` and `AR100[name]`.
    public var namedMetrics: [(name: String, value: Double)] {
      zip(CocoMetrics.names, metrics.values).map { (name: $0, value: $1) }
        + groups.flatMap { group in
          Result.groupMetricNames.map { (name: "\($0)[\(group.name)]", value: group.metrics[$0]) }
        }
    }

    /// COCO's twelve-line summary, then one line per group.
    public var summary: String {
      ([metrics.summary]
        + groups.map { group in
          "\(group.name): "
            + Result.groupMetricNames.map { String(format: "%@ %.3f", $0, group.metrics[$0]) }.joined(separator: "  ")
        }).joined(separator: "\n")
    }
  }

  /// Scores `source` (a `format: coco` split).
  public static func coco(
    predictor: Predictor, source: DataSource, progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> Result {
    guard source.isSet else { throw TrainingError(message: "\(source.name).annotations is not set") }
    return try coco(
      predictor: predictor, annotations: source.annotations, images: source.images,
      policy: source.onBadRecord, groups: source.categoryGroups, progress: progress)
  }

  /// Scores a COCO file whose image file names are relative to `images`, overall and over each of `groups`. Under
  /// `.skip`, bad images are left out of both the predictions and the ground truth.
  public static func coco(
    predictor: Predictor, annotations: String, images: String, policy: BadRecordPolicy = .fail,
    groups: [CategoryGroup] = [], progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> Result {
    let loaded = try GroundingData.loadCOCO(
      path: annotations, imageRoot: images, policy: policy, exifOrientation: predictor.sizing.exifOrientation)
    let groupIds = try groups.map { group in
      (group.name, try group.ids(in: loaded.categories.map { ($0.id, $0.name) }, file: annotations))
    }
    let imageIds = loaded.records.map { $0.imageId! }
    let truth = try groundTruth(annotations, records: loaded.records, policy: policy)
    let names = loaded.categories.map(\.name)
    let prompts = try predictor.prompts(for: .phrases(names))
    var found: [CocoDetection] = []
    try predictor.detect(paths: loaded.records.map(\.imagePath), prompts: prompts) { index, _, detections in
      for detection in detections {
        let box = detection.box.map(Double.init)
        found.append(
          CocoDetection(
            imageId: imageIds[index], categoryId: loaded.categories[detection.phraseIndex].id,
            bbox: [box[0], box[1], box[2] - box[0], box[3] - box[1]], score: Double(detection.score)))
      }
      progress(index + 1, loaded.records.count)
    }
    return Result(
      scoring: found, truth: truth, imageIds: imageIds, categoryIds: loaded.categories.map(\.id), groups: groupIds,
      skipped: loaded.skipped)
  }

  /// The ground truth of the loaded images: the file's annotations (crowds and areas as written). When skipping bad
  /// records and the file does not parse as ground truth, the records' own boxes stand in.
  static func groundTruth(
    _ path: String, records: [GroundingRecord], policy: BadRecordPolicy
  ) throws -> [CocoAnnotation] {
    let kept = Set(records.compactMap(\.imageId))
    do {
      return try CocoGroundTruth(path: path).annotations.filter { kept.contains($0.imageId) }
    } catch  where policy == .skip {
      var truth: [CocoAnnotation] = []
      for record in records {
        for (box, category) in zip(record.boxes, record.categories ?? []) {
          let bbox = [box[0], box[1], box[2] - box[0], box[3] - box[1]].map(Double.init)
          truth.append(
            CocoAnnotation(id: truth.count + 1, imageId: record.imageId!, categoryId: category, bbox: bbox))
        }
      }
      return truth
    }
  }

  /// What `glip eval --data DIR` reports for a directory written by `glip data synth` (or laid out like one).
  public struct DirectoryResult {
    /// COCO metrics per category set: `instances_<set>.json` in the directory.
    public var detection: [(set: String, metrics: CocoMetrics)]
    /// Recall@k over the phrases of the ODVG captions (`*.odvg.jsonl`), when the directory has them.
    public var grounding: [Int: Double]?
    /// Bad records left out under `.skip`, over all files.
    public var skipped: Int

    /// `{"detection": {"<set>": {the 12 COCO numbers}, ...}, "grounding": {"R@1": .., "R@5": .., "R@10": ..}}`;
    /// `grounding` is null when the directory has no captions.
    public var json: String {
      let sets = detection.map { set, metrics in
        "\"\(set)\": {" + zip(CocoMetrics.names, metrics.values).map { "\"\($0)\": \($1)" }.joined(separator: ", ")
          + "}"
      }
      let recall =
        grounding.map { recall in
          "{" + GroundingRecall.ks.map { "\"R@\($0)\": \(recall[$0]!)" }.joined(separator: ", ") + "}"
        } ?? "null"
      return "{\"detection\": {" + sets.joined(separator: ", ") + "}, \"grounding\": " + recall + "}"
    }

    /// Each set's 12-line summary under its name, then the recall line.
    public var summary: String {
      var blocks = detection.map { "\($0.set):\n\($0.metrics.summary)" }
      if let grounding {
        blocks.append(
          "grounding: "
            + GroundingRecall.ks.map { String(format: "R@%d %.3f", $0, grounding[$0]!) }.joined(separator: "  "))
      }
      return blocks.joined(separator: "\n\n")
    }
  }

  /// The category sets (`instances_<set>.json`) and caption files (`*.odvg.jsonl`) of a data directory, sorted.
  public static func dataFiles(in directory: String) throws -> (
    sets: [(name: String, path: String)], captions: [String]
  ) {
    let entries: [String]
    do {
      entries = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    } catch {
      throw TrainingError(message: "\(directory): cannot list the data directory (\(error.localizedDescription))")
    }
    let sets = entries.filter { $0.hasPrefix("instances_") && $0.hasSuffix(".json") }.map { file in
      (String(file.dropFirst("instances_".count).dropLast(".json".count)), directory + "/" + file)
    }
    let captions = entries.filter { $0.hasSuffix(".odvg.jsonl") }.map { directory + "/" + $0 }
    guard !sets.isEmpty || !captions.isEmpty else {
      throw TrainingError(
        message: "\(directory): no instances_<set>.json or *.odvg.jsonl files (write one with glip data synth)")
    }
    return (sets, captions)
  }

  /// Runs the model over a data directory: COCO metrics for each category set (shapes, colour+shape phrases, …)
  /// and phrase-grounding Recall@1/5/10 over its captions. Image file names are relative to the directory.
  public static func directory(
    predictor: Predictor, directory: String, policy: BadRecordPolicy = .fail,
    progress: (String, Int, Int) -> Void = { _, _, _ in }
  ) throws -> DirectoryResult {
    let files = try dataFiles(in: directory)
    var detection: [(set: String, metrics: CocoMetrics)] = []
    var skipped = 0
    for (name, path) in files.sets {
      let result = try coco(predictor: predictor, annotations: path, images: directory, policy: policy) {
        progress(name, $0, $1)
      }
      detection.append((name, result.metrics))
      skipped += result.skipped
    }
    var grounding: [Int: Double]?
    if !files.captions.isEmpty {
      var phrases: [GroundingRecall.PhraseResult] = []
      for path in files.captions {
        let loaded = try GroundingData.loadODVG(path: path, imageRoot: directory, policy: policy)
        phrases += try GroundingRecall.phraseResults(predictor: predictor, records: loaded.records) {
          progress("grounding", $0, $1)
        }
        skipped += loaded.skipped
      }
      grounding = GroundingRecall.recall(phrases)
    }
    return DirectoryResult(detection: detection, grounding: grounding, skipped: skipped)
  }

  /// The detections as a COCO results file.
  public static func resultsJSON(_ detections: [CocoDetection]) -> String {
    let rows = detections.map { detection in
      let box = detection.bbox.map { String(format: "%.2f", $0) }.joined(separator: ", ")
      return "{\"image_id\": \(detection.imageId), \"category_id\": \(detection.categoryId), \"bbox\": [\(box)], "
        + "\"score\": \(String(format: "%.5f", detection.score))}"
    }
    return "[\n" + rows.joined(separator: ",\n") + "\n]\n"
  }
}
