import Datasets
import Language

/// ODVG grounding JSONL: one record per line, a caption with phrase-grounded regions; each image prompted with its
/// own caption and scored by phrase-grounding Recall@1/5/10 (IoU ≥ 0.5); ranked by R@1.
public struct ODVGFormat: DatasetFormat {
  public init() {}

  public var name: String { "odvg" }
  public var summary: String { "ODVG grounding JSONL: captions with phrase-grounded boxes; Recall@1/5/10" }
  public var primaryMetric: String { "R@1" }

  public func loadRecords(_ source: DataSource) throws -> (records: [GroundingRecord], skipped: Int) {
    try GroundingData.loadODVG(path: source.annotations, imageRoot: source.images, policy: source.onBadRecord)
  }

  public func evaluate(predictor: Predictor, source: DataSource, progress: (Int, Int) -> Void) throws
    -> FormatEvaluation
  {
    let (records, skipped) = try loadRecords(source)
    let recall = GroundingRecall.recall(
      try GroundingRecall.phraseResults(predictor: predictor, records: records, progress: progress))
    return FormatEvaluation(metrics: GroundingRecall.ks.map { (name: "R@\($0)", value: recall[$0]!) }, skipped: skipped)
  }

  public func samples(_ source: DataSource, count: Int) throws -> [(record: GroundingRecord, prompt: Prompt)] {
    try loadRecords(source).records.prefix(count).map { ($0, GroundingRecall.phrases(of: $0).prompt) }
  }
}
