import ArgumentParser
import Foundation
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
      TrainCommand.self, PredictCommand.self, PhrasesCommand.self, PseudoLabelCommand.self, AblateCommand.self,
      ReportCommand.self,
      BenchCommand.self,
    ])

  /// Runs the command line; a Foundation file error that reaches here is printed as "path: reason" (see `describe`)
  /// rather than as an NSError dump.
  static func main() {
    if let problem = environmentProblem(ProcessInfo.processInfo.environment) {
      printError("error: \(problem)")
      exit(withError: ExitCode.failure)
    }
    BLAS.configure()
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch  where (error as NSError).domain == NSCocoaErrorDomain {
      printError("error: \(describe(error))")
      exit(withError: ExitCode.failure)
    } catch {
      exit(withError: error)
    }
  }
}

/// A mistyped tuning variable is an error rather than a silent default: `GLIP_CONV_BACKEND` and `GLIP_GEMM_BACKEND`
/// must be auto, own or onednn, `GLIP_ONEDNN_LAYOUT` chained, layer or plain, `GLIP_BUFFER_POOL_MB` a whole number
/// of megabytes.
func environmentProblem(_ environment: [String: String]) -> String? {
  if let problem = KernelBackend.settings.lazy.compactMap({ $0.problem(in: environment) }).first { return problem }
  if let problem = OneDNNLayoutChoice.problem(in: environment) { return problem }
  if let value = environment["GLIP_BUFFER_POOL_MB"], Int(value).map({ $0 >= 0 }) != true {
    return "GLIP_BUFFER_POOL_MB=\(value): expected a whole number of megabytes (0 turns the pool off)"
  }
  return nil
}

enum ToolkitVersion {
  static let string = "0.1.0"
}

struct VersionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "version", abstract: "Print the toolkit version and the OpenBLAS kernel in use.")

  func run() {
    print("glip \(ToolkitVersion.string)")
    print("OpenBLAS kernel: \(OpenBLASKernel.selection.summary), products split over \(Parallel.coreCount) threads")
  }
}
