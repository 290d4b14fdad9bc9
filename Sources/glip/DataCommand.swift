import ArgumentParser
import Datasets
import Foundation

struct DataCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data", abstract: "Datasets.", subcommands: [Synth.self])

  struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Generate synthetic data: the grounding pre-training data, or a downstream transfer task.",
      discussion: """
        Without --task it writes the pre-training data: coloured shapes with two COCO files \
        (instances_shapes.json, instances_phrases.json) and referring-expression captions \
        (grounding.odvg.jsonl). --task NAME writes a transfer task instead: images/ and instances.json, a COCO \
        detection file whose category names are the task's words (the prompt). photo_backgrounds needs \
        --backgrounds DIR, a folder of PNG or JPEG photos; scripts/sample-photos.sh DIR writes six. \
        --list-tasks prints each task with what it brings.
        """)

    @Option(help: "Output directory.")
    var out: String?

    @Option(help: "Number of images.")
    var images: Int?

    @Option(help: "Random seed (the same seed gives the same files).")
    var seed: UInt64 = 0

    @Option(help: "Image side in pixels.")
    var size: Int = 320

    @Option(
      help: ArgumentHelp(
        "What to write: "
          + ([SyntheticTasks.pretraining] + SyntheticTasks.all.map { $0.name }).joined(separator: ", ")
          + " (--list-tasks says what each brings).",
        valueName: "name"))
    var task: String = SyntheticTasks.pretraining

    @Option(
      help: ArgumentHelp(
        """
        A folder of PNG or JPEG photos to draw on, for --task photo_backgrounds (scripts/sample-photos.sh DIR \
        writes six).
        """, valueName: "dir"))
    var backgrounds: String?

    @Flag(help: "List the tasks, one line each, and exit.")
    var listTasks = false

    @Option(
      help: """
        Colour–shape pairs never drawn and left out of instances_phrases.json's categories, e.g. "red circle,blue \
        star" (for compositional tests: hold them out of the training split, keep them in the validation split). \
        Pre-training data only.
        """)
    var holdout: String = ""

    @Flag(
      help: """
        Also write web-style image–text pairs for self-training: web_captions.jsonl (captions that name some of \
        the objects, for glip pseudo-label) and web_truth.odvg.jsonl (their boxes, withheld, for scoring \
        pseudo-labels). The other files stay the same. Pre-training data only.
        """)
    var webCaptions = false

    func validate() throws {
      guard !listTasks else { return }
      guard out != nil else { throw ValidationError("Missing expected argument '--out <out>'") }
      guard images != nil else { throw ValidationError("Missing expected argument '--images <images>'") }
      if task != SyntheticTasks.pretraining {
        do {
          _ = try SyntheticTasks.named(task)
        } catch {
          throw ValidationError("\(error)")
        }
        if !holdout.isEmpty {
          throw ValidationError("--holdout applies only to the pre-training data, not to --task \(task)")
        }
        if webCaptions {
          throw ValidationError("--web-captions applies only to the pre-training data, not to --task \(task)")
        }
      } else if let backgrounds {
        throw ValidationError("--backgrounds \(backgrounds) applies only to --task \(PhotoBackgroundsTask.name)")
      }
    }

    func run() throws {
      if listTasks {
        print(SyntheticTasks.listing)
        return
      }
      guard let out, let images else { return }  // validate() requires both
      guard task == SyntheticTasks.pretraining else {
        let transfer = try reportingErrors {
          let transfer = try SyntheticTasks.make(name: task, size: size, backgrounds: backgrounds)
          try SyntheticTaskWriter.write(transfer, to: out, images: images, seed: seed)
          return transfer
        }
        print(
          "wrote \(images) images of task \(task) to \(out): \(SyntheticTaskWriter.annotationFile) with "
            + "\(transfer.categories.count) categories: " + transfer.categories.joined(separator: ", "))
        return
      }
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
