import ArgumentParser
import Evaluation
import Foundation
import Training

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "COCO bbox metrics (pycocotools' protocol) for a trained model on data.val, or for a results file.",
    discussion: """
      With --run or --config the model is run on the config's data.val split. With format: coco every image is
      prompted with all category names and scored with the COCO protocol; with format: odvg each image is prompted
      with its own caption and scored with phrase-grounding Recall@1/5/10 (IoU >= 0.5). With --annotations and
      --detections an existing COCO results file is scored.
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
    guard model.isGiven else { return report(try scoreFile()) }
    let (_, experiment) = try model.load()
    try reportingErrors {
      let predictor = try Predictor(detector: experiment.detector, imageSize: experiment.data.imageSize)
      let progress = { (done: Int, total: Int) in
        if done % 16 == 0 || done == total { printError("evaluated \(done)/\(total) images") }
      }
      switch experiment.data.val.format {
      case .odvg:
        if saveDetections != nil { throw ValidationError("--save-detections needs data.val in coco format") }
        report(
          recall: try GroundingRecall.evaluate(predictor: predictor, source: experiment.data.val, progress: progress))
      case .coco:
        let result = try DatasetEvaluation.coco(predictor: predictor, source: experiment.data.val, progress: progress)
        if let saveDetections {
          try DatasetEvaluation.resultsJSON(result.detections).write(
            toFile: saveDetections, atomically: true, encoding: .utf8)
        }
        report(result.metrics)
      }
    }
  }

  private func report(_ metrics: CocoMetrics) {
    if json {
      let fields = zip(CocoMetrics.names, metrics.values).map { "\"\($0)\": \($1)" }
      print("{" + fields.joined(separator: ", ") + "}")
    } else {
      print(metrics.summary)
    }
  }

  private func report(recall: [Int: Double]) {
    let pairs = GroundingRecall.ks.map { ("R@\($0)", recall[$0]!) }
    print(
      json
        ? "{" + pairs.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
        : pairs.map { String(format: "%@ %.3f", $0.0, $0.1) }.joined(separator: "  "))
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
}
