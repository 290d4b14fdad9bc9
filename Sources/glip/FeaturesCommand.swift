import ArgumentParser
import Config
import Detection
import Experiments
import Foundation
import Imaging
import NN
import TensorCore

struct FeaturesCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "features",
    abstract: "Run a config's backbone (and neck) on an image; write each level as level_<stride> in safetensors.")

  @Option(help: "A YAML config with a model section.")
  var config: String

  @Option(name: .customLong("set"), help: "Override a key (repeatable).")
  var overrides: [String] = []

  @Option(help: "Backbone weights (.pth or .safetensors), replacing model.backbone.weights.")
  var weights: String?

  @Option(help: "A PNG or JPEG image.")
  var image: String

  @Option(help: "Resize so the shorter side has this many pixels (GLIP's rule; default: keep the size).")
  var shorterSide: Int?

  @Option(help: "Output .safetensors file.")
  var out: String

  func run() throws {
    try reportingErrors {
      var extra = overrides
      if let weights { extra.append("model.backbone.weights=\(weights)") }
      let loaded = try LoadedConfig(path: config, overrides: extra)
      for note in loaded.notes { printError("note: \(note)") }
      let detector = try CheckedExperiment(loaded, shapesOnly: false).detector
      detector.eval()
      let photo = try ImageIO.read(path: image)
      var input = ImageTransforms.tensor(photo, format: detector.pixelFormat)
      if let shorterSide {
        let size = ImageTransforms.shorterSideSize(
          width: photo.width, height: photo.height, shorter: shorterSide, maxSize: nil)
        input = ImageTransforms.resize(input, height: size.height, width: size.width)
      }
      let levels = withNoGrad { detector.imageFeatures(input.unsqueezed(0)) }
      let specs = detector.neck?.outputSpecs ?? detector.backbone.outputSpecs
      var tensors: [String: Tensor] = [:]
      for (spec, level) in zip(specs, levels) { tensors["level_\(spec.stride)"] = level }
      try SafetensorsFile(tensors: tensors, metadata: ["config": config, "image": image]).write(path: out)
      print("wrote \(out): " + zip(specs, levels).map { "level_\($0.stride) \($1.shape)" }.joined(separator: ", "))
    }
  }
}
