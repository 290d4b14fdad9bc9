import Datasets
import Detection
import Foundation
import Imaging
import Language

/// Phrase-grounding Recall@k (as in Flickr30k Entities evaluation): a phrase counts as found at k when one of its k
/// best-scoring boxes overlaps one of its ground-truth boxes with IoU ≥ 0.5.
public enum GroundingRecall {
  public static let ks = [1, 5, 10]

  /// One phrase of one image: its ground-truth boxes and the predicted boxes for it, best first.
  public struct PhraseResult {
    public var truth: [[Float]]
    public var ranked: [[Float]]
    public init(truth: [[Float]], ranked: [[Float]]) {
      self.truth = truth
      self.ranked = ranked
    }
  }

  /// Recall at each of `ks` over all phrases.
  public static func recall(_ phrases: [PhraseResult], ks: [Int] = ks, iouThreshold: Float = 0.5) -> [Int: Double] {
    var result: [Int: Double] = [:]
    for k in ks {
      let hits = phrases.filter { phrase in
        phrase.ranked.prefix(k).contains { box in phrase.truth.contains { BoxOps.iou(box, $0) >= iouThreshold } }
      }.count
      result[k] = phrases.isEmpty ? 0 : Double(hits) / Double(phrases.count)
    }
    return result
  }

  /// The caption's phrases (boxes sharing the same spans form one phrase) as a prompt, with each phrase's boxes.
  public static func phrases(of record: GroundingRecord) -> (prompt: Prompt, truth: [[[Float]]]) {
    var spans: [[Range<Int>]] = [], truth: [[[Float]]] = []
    for (box, boxSpans) in zip(record.boxes, record.spans) {
      if let index = spans.firstIndex(of: boxSpans) {
        truth[index].append(box)
      } else {
        spans.append(boxSpans)
        truth.append([box])
      }
    }
    return (Prompt(text: record.caption, phraseSpans: spans, labels: Array(spans.indices)), truth)
  }

  /// Each caption phrase of `records` with the predictor's boxes for it, the record prompted with its own caption.
  public static func phraseResults(
    predictor: Predictor, records: [GroundingRecord], progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> [PhraseResult] {
    var results: [PhraseResult] = []
    for (index, record) in records.enumerated() {
      let (prompt, truth) = phrases(of: record)
      let found = try predictor.detect(try predictor.sizing.read(path: record.imagePath), prompt: prompt)
      for (phrase, boxes) in truth.enumerated() {
        let ranked = found.filter { $0.phraseIndex == phrase }.sorted { $0.score > $1.score }.map(\.box)
        results.append(PhraseResult(truth: boxes, ranked: ranked))
      }
      progress(index + 1, records.count)
    }
    return results
  }
}
