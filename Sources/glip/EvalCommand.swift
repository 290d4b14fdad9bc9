import ArgumentParser
import Evaluation
import Foundation
import Training

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "COCO bbox metrics (pycocotools' protocol) for a trained model on data.val, or for a results file.",
    discussion: """
      With --run or --config the model is run on the config's data.val split (format: coco), prompted with every
      category name. With --annotations and --detections an existing COCO results file is scored.
      """)

  @OptionGroup var model: ModelSourceOptions

  @Option(help: "COCO ground-truth JSON (with --detections).")
  var annotations: String?

  @Option(help: "COCO results JSON: [{image_id, category_id, bbox, score}].")
  var detections: String?

  @Option(help: "Write the model's detections here as a COCO results file.")
  var saveDetections: String?

  @Flag(help: "Print one JSON object with the 12 standard numbers.")
  var json = false

  func validate() throws {
    if model.isGiven == (detections != nil) {
      throw ValidationError("give a model (--run or --config) or --annotations with --detections")
    }
    if detections != nil && annotations == nil { throw ValidationError("--detections needs --annotations") }
  }

  func run() throws {
    let metrics = try model.isGiven ? evaluateModel() : scoreFile()
    if json {
      let fields = zip(CocoMetrics.names, metrics.values).map { "\"\($0)\": \($1)" }
      print("{" + fields.joined(separator: ", ") + "}")
    } else {
      print(metrics.summary)
    }
  }

  private func scoreFile() throws -> CocoMetrics {
    try reportingErrors {
      let truth = try CocoGroundTruth(path: annotations!)
      let found = try readCocoDetections(path: detections!)
      let categories = truth.categoryIds.isEmpty ? Array(Set(truth.annotations.map(\.categoryId))) : truth.categoryIds
      return CocoEvaluator.evaluate(
        annotations: truth.annotations, detections: found, imageIds: truth.imageIds, categoryIds: categories)
    }
  }

  private func evaluateModel() throws -> CocoMetrics {
    let (_, experiment) = try model.load()
    return try reportingErrors {
      let predictor = try Predictor(detector: experiment.detector, imageSize: experiment.data.imageSize)
      let result = try DatasetEvaluation.coco(predictor: predictor, source: experiment.data.val) { done, total in
        if done % 16 == 0 || done == total { printError("evaluated \(done)/\(total) images") }
      }
      if let saveDetections {
        try DatasetEvaluation.resultsJSON(result.detections).write(
          toFile: saveDetections, atomically: true, encoding: .utf8)
      }
      return result.metrics
    }
  }
}
