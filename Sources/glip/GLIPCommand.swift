import ArgumentParser
import TensorCore

@main
struct GLIPCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "glip",
    abstract: "Grounded language-image detection (GLIP) on the CPU, in Swift.",
    version: ToolkitVersion.string,
    subcommands: [
      VersionCommand.self, ConfigCommand.self, InspectCommand.self, TokenizeCommand.self, EncodeTextCommand.self,
      FeaturesCommand.self, ConvertCommand.self, ConvertToGroundingCommand.self, EvalCommand.self, DataCommand.self,
      TrainCommand.self, PredictCommand.self, AblateCommand.self, ReportCommand.self,
      BenchCommand.self,
    ])
}

enum ToolkitVersion {
  static let string = "0.1.0"
}

struct VersionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "version", abstract: "Print the toolkit version and the OpenBLAS kernel in use.")

  func run() {
    print("glip \(ToolkitVersion.string)")
    print("OpenBLAS kernel: \(BLAS.coreName), products split over \(Parallel.coreCount) threads")
  }
}
