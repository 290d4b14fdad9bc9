import Datasets
import Evaluation
import Language

/// COCO instances JSON: detection data, each image prompted with every category name (GLIP's detection prompt),
/// scored with the COCO bbox protocol; ranked by AP (IoU 0.50:0.95).
public struct CocoFormat: DatasetFormat {
  public init() {}

  public var name: String { "coco" }
  public var summary: String { "COCO instances JSON, prompted with every category name; COCO bbox AP" }
  public var primaryMetric: String { "AP" }

  public func loadRecords(_ source: DataSource) throws -> (records: [GroundingRecord], skipped: Int) {
    let loaded = try GroundingData.loadCOCO(
      path: source.annotations, imageRoot: source.images, policy: source.onBadRecord,
      exifOrientation: source.exifOrientation)
    return (loaded.records, loaded.skipped)
  }

  public func evaluate(predictor: Predictor, source: DataSource, progress: (Int, Int) -> Void) throws
    -> FormatEvaluation
  {
    let result = try DatasetEvaluation.coco(predictor: predictor, source: source, progress: progress)
    return FormatEvaluation(
      metrics: result.namedMetrics, skipped: result.skipped, summary: result.summary,
      writeDetections: { path in
        try DatasetEvaluation.resultsJSON(result.detections).write(toFile: path, atomically: true, encoding: .utf8)
      })
  }

  public func samples(_ source: DataSource, count: Int) throws -> [(record: GroundingRecord, prompt: Prompt)] {
    let loaded = try GroundingData.loadCOCO(
      path: source.annotations, imageRoot: source.images, exifOrientation: source.exifOrientation)
    let prompt = PromptBuilder.detectionPrompt(classNames: loaded.categories.map(\.name))
    return loaded.records.prefix(count).map { ($0, prompt) }
  }
}
