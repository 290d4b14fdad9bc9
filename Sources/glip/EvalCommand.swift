import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Training

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract:
      "COCO bbox metrics (pycocotools' protocol) and grounding Recall@k for a trained model, or a results file.",
    discussion: """
      With a model (--checkpoint, --run or --config) and --data DIR, the model runs on a directory written by \
      glip data synth: COCO metrics for each category set (instances_<set>.json: shapes, and the colour+shape \
      phrases) with every category name in the prompt (split into prompts that fit the text encoder), and \
      phrase-grounding Recall@1/5/10 (IoU >= 0.5) on the captions (*.odvg.jsonl), each prompted with its own \
      caption. --json prints {"detection": {"<set>": {the 12 numbers}, ...}, "grounding": {"R@1", "R@5", "R@10"}}.

      With a model, --annotations FILE and --images DIR, the model runs on a COCO-format set (GLIP's zero-shot \
      protocol: every category name in the prompt, in category-id order, split into prompts that fit the text \
      encoder), and the 12 COCO numbers are printed; --save-detections writes the results file.

      Without --data or --annotations the model runs on the config's data.val: COCO metrics with format: coco, \
      Recall@k with format: odvg. With --annotations and --detections an existing COCO results file is scored.
      """)

  @OptionGroup var model: ModelSourceOptions

  @Option(help: "A data directory from glip data synth (instances_*.json, *.odvg.jsonl, images/).")
  var data: String?

  @Option(help: "COCO ground-truth JSON (with --detections, or with a model and --images).")
  var annotations: String?

  @Option(help: "The folder the --annotations file names its images relative to (with a model).")
  var images: String?

  @Option(help: "COCO results JSON: [{image_id, category_id, bbox, score}].")
  var detections: String?

  @Option(help: "Write the model's detections (on --annotations, or a coco data.val) as a COCO results file.")
  var saveDetections: String?

  @Option(
    help: """
      Images run as one batch in COCO evaluation, padded to the largest of them. Same-size images give the \
      detections they get alone; a smaller image's change, as in GLIP's padded batches (GLIP's own evaluation runs \
      1). More memory.
      """)
  var batchSize = 1

  @Flag(help: "With --data, leave out bad records (and count them) instead of failing on the first.")
  var skipBadRecords = false

  @Option(
    help: ArgumentHelp(
      """
      A named subset of the COCO categories scored apart, as AP[NAME], AP50[NAME] and AR100[NAME] after the 12 \
      numbers (repeatable; with --annotations, or added to data.val.category_groups).
      """, valueName: "NAME=CATEGORY,CATEGORY,…"))
  var group: [String] = []

  @Flag(help: "Print one JSON object.")
  var json = false

  func validate() throws {
    if model.isGiven == (detections != nil) {
      throw ValidationError("give a model (--checkpoint, --run or --config) or --annotations with --detections")
    }
    if detections != nil && annotations == nil { throw ValidationError("--detections needs --annotations") }
    if model.isGiven && (annotations != nil) != (images != nil) {
      throw ValidationError("with a model, give --annotations and --images together")
    }
    if images != nil && data != nil { throw ValidationError("give --data or --annotations with --images, not both") }
    if data != nil && saveDetections != nil { throw ValidationError("--save-detections works on data.val, not --data") }
    guard (1...256).contains(batchSize) else { throw ValidationError("--batch-size must be 1...256, got \(batchSize)") }
    if detections != nil && batchSize != 1 { throw ValidationError("--batch-size needs a model to run") }
    for argument in group where CategoryGroup(argument: argument) == nil {
      throw ValidationError("--group \(argument): expected NAME=CATEGORY,CATEGORY,… (e.g. rare=purple star,red ring)")
    }
    if !group.isEmpty && data != nil { throw ValidationError("--group works on --annotations or data.val, not --data") }
    if skipBadRecords && data == nil {
      throw ValidationError("--skip-bad-records is for --data; for data.val set data.on_bad_record: skip")
    }
  }

  var groups: [CategoryGroup] { group.compactMap(CategoryGroup.init(argument:)) }

  func run() throws {
    guard model.isGiven else {
      let result = try scoreFile()
      return print(json ? FormatEvaluation(metrics: result.namedMetrics).json : result.summary)
    }
    let (_, experiment) = try model.load()
    try reportingErrors {
      var predictor = try Predictor(detector: experiment.detector, sizing: experiment.data.sizing)
      predictor.batchSize = batchSize
      let progress = { (done: Int, total: Int) in
        if done % 16 == 0 || done == total { printError("evaluated \(done)/\(total) images") }
      }
      if let annotations, let images {
        var bar: ItemProgress?
        let result = try DatasetEvaluation.coco(
          predictor: predictor, annotations: annotations, images: images, groups: groups
        ) { done, total in
          if bar == nil { bar = ItemProgress(total: total, label: "evaluated") }
          bar?.update(done)
        }
        if let saveDetections {
          try DatasetEvaluation.resultsJSON(result.detections).write(
            toFile: saveDetections, atomically: true, encoding: .utf8)
          printError("wrote \(result.detections.count) detections to \(saveDetections)")
        }
        print(json ? FormatEvaluation(metrics: result.namedMetrics).json : result.summary)
        return
      }
      if let data {
        let result = try DatasetEvaluation.directory(
          predictor: predictor, directory: data, policy: skipBadRecords ? .skip : .fail
        ) { part, done, total in
          if done % 16 == 0 || done == total { printError("\(part): evaluated \(done)/\(total) images") }
        }
        if result.skipped > 0 { printError("skipped \(result.skipped) bad records") }
        print(json ? result.json : result.summary)
        return
      }
      var source = experiment.data.val
      source.categoryGroups += groups
      let format = try DatasetFormats.format(of: source)
      let result = try format.evaluate(predictor: predictor, source: source, progress: progress)
      if result.skipped > 0 { printError("skipped \(result.skipped) bad records (data.on_bad_record: skip)") }
      if let saveDetections {
        guard let write = result.writeDetections else {
          throw ValidationError("--save-detections: data.val format '\(format.name)' has no results file (coco has)")
        }
        try write(saveDetections)
      }
      print(json ? result.json : result.text)
    }
  }

  private func scoreFile() throws -> DatasetEvaluation.Result {
    try reportingErrors {
      let truth = try CocoGroundTruth(path: annotations!)
      let found = try readCocoDetections(path: detections!)
      try truth.check(found, from: detections!)
      let categories = truth.categoryIds.isEmpty ? Array(Set(truth.annotations.map(\.categoryId))) : truth.categoryIds
      let groupIds = try groups.map { group in (group.name, try group.ids(in: truth.categories, file: annotations!)) }
      return DatasetEvaluation.Result(
        scoring: found, truth: truth.annotations, imageIds: truth.imageIds, categoryIds: categories, groups: groupIds)
    }
  }
}
