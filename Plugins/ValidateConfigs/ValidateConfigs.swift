import Foundation
import PackagePlugin

/// `swift package validate-configs`: runs `glip config check` on every top-level config under configs/.
/// `_base_/` fragments are checked through the configs that use them; `remaps/` tables against their own schema.
@main
struct ValidateConfigs: CommandPlugin {
  func performCommand(context: PluginContext, arguments: [String]) async throws {
    let glip = try context.tool(named: "glip")
    let configs = context.package.directoryURL.appendingPathComponent("configs")
    let files = try topLevelConfigs(in: configs)
    guard !files.isEmpty else {
      Diagnostics.error("no configs found under \(configs.path)")
      return
    }
    let process = Process()
    process.executableURL = glip.url
    process.arguments = ["config", "check"] + files + arguments
    process.currentDirectoryURL = context.package.directoryURL
    try process.run()
    process.waitUntilExit()
    if process.terminationStatus != 0 {
      Diagnostics.error("config validation failed (glip exited with \(process.terminationStatus))")
    } else {
      print("validated \(files.count) configs")
    }
  }

  private func topLevelConfigs(in directory: URL) throws -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: directory.path) else { return [] }
    return enumerator.compactMap { $0 as? String }
      .filter { $0.hasSuffix(".yaml") && !$0.hasPrefix("_base_/") }
      .sorted()
      .map { "configs/" + $0 }
  }
}
