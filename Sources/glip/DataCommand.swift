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

    @Flag(
      help: """
        Also write web-style image–text pairs for self-training: web_captions.jsonl (captions that name some of \
        the objects, for glip pseudo-label) and web_truth.odvg.jsonl (their boxes, withheld, for scoring \
        pseudo-labels). The other files stay the same.
        """)
    var webCaptions = false

    func run() throws {
      let pairs = try reportingErrors { try SyntheticShapes.holdout(parsing: holdout) }
      try reportingErrors {
        try SyntheticDatasetWriter.write(
          to: out, images: images, seed: seed, size: size, holdout: pairs, webCaptions: webCaptions)
      }
      print(
        "wrote \(images) images to \(out): instances_shapes.json, instances_phrases.json, grounding.odvg.jsonl"
          + (webCaptions ? ", web_captions.jsonl, web_truth.odvg.jsonl" : ""))
      if !pairs.isEmpty { print("held out: " + pairs.sorted().joined(separator: ", ")) }
    }
  }
}
