import ArgumentParser
import Detection
import Experiments

struct InspectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inspect",
    abstract: "Assemble a config from shapes alone and print the module tree, per-slot parameter counts and outputs.")

  @OptionGroup var options: ConfigOptions

  @Flag(help: "Print machine-readable JSON.")
  var json = false

  func run() throws {
    let loaded = try options.load()
    let inspection = try reportingErrors { Inspection(try CheckedExperiment(loaded).detector) }
    print(json ? inspection.json : inspection.text)
  }
}
