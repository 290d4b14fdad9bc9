import ArgumentParser
import Foundation
import Imaging
import Training

struct PredictCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "predict",
    abstract: "Ground a prompt's phrases in an image and write the image with labelled boxes.")

  @OptionGroup var model: ModelSourceOptions

  @Option(help: "A PNG or JPEG image.")
  var image: String

  @Option(help: "Phrases separated by '.', e.g. \"red circle. blue square\".")
  var prompt: String

  @Option(help: "Annotated PNG to write.")
  var out: String

  @Option(help: "Draw and list detections scoring at least this.")
  var threshold: Float = 0.3

  @Flag(help: "Print the detections as JSON lines.")
  var json = false

  func run() throws {
    let (_, experiment) = try model.load()
    try reportingErrors {
      let predictor = try Predictor(detector: experiment.detector, imageSize: experiment.data.imageSize)
      let phrases = Predictor.prompt(fromPhrases: prompt)
      guard !phrases.phraseSpans.isEmpty else { throw ValidationError("--prompt has no phrases") }
      let photo = try ImageIO.read(path: image)
      let kept = predictor.detect(photo, prompt: phrases).filter { $0.score >= threshold }
      for detection in kept {
        let box = detection.box.map { String(format: "%.1f", $0) }.joined(separator: ", ")
        let score = String(format: "%.4f", detection.score)
        print(
          json
            ? "{\"phrase\": \"\(detection.phrase.replacingOccurrences(of: "\"", with: "\\\""))\", \"score\": \(score), \"box\": [\(box)]}"
            : "\(score)  \(detection.phrase)  [\(box)]")
      }
      try ImageIO.writePNG(Predictor.annotate(photo, kept, threshold: threshold), path: out)
      printError("wrote \(out) with \(kept.count) boxes")
    }
  }
}
