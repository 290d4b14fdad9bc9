import Datasets
import Detection
import Evaluation
import Foundation
import Imaging
import Language

/// Scores a detector on a COCO-format split: every image is prompted with all category names and the detections
/// go through the COCO bbox protocol.
public enum DatasetEvaluation {
  public struct Result {
    public var metrics: CocoMetrics
    public var detections: [CocoDetection]
  }

  public static func coco(
    predictor: Predictor, source: DataSource, progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> Result {
    guard source.format == .coco else {
      throw TrainingError(message: "\(source.name): glip eval needs format: coco (class prompts), got odvg")
    }
    guard source.isSet else { throw TrainingError(message: "\(source.name).annotations is not set") }
    let truth = try CocoGroundTruth(path: source.annotations)
    let loaded = try GroundingData.loadCOCO(path: source.annotations, imageRoot: source.images)
    guard loaded.records.count == truth.imageIds.count else {
      throw TrainingError(message: "\(source.annotations): image list and records disagree")
    }
    let prompt = PromptBuilder.detectionPrompt(classNames: loaded.categories.map(\.name))
    var found: [CocoDetection] = []
    for (index, record) in loaded.records.enumerated() {
      let photo = try ImageIO.read(path: record.imagePath)
      for detection in predictor.detect(photo, prompt: prompt) {
        let box = detection.box.map(Double.init)
        found.append(
          CocoDetection(
            imageId: truth.imageIds[index], categoryId: loaded.categories[detection.phraseIndex].id,
            bbox: [box[0], box[1], box[2] - box[0], box[3] - box[1]], score: Double(detection.score)))
      }
      progress(index + 1, loaded.records.count)
    }
    let metrics = CocoEvaluator.evaluate(
      annotations: truth.annotations, detections: found, imageIds: truth.imageIds,
      categoryIds: loaded.categories.map(\.id))
    return Result(metrics: metrics, detections: found)
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
