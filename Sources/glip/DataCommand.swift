import ArgumentParser
import Datasets
import Foundation

struct DataCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data", abstract: "Datasets.", subcommands: [Synth.self])

  struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Generate the synthetic grounding dataset (shapes, colours, referring-expression captions).")

    @Option(help: "Output directory.")
    var out: String

    @Option(help: "Number of images.")
    var images: Int

    @Option(help: "Random seed (the same seed gives the same files).")
    var seed: UInt64 = 0

    @Option(help: "Image side in pixels.")
    var size: Int = 320

    @Option(
      help: """
        Colour–shape pairs never drawn, e.g. "red circle,blue star" (for compositional tests: hold them out of \
        the training split, keep them in the validation split).
        """)
    var holdout: String = ""

    func run() throws {
      let pairs = try reportingErrors { try SyntheticShapes.holdout(parsing: holdout) }
      try reportingErrors {
        try SyntheticDatasetWriter.write(to: out, images: images, seed: seed, size: size, holdout: pairs)
      }
      print("wrote \(images) images to \(out): instances_shapes.json, instances_phrases.json, grounding.odvg.jsonl")
      if !pairs.isEmpty { print("held out: " + pairs.sorted().joined(separator: ", ")) }
    }
  }
}
