import ArgumentParser
import Evaluation
import Foundation

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval", abstract: "Score a COCO results file against COCO ground truth (pycocotools' bbox protocol).")

  @Option(help: "COCO ground-truth JSON.")
  var annotations: String

  @Option(help: "COCO results JSON: [{image_id, category_id, bbox, score}].")
  var detections: String

  @Flag(help: "Print one JSON object with the 12 standard numbers.")
  var json = false

  func run() throws {
    try reportingErrors {
      let truth = try CocoGroundTruth(path: annotations)
      let found = try readCocoDetections(path: detections)
      let categories = truth.categoryIds.isEmpty ? Array(Set(truth.annotations.map(\.categoryId))) : truth.categoryIds
      let metrics = CocoEvaluator.evaluate(
        annotations: truth.annotations, detections: found, imageIds: truth.imageIds, categoryIds: categories)
      if json {
        let fields = zip(CocoMetrics.names, metrics.values).map { "\"\($0)\": \($1)" }
        print("{" + fields.joined(separator: ", ") + "}")
      } else {
        print(metrics.summary)
      }
    }
  }
}
