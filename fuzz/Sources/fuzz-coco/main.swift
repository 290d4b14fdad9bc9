import Datasets
import Evaluation
import Foundation
import FuzzSupport

/// COCO JSON as every reader sees it: the training loader, the evaluator's ground truth, and a results file
/// checked against that ground truth.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
  let path = FuzzInput.file(bytes, count, suffix: ".json")
  _ = try? GroundingData.loadCOCO(path: path, imageRoot: imageRoot, policy: .skip)
  _ = try? GroundingData.loadCOCO(path: path, imageRoot: imageRoot, policy: .fail)
  if let truth = try? CocoGroundTruth(path: path) {
    // The ground truth's own boxes as detections: every match and crowd rule runs.
    let detections = truth.annotations.enumerated().map { index, annotation in
      CocoDetection(
        imageId: annotation.imageId, categoryId: annotation.categoryId, bbox: annotation.bbox,
        score: Double(index % 7) / 7)
    }
    _ = CocoEvaluator.evaluate(
      annotations: truth.annotations, detections: detections, imageIds: truth.imageIds,
      categoryIds: truth.categoryIds)
  }
  if let detections = try? readCocoDetections(path: path), let truth = reference {
    _ = try? truth.check(detections, from: path)
  }
  return 0
}

/// Images the records may name: the corpus uses `images/000000.png`, present in this directory.
let imageRoot = FuzzInput.packageDirectory.appendingPathComponent("corpus/images").path
/// The ground truth that results files are checked against.
let reference = try? CocoGroundTruth(
  path: FuzzInput.packageDirectory.appendingPathComponent("corpus/truth.json").path)

FuzzDriver.run(fuzz)
