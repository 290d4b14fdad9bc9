import ArgumentParser
import Config
import Detection
import Experiments
import Foundation
import Reporting

/// Options shared by commands that read a config: the file and `--set` overrides.
struct ConfigOptions: ParsableArguments {
  @Argument(help: "A YAML config file.")
  var config: String

  @Option(name: .customLong("set"), help: "Override a key: --set model.head.blocks=4 (repeatable).")
  var overrides: [String] = []

  func load() throws -> LoadedConfig {
    let loaded = try reportingErrors { try LoadedConfig(path: config, overrides: overrides) }
    for note in loaded.notes { printError("note: \(note)") }
    return loaded
  }
}

func printError(_ message: String) {
  FileHandle.standardError.write((message + "\n").data(using: .utf8)!)
}

/// Runs `body`; config and registry errors are printed one per line and turn into exit code 1.
func reportingErrors<Result>(_ body: () throws -> Result) throws -> Result {
  do {
    return try body()
  } catch let error as ConfigErrors {
    for item in error.errors { printError("error: \(item)") }
    throw ExitCode.failure
  } catch let error as ExitCode {
    throw error
  } catch {
    printError("error: \(describe(error))")
    throw ExitCode.failure
  }
}

/// An error as one line for the user. Foundation's file errors (an output path that is a file, a directory without
/// write permission) become "path: reason" instead of an NSError dump.
func describe(_ error: Error) -> String {
  let nsError = error as NSError
  guard nsError.domain == NSCocoaErrorDomain else { return "\(error)" }
  let path = (nsError.userInfo[NSFilePathErrorKey] as? String) ?? (nsError.userInfo[NSURLErrorKey] as? URL)?.path
  let underlying = (nsError.userInfo[NSUnderlyingErrorKey] as? NSError).map { error -> String in
    error.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32(error.code))) : error.localizedDescription
  }
  let reason = underlying ?? path.flatMap(fileInTheWay) ?? nsError.localizedDescription
  return path.map { "\($0): \(reason)" } ?? reason
}

/// Why a path cannot be created when Foundation does not say: an existing file where a directory is needed.
private func fileInTheWay(_ path: String) -> String? {
  var candidate = URL(fileURLWithPath: path)
  while candidate.path != "/" {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: candidate.path, isDirectory: &isDirectory) {
      return isDirectory.boolValue ? nil : "\(candidate.path) is a file, not a directory"
    }
    candidate.deleteLastPathComponent()
  }
  return nil
}

struct ConfigCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config", abstract: "Show, check and document configs.",
    subcommands: [Show.self, Check.self, Docs.self])

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print the fully resolved config (bases merged, overrides applied).")
    @OptionGroup var options: ConfigOptions

    func run() throws {
      print(YAMLEmitter.emit(try options.load().root), terminator: "")
    }
  }

  struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Parse, resolve and assemble configs from shapes; report every problem with its position.")
    @Argument(help: "Config files to check.")
    var configs: [String]
    @Option(name: .customLong("set"), help: "Override a key in every config checked (repeatable).")
    var overrides: [String] = []

    func run() throws {
      var failures = 0
      for path in configs {
        do {
          try reportingErrors {
            if path.contains("remaps/") {
              let table = try RemapTable(file: path)
              print(
                "ok  \(path)  (remap table: \(table.renames.count) renames, \(table.ignore.count) ignored patterns)")
            } else if AblationPlan.isAblation(path) {
              let variants = try AblationPlan(configPath: path, overrides: overrides).check()
              print(
                "ok  \(path)  (ablation: "
                  + variants.map { "\($0.variant.name) \($0.parameters)" }.joined(separator: ", ") + ")")
            } else {
              let experiment = try CheckedExperiment(try LoadedConfig(path: path, overrides: overrides))
              print("ok  \(path)  (\(experiment.detector.parameterCount) parameters)")
            }
          }
        } catch {
          failures += 1
          printError("FAIL \(path)")
        }
      }
      if failures > 0 { throw ExitCode.failure }
    }
  }

  struct Docs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the config reference (docs/CONFIG.md).")
    func run() { print(ConfigDocumentation.markdown(), terminator: "") }
  }
}
