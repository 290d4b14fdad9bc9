import Datasets
import Detection
import Foundation

/// How good pseudo-labels are against the boxes behind the captions (e.g. `web_truth.odvg.jsonl` of
/// `glip data synth --web-captions`): a pseudo box is right when it overlaps an unclaimed true box of the same
/// caption with IoU ≥ `iouThreshold` and their phrase spans overlap; best scores claim first.
public struct PseudoLabelScore: Equatable, Sendable {
  public var pseudoBoxes = 0
  public var trueBoxes = 0
  public var correct = 0
  /// Pairs whose image and caption have no true record.
  public var unscored = 0

  public var precision: Double { pseudoBoxes == 0 ? 0 : Double(correct) / Double(pseudoBoxes) }
  public var recall: Double { trueBoxes == 0 ? 0 : Double(correct) / Double(trueBoxes) }

  public var summary: String {
    String(
      format: "pseudo-labels against the truth (IoU 0.5): precision %.3f (%d of %d boxes), recall %.3f (%d of %d)",
      precision, correct, pseudoBoxes, recall, correct, trueBoxes)
      + (unscored > 0 ? "; \(unscored) pairs not in the truth file" : "")
  }

  public init() {}

  /// Scores `labels` against `truth` records; a label is paired with the record of the same image and caption.
  public init(_ labels: [PseudoLabel], truth: [GroundingRecord], imageRoot: String, iouThreshold: Float = 0.5) {
    var byKey: [String: GroundingRecord] = [:]
    for record in truth { byKey[record.imagePath + "\n" + record.caption] = record }
    for label in labels {
      let path = URL(fileURLWithPath: imageRoot).appendingPathComponent(label.pair.fileName).path
      guard let record = byKey[path + "\n" + label.pair.caption] else {
        unscored += 1
        continue
      }
      add(label.regions, record, iouThreshold: iouThreshold)
    }
  }

  /// The score of the labels' boxes at `threshold` and at each tenth above it up to 0.9: raising the threshold keeps
  /// a subset of the boxes, so one labelling run gives the whole precision–recall trade-off.
  public static func sweep(
    _ labels: [PseudoLabel], truth: [GroundingRecord], imageRoot: String, from threshold: Float
  ) -> [(threshold: Float, score: PseudoLabelScore)] {
    let tenths = (1...9).map { Float($0) / 10 }.filter { $0 > threshold + 1e-4 }
    return ([threshold] + tenths).map { minimum in
      let kept = labels.map { label in
        var label = label
        label.regions = label.regions.filter { $0.score >= minimum }
        return label
      }
      return (minimum, PseudoLabelScore(kept, truth: truth, imageRoot: imageRoot))
    }
  }

  mutating func add(_ regions: [PseudoLabel.Region], _ record: GroundingRecord, iouThreshold: Float) {
    pseudoBoxes += regions.count
    trueBoxes += record.boxes.count
    var claimed = Set<Int>()
    for region in regions.sorted(by: { $0.score > $1.score }) {
      let candidates = record.boxes.indices.filter { index in
        !claimed.contains(index) && record.spans[index].contains { $0.overlaps(region.span) }
      }
      let best = candidates.max { BoxOps.iou(record.boxes[$0], region.box) < BoxOps.iou(record.boxes[$1], region.box) }
      if let best, BoxOps.iou(record.boxes[best], region.box) >= iouThreshold {
        claimed.insert(best)
        correct += 1
      }
    }
  }
}
