import ArgumentParser
import Config
import Detection
import Experiments
import Foundation
import TensorCore

struct ConvertToGroundingCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "convert-to-grounding",
    abstract:
      "Carry a detector checkpoint over to its grounding variant: everything but the classifier and text encoder.")

  @Option(help: "The grounding model's config (the detector's config with classifier: alignment and a text encoder).")
  var config: String

  @Option(help: "The detector checkpoint (.safetensors with detector keys).")
  var checkpoint: String

  @Option(help: "Output .safetensors for the grounding model.")
  var out: String

  func run() throws {
    try reportingErrors {
      let grounding = try CheckedExperiment(try LoadedConfig(path: config)).detector
      let detector = try SafetensorsFile.read(path: checkpoint)
      let (state, skipped) = try GroundingConversion.convert(detectorState: detector.tensors, into: grounding)
      try SafetensorsFile(tensors: state, metadata: ["source": checkpoint, "config": config]).write(path: out)
      print(
        "wrote \(out): \(state.count) tensors carried over; skipped \(skipped.count): \(skipped.joined(separator: ", "))"
      )
    }
  }
}
