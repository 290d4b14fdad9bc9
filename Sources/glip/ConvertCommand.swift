import ArgumentParser
import Detection
import Foundation
import NN
import TensorCore

struct ConvertCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "convert",
    abstract: "Convert a PyTorch checkpoint (.pth/.pt, zip or legacy) to safetensors through a remap table.")

  @Option(help: "The PyTorch checkpoint.")
  var from: String

  @Option(help: "A remap table (configs/remaps/*.yaml).")
  var remap: String?

  @Option(help: "Prefix added to every mapped key, e.g. 'backbone.'.")
  var prefix: String = ""

  @Option(help: "Output .safetensors file.")
  var out: String

  func run() throws {
    try reportingErrors {
      let tensors = PyTorchCheckpoint.stateDict(from: try PyTorchCheckpoint.read(path: from))
      let table = try remap.map { try RemapTable(file: $0) }
      let (mapped, ignored) = try table?.apply(tensors) ?? (tensors, [])
      let prefixed = Dictionary(uniqueKeysWithValues: mapped.map { (prefix + $0.key, $0.value) })
      try SafetensorsFile(tensors: prefixed, metadata: ["source": from, "remap": remap ?? "none"]).write(path: out)
      let total = prefixed.values.reduce(0) { $0 + $1.count }
      print("wrote \(out): \(prefixed.count) tensors, \(total) values; ignored \(ignored.count) keys")
      if !ignored.isEmpty { print("ignored: " + ignored.joined(separator: ", ")) }
    }
  }
}
