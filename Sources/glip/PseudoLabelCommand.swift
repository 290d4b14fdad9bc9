import ArgumentParser
import Datasets
import Foundation
import Language
import TensorCore
import Training

struct PseudoLabelCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pseudo-label",
    abstract: "Ground the noun phrases of image captions with a teacher model and write ODVG training records.",
    discussion: """
      CAPTIONS.jsonl holds one JSON object per line: {"file_name": "images/000001.png", "caption": "a grainy \
      photo with two purple stars"}, file_name relative to --images (an image may have several lines). Each \
      caption is chunked into noun phrases as GLIP does (see glip phrases), the teacher grounds them with the \
      caption as its prompt, and boxes scoring at least --threshold are written to --out as ODVG grounding \
      records with their phrase, character span (tokens_positive) and score. Train on them with \
      {format: odvg, annotations: PSEUDO.odvg.jsonl, images: DIR}.

      A pair with no confident box (or no noun phrase) is kept as a negative record (no regions: every phrase \
      is background), or left out with --drop-empty. --truth scores the boxes against the true ones (a box \
      counts when IoU >= 0.5 with an unclaimed true box whose phrase span overlaps its own), at --threshold and at \
      each tenth above it.
      """)

  @OptionGroup var model: ModelSourceOptions

  @Option(help: "The folder the captions' file names are relative to.")
  var images: String

  @Option(help: "Captions file (JSON Lines: {\"file_name\", \"caption\"}).")
  var captions: String

  @Option(help: "Output ODVG file (.jsonl).")
  var out: String

  @Option(help: "Keep boxes scoring at least this.")
  var threshold: Float = 0.5

  @Option(help: "Images per forward pass.")
  var batchSize: Int = 4

  @Flag(help: "Leave out pairs with no confident box instead of keeping them as negatives.")
  var dropEmpty = false

  @Flag(
    help: """
      Keep at most as many boxes for a phrase as the caption says it names, the highest-scoring: one for "a red \
      circle", two for "two blue stars"; a phrase of no stated number ("stars") keeps every confident box.
      """)
  var counted = false

  @Option(
    help: """
      ODVG records of the true boxes behind the captions (web_truth.odvg.jsonl of glip data synth \
      --web-captions): print the pseudo-labels' precision and recall against them.
      """)
  var truth: String?

  func validate() throws {
    guard model.isGiven else { throw ValidationError("give the teacher: --checkpoint FILE (or --run DIR)") }
    guard threshold.isFinite, (0...1).contains(threshold) else {
      throw ValidationError("--threshold must be in 0…1, got \(threshold)")
    }
    guard (1...256).contains(batchSize) else { throw ValidationError("--batch-size must be in 1…256") }
  }

  func run() throws {
    let pairs = try reportingErrors { try CaptionPairs.load(path: captions, imageRoot: images) }
    let truthRecords = try truth.map { path in
      try reportingErrors { try GroundingData.loadODVG(path: path, imageRoot: images).records }
    }
    let (_, experiment) = try model.load()
    try reportingErrors {
      let predictor = try Predictor(detector: experiment.detector, sizing: experiment.data.sizing)
      var labeler = PseudoLabeler(predictor: predictor, threshold: threshold, batchSize: batchSize)
      labeler.countedPhrases = counted
      let progress = ItemProgress(total: pairs.count, label: "pseudo-labelled")
      let labels = try labeler.label(
        pairs, imageRoot: images, captionsPath: captions, progress: { progress.update($0) })
      let kept = dropEmpty ? labels.filter { !$0.regions.isEmpty } : labels
      let text = kept.map(\.odvgLine).joined(separator: "\n") + (kept.isEmpty ? "" : "\n")
      try AtomicFile.write(Data(text.utf8), to: out)
      let boxes = labels.map(\.regions.count).reduce(0, +)
      let phrases = labels.map(\.phrases.count).reduce(0, +)
      let empty = labels.filter(\.regions.isEmpty).count
      print(
        "wrote \(kept.count) records to \(out): \(boxes) boxes for \(phrases) phrases of \(pairs.count) captions; "
          + "\(empty) with no box at \(threshold) " + (dropEmpty ? "left out" : "kept as negatives"))
      if let truthRecords {
        let sweep = PseudoLabelScore.sweep(labels, truth: truthRecords, imageRoot: images, from: threshold)
        print(sweep[0].score.summary)
        print("at higher thresholds (the same run's boxes above each):")
        for (minimum, score) in sweep.dropFirst() {
          print(
            String(
              format: "  %.1f: precision %.3f, recall %.3f (%d boxes)", minimum, score.precision, score.recall,
              score.pseudoBoxes))
        }
      }
    }
  }
}
